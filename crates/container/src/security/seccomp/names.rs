//! OCI seccomp vocabulary -> libseccomp and kernel values: actions, architectures,
//! comparison operators and filter flags.
//!
//! Unknown *names* never reach this module: oci-spec's enums reject an unknown
//! `SCMP_ACT_*`, `SCMP_ARCH_*`, `SCMP_CMP_*` or `SECCOMP_FILTER_FLAG_*` while the config is
//! parsed, with an error naming it (see the tests). What can still be wrong here are
//! values: an errno/trace return that does not fit 16 bits, or an argument index past 5.

use berth_sys::process::seccomp_flag;
use libseccomp::{ScmpAction, ScmpArch, ScmpCompareOp};
use oci_spec::runtime::{Arch, LinuxSeccompAction, LinuxSeccompFilterFlag, LinuxSeccompOperator};

use super::Error;

/// `SECCOMP_RET_DATA` is 16 bits: the largest errno or trace value a filter can return.
const MAX_RET_DATA: u32 = 0xffff;

/// The libseccomp action for an OCI action. `ret` is the rule's `errnoRet` (or the
/// profile's `defaultErrnoRet`); ERRNO and TRACE default to EPERM as in runc.
pub fn action(a: LinuxSeccompAction, ret: Option<u32>) -> Result<ScmpAction, Error> {
    let data = |ret: Option<u32>| -> Result<u16, Error> {
        let v = ret.unwrap_or(libc::EPERM as u32);
        if v > MAX_RET_DATA {
            return Err(Error::ReturnValue {
                action: a,
                value: v,
            });
        }
        Ok(v as u16)
    };
    Ok(match a {
        // SCMP_ACT_KILL is the historical name of "kill the calling thread".
        LinuxSeccompAction::ScmpActKill | LinuxSeccompAction::ScmpActKillThread => {
            ScmpAction::KillThread
        }
        LinuxSeccompAction::ScmpActKillProcess => ScmpAction::KillProcess,
        LinuxSeccompAction::ScmpActTrap => ScmpAction::Trap,
        LinuxSeccompAction::ScmpActErrno => ScmpAction::Errno(data(ret)? as i32),
        LinuxSeccompAction::ScmpActTrace => ScmpAction::Trace(data(ret)?),
        LinuxSeccompAction::ScmpActAllow => ScmpAction::Allow,
        LinuxSeccompAction::ScmpActLog => ScmpAction::Log,
        LinuxSeccompAction::ScmpActNotify => ScmpAction::Notify,
    })
}

/// The libseccomp architecture token for an OCI architecture.
pub fn arch(a: Arch) -> ScmpArch {
    match a {
        Arch::ScmpArchNative => ScmpArch::Native,
        Arch::ScmpArchX86 => ScmpArch::X86,
        Arch::ScmpArchX86_64 => ScmpArch::X8664,
        Arch::ScmpArchX32 => ScmpArch::X32,
        Arch::ScmpArchArm => ScmpArch::Arm,
        Arch::ScmpArchAarch64 => ScmpArch::Aarch64,
        Arch::ScmpArchMips => ScmpArch::Mips,
        Arch::ScmpArchMips64 => ScmpArch::Mips64,
        Arch::ScmpArchMips64n32 => ScmpArch::Mips64N32,
        Arch::ScmpArchMipsel => ScmpArch::Mipsel,
        Arch::ScmpArchMipsel64 => ScmpArch::Mipsel64,
        Arch::ScmpArchMipsel64n32 => ScmpArch::Mipsel64N32,
        Arch::ScmpArchPpc => ScmpArch::Ppc,
        Arch::ScmpArchPpc64 => ScmpArch::Ppc64,
        Arch::ScmpArchPpc64le => ScmpArch::Ppc64Le,
        Arch::ScmpArchS390 => ScmpArch::S390,
        Arch::ScmpArchS390x => ScmpArch::S390X,
        Arch::ScmpArchParisc => ScmpArch::Parisc,
        Arch::ScmpArchParisc64 => ScmpArch::Parisc64,
        Arch::ScmpArchRiscv64 => ScmpArch::Riscv64,
        Arch::ScmpArchLoongarch64 => ScmpArch::Loongarch64,
        Arch::ScmpArchM68k => ScmpArch::M68k,
        Arch::ScmpArchSh => ScmpArch::Sh,
        Arch::ScmpArchSheb => ScmpArch::Sheb,
    }
}

/// The libseccomp comparison for an OCI operator. For `SCMP_CMP_MASKED_EQ` the rule's
/// `value` is the mask and `valueTwo` the value compared with `arg & mask`, as in runc.
pub fn operator(op: LinuxSeccompOperator, value: u64) -> ScmpCompareOp {
    match op {
        LinuxSeccompOperator::ScmpCmpNe => ScmpCompareOp::NotEqual,
        LinuxSeccompOperator::ScmpCmpLt => ScmpCompareOp::Less,
        LinuxSeccompOperator::ScmpCmpLe => ScmpCompareOp::LessOrEqual,
        LinuxSeccompOperator::ScmpCmpEq => ScmpCompareOp::Equal,
        LinuxSeccompOperator::ScmpCmpGe => ScmpCompareOp::GreaterEqual,
        LinuxSeccompOperator::ScmpCmpGt => ScmpCompareOp::Greater,
        LinuxSeccompOperator::ScmpCmpMaskedEq => ScmpCompareOp::MaskedEqual(value),
    }
}

