//! Scheduling attributes of the container process: OOM score, personality, CPU scheduler
//! and I/O priority. Each runs in the container's init (or exec) child before it drops
//! privileges, since lowering `oom_score_adj`, real-time policies and the RT I/O class all
//! need capabilities the final process may not have.

use std::path::PathBuf;

use berth_sys::process::{self as sys, SchedAttr};
use nix::sys::personality::Persona;
use oci_spec::runtime::{
    IOPriorityClass, LinuxIOPriority, LinuxPersonality, LinuxPersonalityDomain, LinuxSchedulerFlag,
    LinuxSchedulerPolicy, Scheduler,
};

const OOM_SCORE_ADJ: &str = "/proc/self/oom_score_adj";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("oomScoreAdj {0} is outside -1000..=1000")]
    OomScoreRange(i32),
    #[error("write {value} to {path}: {source}")]
    OomScoreWrite {
        path: PathBuf,
        value: i32,
        source: std::io::Error,
    },
    #[error("unknown personality flag {0:?}")]
    PersonalityFlag(String),
    #[error("set personality {domain} (flags {flags:?}): {source}")]
    Personality {
        domain: String,
        flags: Vec<String>,
        source: nix::Error,
    },
    #[error("scheduler policy {policy}: {reason}")]
    SchedulerInvalid {
        policy: LinuxSchedulerPolicy,
        reason: String,
    },
    #[error("sched_setattr policy {policy} (nice {nice}, priority {priority}): {source}")]
    SchedSetattr {
        policy: LinuxSchedulerPolicy,
        nice: i32,
        priority: u32,
        source: std::io::Error,
    },
    #[error("ioPriority priority {0} is outside 0..=7")]
    IoPriorityRange(i64),
    #[error("ioprio_set class {class} priority {priority}: {source}")]
    IoprioSet {
        class: IOPriorityClass,
        priority: i64,
        source: std::io::Error,
    },
}

/// Write `v` to /proc/self/oom_score_adj (kernel range -1000..=1000). Lowering it below the
/// current value needs `CAP_SYS_RESOURCE`, so call this before capabilities are dropped.
pub fn set_oom_score_adj(v: i32) -> Result<(), Error> {
    if !(-1000..=1000).contains(&v) {
        return Err(Error::OomScoreRange(v));
    }
    std::fs::write(OOM_SCORE_ADJ, v.to_string()).map_err(|source| Error::OomScoreWrite {
        path: OOM_SCORE_ADJ.into(),
        value: v,
        source,
    })
}

/// The `personality(2)` flag named `name` (the kernel's names without the `PER_`/`ADDR_`
/// distinction lost: `ADDR_NO_RANDOMIZE`, `READ_IMPLIES_EXEC`, `UNAME26`, ...).
pub fn personality_flag(name: &str) -> Option<Persona> {
    Some(match name {
        "ADDR_COMPAT_LAYOUT" => Persona::ADDR_COMPAT_LAYOUT,
        "ADDR_NO_RANDOMIZE" => Persona::ADDR_NO_RANDOMIZE,
        "ADDR_LIMIT_32BIT" => Persona::ADDR_LIMIT_32BIT,
        "ADDR_LIMIT_3GB" => Persona::ADDR_LIMIT_3GB,
        "FDPIC_FUNCPTRS" => Persona::FDPIC_FUNCPTRS,
        "MMAP_PAGE_ZERO" => Persona::MMAP_PAGE_ZERO,
        "READ_IMPLIES_EXEC" => Persona::READ_IMPLIES_EXEC,
        "SHORT_INODE" => Persona::SHORT_INODE,
        "STICKY_TIMEOUTS" => Persona::STICKY_TIMEOUTS,
        "UNAME26" => Persona::UNAME26,
        "WHOLE_SECONDS" => Persona::WHOLE_SECONDS,
        _ => return None,
    })
}

/// The full `personality(2)` value for `p`: domain (`PER_LINUX` 0 or `PER_LINUX32` 8) plus
/// its flags. Unknown flag names are an error naming the flag.
pub fn personality_value(p: &LinuxPersonality) -> Result<Persona, Error> {
    // PER_LINUX32 (include/uapi/linux/personality.h); nix has no constant for domains.
    const PER_LINUX32: i32 = 0x0008;
    let mut value = match p.domain() {
        LinuxPersonalityDomain::PerLinux => Persona::empty(),
        LinuxPersonalityDomain::PerLinux32 => Persona::from_bits_retain(PER_LINUX32),
    };
    for name in p.flags().iter().flatten() {
        value |= personality_flag(name).ok_or_else(|| Error::PersonalityFlag(name.clone()))?;
    }
    Ok(value)
}

