//! Classic BPF for seccomp, written here because no crate covers it: an interpreter (to
//! ask a compiled filter what it does with a syscall before loading it, e.g. whether the
//! container could still `execve`), and the `-ENOSYS` stub runc prepends to filters.
//!
//! The stub: with a denying default action, a syscall newer than every syscall the
//! profile names (per architecture) gets `ENOSYS` instead of the default errno, so
//! programs fall back as on an older kernel (glibc tries clone3, faccessat2, fchmodat2
//! ... and falls back only on ENOSYS). Like runc's, it compares with the largest number
//! the profile names, which can misjudge syscalls added out of order (close_range).

use berth_sys::process::SockFilter;

// Instruction classes, sizes, modes and operations (include/uapi/linux/filter.h).
const LD: u16 = 0x00;
const LDX: u16 = 0x01;
const ST: u16 = 0x02;
const STX: u16 = 0x03;
const ALU: u16 = 0x04;
const JMP: u16 = 0x05;
const RET: u16 = 0x06;
const MISC: u16 = 0x07;
const W: u16 = 0x00;
const IMM: u16 = 0x00;
const ABS: u16 = 0x20;
const MEM: u16 = 0x60;
const LEN: u16 = 0x80;
const K: u16 = 0x00;
const X: u16 = 0x08;
const JA: u16 = 0x00;
const JEQ: u16 = 0x10;
const JGT: u16 = 0x20;
const JGE: u16 = 0x30;
const JSET: u16 = 0x40;
const RET_A: u16 = 0x10;

/// `SECCOMP_RET_ERRNO | ENOSYS`.
pub const RET_ENOSYS: u32 = 0x0005_0000 | libc::ENOSYS as u32;
/// `SECCOMP_RET_ACTION_FULL`: the action part of a filter's return value.
pub const RET_ACTION_FULL: u32 = 0xffff_0000;
/// `AUDIT_ARCH_X86_64`: also the architecture of x32 syscalls, which set bit 30 of nr.
pub const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
/// `__X32_SYSCALL_BIT`.
pub const X32_SYSCALL_BIT: u32 = 0x4000_0000;

/// `struct seccomp_data`: what a filter sees of a syscall.
#[derive(Clone, Copy, Debug, Default)]
pub struct SeccompData {
    pub nr: i32,
    pub arch: u32,
    pub instruction_pointer: u64,
    pub args: [u64; 6],
}

impl SeccompData {
    /// The 32-bit word at byte offset `off`, as a BPF `ld [off]` reads it.
    fn word(&self, off: u32) -> Option<u32> {
        let mut bytes = [0u8; 64];
        bytes[0..4].copy_from_slice(&self.nr.to_ne_bytes());
        bytes[4..8].copy_from_slice(&self.arch.to_ne_bytes());
        bytes[8..16].copy_from_slice(&self.instruction_pointer.to_ne_bytes());
        for (i, a) in self.args.iter().enumerate() {
            bytes[16 + 8 * i..24 + 8 * i].copy_from_slice(&a.to_ne_bytes());
        }
        let off = off as usize;
        if !off.is_multiple_of(4) || off + 4 > bytes.len() {
            return None;
        }
        Some(u32::from_ne_bytes([
            bytes[off],
            bytes[off + 1],
            bytes[off + 2],
            bytes[off + 3],
        ]))
    }
}

/// Run `prog` on `data` as the kernel would; `None` if the program is malformed (bad
/// opcode, jump or load out of range, division by zero, or falling off its end).
pub fn evaluate(prog: &[SockFilter], data: &SeccompData) -> Option<u32> {
    let (mut a, mut x) = (0u32, 0u32);
    let mut mem = [0u32; 16];
    let mut pc = 0usize;
    while let Some(i) = prog.get(pc) {
        pc += 1;
        let code = i.code;
        match code & 0x07 {
            LD | LDX => {
                let v = match code & 0xe0 {
                    IMM => i.k,
                    ABS if code & 0x18 == W && code & 0x07 == LD => data.word(i.k)?,
                    MEM => *mem.get(i.k as usize)?,
                    LEN => 64,
                    _ => return None,
                };
                if code & 0x07 == LD {
                    a = v;
                } else {
                    x = v;
                }
            }
            ST => *mem.get_mut(i.k as usize)? = a,
            STX => *mem.get_mut(i.k as usize)? = x,
            ALU => {
                let src = if code & X != 0 { x } else { i.k };
                a = match code & 0xf0 {
                    0x00 => a.wrapping_add(src),
                    0x10 => a.wrapping_sub(src),
                    0x20 => a.wrapping_mul(src),
                    0x30 => a.checked_div(src)?,
                    0x40 => a | src,
                    0x50 => a & src,
                    0x60 => a.checked_shl(src).unwrap_or(0),
                    0x70 => a.checked_shr(src).unwrap_or(0),
                    0x80 => a.wrapping_neg(),
                    0x90 => a.checked_rem(src)?,
                    0xa0 => a ^ src,
                    _ => return None,
                };
            }
            JMP => {
                let src = if code & X != 0 { x } else { i.k };
                let taken = match code & 0xf0 {
                    JA => {
                        pc = pc.checked_add(i.k as usize)?;
                        continue;
                    }
                    JEQ => a == src,
                    JGT => a > src,
                    JGE => a >= src,
                    JSET => a & src != 0,
                    _ => return None,
                };
                pc += usize::from(if taken { i.jt } else { i.jf });
            }
            RET => {
                return match code & 0x18 {
                    K => Some(i.k),
                    RET_A => Some(a),
                    _ => None,
                }
            }
            MISC => {
                if code & 0xf8 == 0x80 {
                    a = x; // TXA
                } else {
                    x = a; // TAX
                }
            }
            _ => return None,
        }
    }
    None
}

