//! Which syscall numbers the `-ENOSYS` stub (see `bpf`) must cover: the largest number
//! the profile names for each architecture of the filter, the native one always included
//! (runc does the same, for profiles that list only foreign architectures).

use libseccomp::{ScmpAction, ScmpArch, ScmpSyscall};
use oci_spec::runtime::{Arch, LinuxSeccomp};

use super::bpf::{self, LastSyscall, AUDIT_ARCH_X86_64};
use super::names;

const ALL_ARCHES: [Arch; 24] = [
    Arch::ScmpArchX86,
    Arch::ScmpArchX86_64,
    Arch::ScmpArchX32,
    Arch::ScmpArchArm,
    Arch::ScmpArchAarch64,
    Arch::ScmpArchMips,
    Arch::ScmpArchMips64,
    Arch::ScmpArchMips64n32,
    Arch::ScmpArchMipsel,
    Arch::ScmpArchMipsel64,
    Arch::ScmpArchMipsel64n32,
    Arch::ScmpArchPpc,
    Arch::ScmpArchPpc64,
    Arch::ScmpArchPpc64le,
    Arch::ScmpArchS390,
    Arch::ScmpArchS390x,
    Arch::ScmpArchParisc,
    Arch::ScmpArchParisc64,
    Arch::ScmpArchRiscv64,
    Arch::ScmpArchLoongarch64,
    Arch::ScmpArchM68k,
    Arch::ScmpArchSh,
    Arch::ScmpArchSheb,
    Arch::ScmpArchNative,
];

/// The OCI name of the architecture this process runs on.
pub fn native_arch() -> Option<Arch> {
    let native = ScmpArch::native();
    ALL_ARCHES
        .into_iter()
        .find(|a| *a != Arch::ScmpArchNative && names::arch(*a) == native)
}

/// The `AUDIT_ARCH_*` value the kernel puts in `seccomp_data.arch` for `a` (the OCI
/// values are libseccomp's, which are the audit ones except for the x32 pseudo-arch).
pub fn audit_arch(a: Arch) -> Option<u32> {
    match a {
        Arch::ScmpArchNative => native_arch().and_then(audit_arch),
        Arch::ScmpArchX32 => Some(AUDIT_ARCH_X86_64),
        other => Some(other as u32),
    }
}

/// Whether the stub applies: only a denying default action hides new syscalls, and a
/// default of ERRNO(ENOSYS) already does what the stub would.
pub fn wanted(default: ScmpAction) -> bool {
    !matches!(
        default,
        ScmpAction::Allow | ScmpAction::Log | ScmpAction::Trace(_)
    ) && default != ScmpAction::Errno(libc::ENOSYS)
}

/// The largest syscall number named in `s` for each architecture of the filter.
pub fn last_syscalls(s: &LinuxSeccomp) -> Vec<LastSyscall> {
    let mut arches: Vec<Arch> = s.architectures().clone().unwrap_or_default();
    arches.extend(native_arch());
    let names: Vec<&String> = s
        .syscalls()
        .iter()
        .flatten()
        .flat_map(|r| r.names())
        .collect();
    let mut out: Vec<LastSyscall> = Vec::new();
    for a in arches {
        let (Some(audit), scmp) = (audit_arch(a), names::arch(a)) else {
            continue;
        };
        let max = names
            .iter()
            .filter_map(|n| ScmpSyscall::from_name_by_arch(n, scmp).ok())
            .map(|nr| nr.as_raw_syscall())
            .filter(|nr| *nr >= 0)
            .max()
            .map(|nr| nr as u32);
        let entry = match out.iter_mut().position(|l| l.audit_arch == audit) {
            Some(i) => &mut out[i],
            None => {
                out.push(LastSyscall {
                    audit_arch: audit,
                    native: None,
                    x32: None,
                });
                let last = out.len() - 1;
                &mut out[last]
            }
        };
        let is_x32 = a == Arch::ScmpArchX32
            || (a == Arch::ScmpArchNative && native_arch() == Some(Arch::ScmpArchX32));
        if is_x32 {
            entry.x32 = max;
        } else {
            entry.native = max;
        }
    }
    out
}

/// `program` with the stub in front when `default` calls for it.
pub fn patch(
    s: &LinuxSeccomp,
    default: ScmpAction,
    program: Vec<berth_sys::process::SockFilter>,
) -> Vec<berth_sys::process::SockFilter> {
    if !wanted(default) {
        return program;
    }
    match bpf::enosys_stub(&last_syscalls(s)) {
        Some(mut stub) => {
            stub.extend(program);
            stub
        }
        None => program,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn x86_64_profile_covers_both_abis_and_i386() {
        let s: LinuxSeccomp = serde_json::from_str(
            r#"{"defaultAction":"SCMP_ACT_ERRNO","architectures":["SCMP_ARCH_X86_64","SCMP_ARCH_X86","SCMP_ARCH_X32"],
                "syscalls":[{"names":["read","write","openat"],"action":"SCMP_ACT_ALLOW"}]}"#,
        )
        .unwrap();
        assert_eq!(native_arch(), Some(Arch::ScmpArchX86_64));
        let last = last_syscalls(&s);
        let x86_64 = last
            .iter()
            .find(|l| l.audit_arch == AUDIT_ARCH_X86_64)
            .unwrap();
        assert_eq!(x86_64.native, Some(257)); // openat
        assert_eq!(x86_64.x32, Some(0x4000_0000 | 257));
        let i386 = last.iter().find(|l| l.audit_arch == 0x4000_0003).unwrap();
        assert_eq!(i386.native, Some(295)); // openat on i386
    }

    #[test]
    fn only_denying_defaults_get_the_stub() {
        assert!(wanted(ScmpAction::Errno(libc::EPERM)));
        assert!(wanted(ScmpAction::KillProcess));
        assert!(!wanted(ScmpAction::Errno(libc::ENOSYS)));
        assert!(!wanted(ScmpAction::Allow));
        assert!(!wanted(ScmpAction::Log));
    }
}