/// Set the execution domain (`LINUX` or `LINUX32`, so `uname -m` reports i686) and flags.
pub fn set_personality(p: &LinuxPersonality) -> Result<(), Error> {
    let value = personality_value(p)?;
    nix::sys::personality::set(value)
        .map(drop)
        .map_err(|source| Error::Personality {
            domain: p.domain().to_string(),
            flags: p.flags().clone().unwrap_or_default(),
            source,
        })
}

fn policy_value(p: LinuxSchedulerPolicy) -> u32 {
    match p {
        LinuxSchedulerPolicy::SchedOther => sys::sched::OTHER,
        LinuxSchedulerPolicy::SchedFifo => sys::sched::FIFO,
        LinuxSchedulerPolicy::SchedRr => sys::sched::RR,
        LinuxSchedulerPolicy::SchedBatch => sys::sched::BATCH,
        LinuxSchedulerPolicy::SchedIso => sys::sched::ISO,
        LinuxSchedulerPolicy::SchedIdle => sys::sched::IDLE,
        LinuxSchedulerPolicy::SchedDeadline => sys::sched::DEADLINE,
    }
}

fn flag_value(f: LinuxSchedulerFlag) -> u64 {
    match f {
        LinuxSchedulerFlag::SchedResetOnFork => sys::sched::FLAG_RESET_ON_FORK,
        LinuxSchedulerFlag::SchedFlagReclaim => sys::sched::FLAG_RECLAIM,
        LinuxSchedulerFlag::SchedFlagDLOverrun => sys::sched::FLAG_DL_OVERRUN,
        LinuxSchedulerFlag::SchedFlagKeepPolicy => sys::sched::FLAG_KEEP_POLICY,
        LinuxSchedulerFlag::SchedFlagKeepParams => sys::sched::FLAG_KEEP_PARAMS,
        LinuxSchedulerFlag::SchedFlagUtilClampMin => sys::sched::FLAG_UTIL_CLAMP_MIN,
        LinuxSchedulerFlag::SchedFlagUtilClampMax => sys::sched::FLAG_UTIL_CLAMP_MAX,
    }
}

/// Translate and validate an OCI scheduler into a `struct sched_attr`, with runc's rules:
/// `nice` only for OTHER/BATCH (-20..=19), `priority` only for FIFO/RR (1..=99, required
/// there), runtime/deadline/period only (and all required) for DEADLINE.
pub fn sched_attr(s: &Scheduler) -> Result<SchedAttr, Error> {
    let policy = *s.policy();
    let invalid = |reason: &str| Error::SchedulerInvalid {
        policy,
        reason: reason.to_string(),
    };
    let nice = s.nice().unwrap_or(0);
    let priority = s.priority().unwrap_or(0);
    let nice_ok = matches!(
        policy,
        LinuxSchedulerPolicy::SchedOther | LinuxSchedulerPolicy::SchedBatch
    );
    let realtime = matches!(
        policy,
        LinuxSchedulerPolicy::SchedFifo | LinuxSchedulerPolicy::SchedRr
    );
    let deadline = policy == LinuxSchedulerPolicy::SchedDeadline;
    if s.nice().is_some() && !nice_ok {
        return Err(invalid("nice applies only to SCHED_OTHER and SCHED_BATCH"));
    }
    if !(-20..=19).contains(&nice) {
        return Err(invalid(&format!("nice {nice} is outside -20..=19")));
    }
    if realtime && !(1..=99).contains(&priority) {
        return Err(invalid(&format!(
            "priority {priority} is outside 1..=99 (required for real-time policies)"
        )));
    }
    if !realtime && priority != 0 {
        return Err(invalid("priority applies only to SCHED_FIFO and SCHED_RR"));
    }
    let dl = [s.runtime(), s.deadline(), s.period()];
    if !deadline && dl.iter().any(|v| v.is_some()) {
        return Err(invalid(
            "runtime, deadline and period apply only to SCHED_DEADLINE",
        ));
    }
    if deadline && dl.iter().any(|v| v.is_none()) {
        return Err(invalid("SCHED_DEADLINE needs runtime, deadline and period"));
    }
    let flags = s
        .flags()
        .iter()
        .flatten()
        .fold(0, |acc, f| acc | flag_value(*f));
    Ok(SchedAttr {
        size: std::mem::size_of::<SchedAttr>() as u32,
        sched_policy: policy_value(policy),
        sched_flags: flags,
        sched_nice: nice,
        sched_priority: priority as u32,
        sched_runtime: s.runtime().unwrap_or(0),
        sched_deadline: s.deadline().unwrap_or(0),
        sched_period: s.period().unwrap_or(0),
        ..SchedAttr::default()
    })
}