/// The largest syscall number a profile names, per audit architecture: `native` for the
/// ordinary ABI and, on x86-64, `x32` for x32 numbers (which include bit 30).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LastSyscall {
    pub audit_arch: u32,
    pub native: Option<u32>,
    pub x32: Option<u32>,
}

enum Insn {
    Op(SockFilter),
    Jump {
        code: u16,
        k: u32,
        jt: usize,
        jf: usize,
    },
    Always(usize),
    Label(usize),
}

fn stmt(code: u16, k: u32) -> Insn {
    Insn::Op(SockFilter {
        code,
        jt: 0,
        jf: 0,
        k,
    })
}

/// Resolve labels: jumps are relative to the next instruction.
fn assemble(insns: &[Insn], labels: usize) -> Option<Vec<SockFilter>> {
    let mut at = vec![usize::MAX; labels];
    let mut pos = 0;
    for i in insns {
        match i {
            Insn::Label(l) => at[*l] = pos,
            _ => pos += 1,
        }
    }
    let mut out = Vec::with_capacity(pos);
    for i in insns {
        let here = out.len() + 1;
        let rel = |l: usize| at.get(l).and_then(|t| t.checked_sub(here));
        match i {
            Insn::Label(_) => {}
            Insn::Op(f) => out.push(*f),
            Insn::Jump { code, k, jt, jf } => out.push(SockFilter {
                code: *code,
                jt: u8::try_from(rel(*jt)?).ok()?,
                jf: u8::try_from(rel(*jf)?).ok()?,
                k: *k,
            }),
            Insn::Always(l) => out.push(SockFilter {
                code: JMP | JA,
                jt: 0,
                jf: 0,
                k: u32::try_from(rel(*l)?).ok()?,
            }),
        }
    }
    Some(out)
}