/// The `seccomp(2)` flag for an OCI filter flag.
pub fn filter_flag(f: LinuxSeccompFilterFlag) -> u64 {
    match f {
        LinuxSeccompFilterFlag::SeccompFilterFlagTsync => seccomp_flag::TSYNC,
        LinuxSeccompFilterFlag::SeccompFilterFlagLog => seccomp_flag::LOG,
        LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow => seccomp_flag::SPEC_ALLOW,
        LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv => {
            seccomp_flag::WAIT_KILLABLE_RECV
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::LinuxSeccomp;

    fn parse_err(json: &str) -> String {
        serde_json::from_str::<LinuxSeccomp>(json)
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn every_action_parses_and_maps() {
        let cases = [
            ("SCMP_ACT_KILL", ScmpAction::KillThread),
            ("SCMP_ACT_KILL_THREAD", ScmpAction::KillThread),
            ("SCMP_ACT_KILL_PROCESS", ScmpAction::KillProcess),
            ("SCMP_ACT_TRAP", ScmpAction::Trap),
            ("SCMP_ACT_ERRNO", ScmpAction::Errno(libc::EPERM)),
            ("SCMP_ACT_TRACE", ScmpAction::Trace(libc::EPERM as u16)),
            ("SCMP_ACT_ALLOW", ScmpAction::Allow),
            ("SCMP_ACT_LOG", ScmpAction::Log),
            ("SCMP_ACT_NOTIFY", ScmpAction::Notify),
        ];
        for (name, want) in cases {
            let a: LinuxSeccompAction = serde_json::from_str(&format!("\"{name}\"")).unwrap();
            assert_eq!(action(a, None).unwrap(), want, "{name}");
        }
        assert_eq!(
            action(LinuxSeccompAction::ScmpActErrno, Some(38)).unwrap(),
            ScmpAction::Errno(38)
        );
        assert!(matches!(
            action(LinuxSeccompAction::ScmpActErrno, Some(70000)),
            Err(Error::ReturnValue { value: 70000, .. })
        ));
    }

    #[test]
    fn every_operator_parses_and_maps() {
        let cases = [
            ("SCMP_CMP_NE", ScmpCompareOp::NotEqual),
            ("SCMP_CMP_LT", ScmpCompareOp::Less),
            ("SCMP_CMP_LE", ScmpCompareOp::LessOrEqual),
            ("SCMP_CMP_EQ", ScmpCompareOp::Equal),
            ("SCMP_CMP_GE", ScmpCompareOp::GreaterEqual),
            ("SCMP_CMP_GT", ScmpCompareOp::Greater),
            ("SCMP_CMP_MASKED_EQ", ScmpCompareOp::MaskedEqual(0xf0)),
        ];
        for (name, want) in cases {
            let op: LinuxSeccompOperator = serde_json::from_str(&format!("\"{name}\"")).unwrap();
            assert_eq!(operator(op, 0xf0), want, "{name}");
        }
    }

    #[test]
    fn architectures_and_flags_map() {
        let a: Arch = serde_json::from_str("\"SCMP_ARCH_X86_64\"").unwrap();
        assert_eq!(arch(a), ScmpArch::X8664);
        let a: Arch = serde_json::from_str("\"SCMP_ARCH_X32\"").unwrap();
        assert_eq!(arch(a), ScmpArch::X32);
        let f: LinuxSeccompFilterFlag =
            serde_json::from_str("\"SECCOMP_FILTER_FLAG_SPEC_ALLOW\"").unwrap();
        assert_eq!(filter_flag(f), 4);
        let f: LinuxSeccompFilterFlag =
            serde_json::from_str("\"SECCOMP_FILTER_FLAG_LOG\"").unwrap();
        assert_eq!(filter_flag(f), 2);
    }

    #[test]
    fn unknown_action_op_arch_and_flag_are_errors_naming_them() {
        let e = parse_err(r#"{"defaultAction":"SCMP_ACT_BOGUS"}"#);
        assert!(e.contains("SCMP_ACT_BOGUS"), "{e}");
        let e = parse_err(
            r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["read"],"action":"SCMP_ACT_ERRNO","args":[{"index":0,"value":1,"op":"SCMP_CMP_NOPE"}]}]}"#,
        );
        assert!(e.contains("SCMP_CMP_NOPE"), "{e}");
        let e =
            parse_err(r#"{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_VAX"]}"#);
        assert!(e.contains("SCMP_ARCH_VAX"), "{e}");
        let e =
            parse_err(r#"{"defaultAction":"SCMP_ACT_ALLOW","flags":["SECCOMP_FILTER_FLAG_X"]}"#);
        assert!(e.contains("SECCOMP_FILTER_FLAG_X"), "{e}");
    }
}