/// Apply the scheduler with `sched_setattr(2)` (policy, nice, priority, flags and the
/// DEADLINE parameters in one call).
pub fn set_scheduler(s: &Scheduler) -> Result<(), Error> {
    let attr = sched_attr(s)?;
    sys::sched_setattr(&attr).map_err(|source| Error::SchedSetattr {
        policy: *s.policy(),
        nice: attr.sched_nice,
        priority: attr.sched_priority,
        source,
    })
}

/// Set the I/O scheduling class and priority level (0..=7) with `ioprio_set(2)`.
pub fn set_io_priority(p: &LinuxIOPriority) -> Result<(), Error> {
    if !(0..=7).contains(&p.priority()) {
        return Err(Error::IoPriorityRange(p.priority()));
    }
    let class = match p.class() {
        IOPriorityClass::IoprioClassRt => sys::ioprio::CLASS_RT,
        IOPriorityClass::IoprioClassBe => sys::ioprio::CLASS_BE,
        IOPriorityClass::IoprioClassIdle => sys::ioprio::CLASS_IDLE,
    };
    sys::ioprio_set(class, p.priority() as u32).map_err(|source| Error::IoprioSet {
        class: p.class(),
        priority: p.priority(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sched(json: &str) -> Scheduler {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn batch_with_nice_translates() {
        let a = sched_attr(&sched(
            r#"{"policy":"SCHED_BATCH","nice":7,"flags":["SCHED_RESET_ON_FORK"]}"#,
        ))
        .unwrap();
        assert_eq!(a.sched_policy, 3);
        assert_eq!(a.sched_nice, 7);
        assert_eq!(a.sched_flags, 1);
    }

    #[test]
    fn invalid_combinations_are_rejected() {
        for bad in [
            r#"{"policy":"SCHED_FIFO"}"#,
            r#"{"policy":"SCHED_FIFO","priority":100}"#,
            r#"{"policy":"SCHED_FIFO","priority":10,"nice":1}"#,
            r#"{"policy":"SCHED_OTHER","priority":10}"#,
            r#"{"policy":"SCHED_OTHER","nice":20}"#,
            r#"{"policy":"SCHED_DEADLINE","runtime":10}"#,
            r#"{"policy":"SCHED_BATCH","period":10}"#,
        ] {
            assert!(sched_attr(&sched(bad)).is_err(), "{bad} accepted");
        }
        let dl = sched_attr(&sched(
            r#"{"policy":"SCHED_DEADLINE","runtime":1000000,"deadline":2000000,"period":3000000}"#,
        ))
        .unwrap();
        assert_eq!((dl.sched_policy, dl.sched_period), (6, 3_000_000));
    }

    #[test]
    fn personality_flags_parse_and_unknown_is_named() {
        let p: LinuxPersonality =
            serde_json::from_str(r#"{"domain":"LINUX32","flags":["ADDR_NO_RANDOMIZE"]}"#).unwrap();
        assert_eq!(personality_value(&p).unwrap().bits(), 0x0008 | 0x0040000);
        let p: LinuxPersonality =
            serde_json::from_str(r#"{"domain":"LINUX","flags":["NOPE"]}"#).unwrap();
        let err = personality_value(&p).unwrap_err().to_string();
        assert!(err.contains("NOPE"), "{err}");
    }

    #[test]
    fn out_of_range_values_are_rejected_before_the_kernel() {
        assert!(matches!(
            set_oom_score_adj(1001),
            Err(Error::OomScoreRange(1001))
        ));
        let p: LinuxIOPriority =
            serde_json::from_str(r#"{"class":"IOPRIO_CLASS_BE","priority":8}"#).unwrap();
        assert!(matches!(
            set_io_priority(&p),
            Err(Error::IoPriorityRange(8))
        ));
    }
}
