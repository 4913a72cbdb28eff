//! Device rules -> a BPF_PROG_TYPE_CGROUP_DEVICE program.
//!
//! The context is `struct bpf_cgroup_dev_ctx { u32 access_type; u32 major; u32 minor; }`
//! where `access_type = access << 16 | type`. The program checks the rules from last to
//! first and returns the verdict of the first match (so the last matching rule wins, as on
//! v1); nothing matching means deny.

use super::insn::{self, Insn};
use crate::devices::{Access, Kind, Rule};

const BPF_DEVCG_ACC_MKNOD: i32 = 1;
const BPF_DEVCG_ACC_READ: i32 = 2;
const BPF_DEVCG_ACC_WRITE: i32 = 4;
const BPF_DEVCG_DEV_BLOCK: i32 = 1;
const BPF_DEVCG_DEV_CHAR: i32 = 2;

// Registers: r1 = ctx, r2 = type, r3 = access, r4 = major, r5 = minor, r6 = scratch.
const R_TYPE: u8 = 2;
const R_ACCESS: u8 = 3;
const R_MAJOR: u8 = 4;
const R_MINOR: u8 = 5;
const R_SCRATCH: u8 = 6;

fn access_bits(a: Access) -> i32 {
    let mut bits = 0;
    if a.mknod {
        bits |= BPF_DEVCG_ACC_MKNOD;
    }
    if a.read {
        bits |= BPF_DEVCG_ACC_READ;
    }
    if a.write {
        bits |= BPF_DEVCG_ACC_WRITE;
    }
    bits
}

/// Placeholder offset for "skip to the next rule", fixed once the block length is known.
const NEXT: i16 = i16::MIN;

fn rule_block(r: &Rule) -> Vec<Insn> {
    let mut b = Vec::new();
    match r.kind {
        Kind::All => {}
        Kind::Block => b.push(insn::jne_imm(R_TYPE, BPF_DEVCG_DEV_BLOCK, NEXT)),
        Kind::Char => b.push(insn::jne_imm(R_TYPE, BPF_DEVCG_DEV_CHAR, NEXT)),
    }
    if r.access != Access::ALL {
        b.push(insn::mov32_reg(R_SCRATCH, R_ACCESS));
        b.push(insn::and32_imm(R_SCRATCH, access_bits(r.access)));
        if r.allow {
            // An allow rule grants a request only if it covers every requested bit.
            b.push(insn::jne_reg(R_SCRATCH, R_ACCESS, NEXT));
        } else {
            // A deny rule refuses a request asking for any of its bits.
            b.push(insn::jeq_imm(R_SCRATCH, 0, NEXT));
        }
    }
    if let Some(major) = r.major {
        b.push(insn::jne_imm(R_MAJOR, major as i32, NEXT));
    }
    if let Some(minor) = r.minor {
        b.push(insn::jne_imm(R_MINOR, minor as i32, NEXT));
    }
    b.push(insn::mov64_imm(0, i32::from(r.allow)));
    b.push(insn::exit());
    let len = b.len();
    for (i, ins) in b.iter_mut().enumerate() {
        if ins.off == NEXT {
            // Jump to the first instruction after this block.
            ins.off = (len - i - 1) as i16;
        }
    }
    b
}