/// The `-ENOSYS` stub to put in front of a filter: for each architecture, syscalls above
/// the largest one the profile names return ENOSYS; everything else (and every other
/// architecture) falls through to the filter. `None` if no architecture has a number.
pub fn enosys_stub(last: &[LastSyscall]) -> Option<Vec<SockFilter>> {
    let last: Vec<&LastSyscall> = last
        .iter()
        .filter(|l| l.native.is_some() || l.x32.is_some())
        .collect();
    if last.is_empty() {
        return None;
    }
    // Label 0 is the start of the filter; each section allocates three more.
    let mut labels = 1;
    let mut new_label = || {
        labels += 1;
        labels - 1
    };
    const FILTER: usize = 0;
    let mut p = vec![stmt(LD | W | ABS, 4)];
    for l in last {
        let (body, next, enosys, to_filter) = (new_label(), new_label(), new_label(), new_label());
        let (native_check, x32_check) = (new_label(), new_label());
        p.push(Insn::Jump {
            code: JMP | JEQ | K,
            k: l.audit_arch,
            jt: body,
            jf: next,
        });
        p.push(Insn::Label(body));
        p.push(stmt(LD | W | ABS, 0));
        if l.audit_arch == AUDIT_ARCH_X86_64 {
            // Bit 30 tells x32 syscalls from x86-64 ones; an ABI the profile does not
            // cover goes straight to the filter.
            p.push(Insn::Jump {
                code: JMP | JSET | K,
                k: X32_SYSCALL_BIT,
                jt: if l.x32.is_some() {
                    x32_check
                } else {
                    to_filter
                },
                jf: if l.native.is_some() {
                    native_check
                } else {
                    to_filter
                },
            });
        }
        for (label, max) in [(native_check, l.native), (x32_check, l.x32)] {
            if let Some(max) = max {
                p.push(Insn::Label(label));
                p.push(Insn::Jump {
                    code: JMP | JGT | K,
                    k: max,
                    jt: enosys,
                    jf: to_filter,
                });
            }
        }
        p.push(Insn::Label(to_filter));
        p.push(Insn::Always(FILTER));
        p.push(Insn::Label(enosys));
        p.push(stmt(RET | K, RET_ENOSYS));
        p.push(Insn::Label(next));
    }
    p.push(Insn::Label(FILTER));
    assemble(&p, labels)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALLOW: u32 = 0x7fff_0000;
    const EPERM: u32 = 0x0005_0001;
    const AUDIT_ARCH_I386: u32 = 0x4000_0003;

    /// A stand-in for a libseccomp filter: x86-64 only; allow nr 1, else EPERM.
    fn filter() -> Vec<SockFilter> {
        let f = |code, jt, jf, k| SockFilter { code, jt, jf, k };
        vec![
            f(LD | W | ABS, 0, 0, 4),
            f(JMP | JEQ | K, 1, 0, AUDIT_ARCH_X86_64),
            f(RET | K, 0, 0, 0), // kill on other arches
            f(LD | W | ABS, 0, 0, 0),
            f(JMP | JEQ | K, 0, 1, 1),
            f(RET | K, 0, 0, ALLOW),
            f(RET | K, 0, 0, EPERM),
        ]
    }

    fn run(prog: &[SockFilter], arch: u32, nr: u32) -> u32 {
        let d = SeccompData {
            nr: nr as i32,
            arch,
            ..Default::default()
        };
        evaluate(prog, &d).unwrap()
    }

    #[test]
    fn interpreter_runs_a_filter() {
        let f = filter();
        assert_eq!(run(&f, AUDIT_ARCH_X86_64, 1), ALLOW);
        assert_eq!(run(&f, AUDIT_ARCH_X86_64, 2), EPERM);
        assert_eq!(run(&f, AUDIT_ARCH_I386, 1), 0);
    }

    #[test]
    fn interpreter_reads_arguments_and_masks() {
        let f = |code, jt, jf, k| SockFilter { code, jt, jf, k };
        // ERRNO when (args[1] low word & 0o002) == 0o002.
        let prog = vec![
            f(LD | W | ABS, 0, 0, 24),
            f(ALU | 0x50 | K, 0, 0, 0o002),
            f(JMP | JEQ | K, 0, 1, 0o002),
            f(RET | K, 0, 0, EPERM),
            f(RET | K, 0, 0, ALLOW),
        ];
        let mut d = SeccompData::default();
        d.args[1] = 0o757;
        assert_eq!(evaluate(&prog, &d), Some(EPERM));
        d.args[1] = 0o750;
        assert_eq!(evaluate(&prog, &d), Some(ALLOW));
        // Falling off the end and bad loads are malformed.
        assert_eq!(evaluate(&prog[..2], &d), None);
        assert_eq!(evaluate(&[f(LD | W | ABS, 0, 0, 64)], &d), None);
    }

    #[test]
    fn stub_returns_enosys_above_the_last_syscall_only() {
        let last = [LastSyscall {
            audit_arch: AUDIT_ARCH_X86_64,
            native: Some(100),
            x32: None,
        }];
        let mut prog = enosys_stub(&last).unwrap();
        prog.extend(filter());
        assert_eq!(run(&prog, AUDIT_ARCH_X86_64, 1), ALLOW);
        assert_eq!(run(&prog, AUDIT_ARCH_X86_64, 100), EPERM);
        assert_eq!(run(&prog, AUDIT_ARCH_X86_64, 101), RET_ENOSYS);
        assert_eq!(run(&prog, AUDIT_ARCH_X86_64, 450), RET_ENOSYS);
        // x32 numbers are not covered by this profile: the filter decides.
        assert_eq!(run(&prog, AUDIT_ARCH_X86_64, X32_SYSCALL_BIT | 500), EPERM);
        // Other architectures fall through to the filter.
        assert_eq!(run(&prog, AUDIT_ARCH_I386, 450), 0);
    }

    #[test]
    fn stub_handles_x32_and_several_architectures() {
        let last = [
            LastSyscall {
                audit_arch: AUDIT_ARCH_I386,
                native: Some(50),
                x32: None,
            },
            LastSyscall {
                audit_arch: AUDIT_ARCH_X86_64,
                native: Some(100),
                x32: Some(X32_SYSCALL_BIT | 200),
            },
        ];
        let mut prog = enosys_stub(&last).unwrap();
        prog.extend(filter());
        assert_eq!(run(&prog, AUDIT_ARCH_I386, 51), RET_ENOSYS);
        assert_eq!(run(&prog, AUDIT_ARCH_I386, 50), 0);
        assert_eq!(run(&prog, AUDIT_ARCH_X86_64, 150), RET_ENOSYS);
        assert_eq!(run(&prog, AUDIT_ARCH_X86_64, X32_SYSCALL_BIT | 150), EPERM);
        assert_eq!(
            run(&prog, AUDIT_ARCH_X86_64, X32_SYSCALL_BIT | 201),
            RET_ENOSYS
        );
        assert!(enosys_stub(&[LastSyscall {
            audit_arch: AUDIT_ARCH_I386,
            native: None,
            x32: None
        }])
        .is_none());
    }
}