/// The whole program for `rules` (default deny).
pub fn build(rules: &[Rule]) -> Vec<Insn> {
    let mut p = vec![
        insn::ldx_w(R_TYPE, 1, 0),
        insn::and32_imm(R_TYPE, 0xffff),
        insn::ldx_w(R_ACCESS, 1, 0),
        insn::rsh32_imm(R_ACCESS, 16),
        insn::ldx_w(R_MAJOR, 1, 4),
        insn::ldx_w(R_MINOR, 1, 8),
    ];
    for r in rules.iter().rev() {
        let block = rule_block(r);
        // A rule that matches everything decides every request: anything after it would be
        // unreachable, which the verifier rejects.
        let unconditional = block.len() == 2;
        p.extend(block);
        if unconditional {
            return p;
        }
    }
    p.push(insn::mov64_imm(0, 0));
    p.push(insn::exit());
    p
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A tiny interpreter for exactly the instructions we emit, so the program logic is
    /// tested without root; the integration tests run it in the kernel.
    pub fn run(prog: &[Insn], typ: u32, access: u32, major: u32, minor: u32) -> u64 {
        let ctx = [(access << 16) | typ, major, minor];
        let mut r = [0u64; 11];
        let mut pc = 0usize;
        loop {
            let i = prog[pc];
            let (d, s) = (i.dst as usize, i.src as usize);
            pc += 1;
            match i.code {
                0x61 => r[d] = u64::from(ctx[(i.off / 4) as usize]),
                0x54 => r[d] = u64::from((r[d] as u32) & (i.imm as u32)),
                0x74 => r[d] = u64::from((r[d] as u32) >> i.imm),
                0xbc => r[d] = u64::from(r[s] as u32),
                0xb7 => r[d] = i.imm as i64 as u64,
                0x55 => {
                    if r[d] != i.imm as i64 as u64 {
                        pc = (pc as i64 + i64::from(i.off)) as usize;
                    }
                }
                0x15 => {
                    if r[d] == i.imm as i64 as u64 {
                        pc = (pc as i64 + i64::from(i.off)) as usize;
                    }
                }
                0x5d => {
                    if r[d] != r[s] {
                        pc = (pc as i64 + i64::from(i.off)) as usize;
                    }
                }
                0x95 => return r[0],
                c => panic!("unexpected opcode {c:#x}"),
            }
        }
    }

    fn rule(allow: bool, kind: Kind, major: Option<u32>, minor: Option<u32>, access: &str) -> Rule {
        Rule {
            allow,
            kind,
            major,
            minor,
            access: Access {
                read: access.contains('r'),
                write: access.contains('w'),
                mknod: access.contains('m'),
            },
        }
    }

    const R: u32 = 2;
    const W: u32 = 4;
    const CHR: u32 = 2;
    const BLK: u32 = 1;

    #[test]
    fn default_deny() {
        let p = build(&[]);
        assert_eq!(run(&p, CHR, R, 1, 3), 0);
    }

    #[test]
    fn last_matching_rule_wins() {
        let p = build(&[
            rule(false, Kind::All, None, None, "rwm"),
            rule(true, Kind::Char, Some(1), Some(3), "rw"),
            rule(true, Kind::Char, Some(136), None, "rwm"),
            rule(false, Kind::Char, Some(136), Some(7), "w"),
        ]);
        assert_eq!(run(&p, CHR, R, 1, 3), 1, "null readable");
        assert_eq!(run(&p, CHR, R | W, 1, 3), 1, "null rw");
        assert_eq!(run(&p, CHR, 1, 1, 3), 0, "null mknod not allowed");
        assert_eq!(run(&p, BLK, R, 1, 3), 0, "block 1:3 is another device");
        assert_eq!(run(&p, CHR, R, 1, 5), 0, "zero not allowed");
        assert_eq!(run(&p, CHR, R | W, 136, 9), 1, "pts wildcard minor");
        assert_eq!(run(&p, CHR, W, 136, 7), 0, "later deny wins for write");
        assert_eq!(run(&p, CHR, R, 136, 7), 1, "read still allowed");
        assert_eq!(run(&p, CHR, R | W, 136, 7), 0, "rw asks for the denied w");
    }

    #[test]
    fn nothing_follows_a_catch_all_rule() {
        let p = build(&[
            rule(true, Kind::Char, Some(1), Some(3), "rwm"),
            rule(false, Kind::All, None, None, "rwm"),
        ]);
        // preamble (6) + the catch-all block (2): the earlier rule is dead and not emitted.
        assert_eq!(p.len(), 8);
        assert_eq!(run(&p, CHR, R, 1, 3), 0);
    }

    #[test]
    fn allow_all_then_deny_one() {
        let p = build(&[
            rule(true, Kind::All, None, None, "rwm"),
            rule(false, Kind::Char, Some(1), Some(3), "rwm"),
        ]);
        assert_eq!(run(&p, CHR, R, 1, 3), 0);
        assert_eq!(run(&p, BLK, R | W, 8, 0), 1);
    }
}
