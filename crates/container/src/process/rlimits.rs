//! POSIX resource limits of the container process (`process.rlimits`), set with
//! `prlimit(2)` on the calling process before it drops privileges (raising a hard limit
//! needs `CAP_SYS_RESOURCE`).
//!
//! The limit *names* are checked when the config is parsed: oci-spec's `PosixRlimitType`
//! rejects an unknown `type` with an error naming it, so every value reaching this module
//! maps to a kernel resource.

use oci_spec::runtime::{PosixRlimit, PosixRlimitType};
use rustix::process::{Resource, Rlimit};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("rlimit {typ}: soft limit {soft} exceeds hard limit {hard}")]
    SoftAboveHard {
        typ: PosixRlimitType,
        soft: u64,
        hard: u64,
    },
    #[error("rlimit {typ} listed twice")]
    Duplicate { typ: PosixRlimitType },
    #[error("prlimit {typ} soft {soft} hard {hard}: {source}")]
    Set {
        typ: PosixRlimitType,
        soft: u64,
        hard: u64,
        source: std::io::Error,
    },
}

/// The kernel resource for an OCI rlimit type.
pub fn resource(typ: PosixRlimitType) -> Resource {
    match typ {
        PosixRlimitType::RlimitCpu => Resource::Cpu,
        PosixRlimitType::RlimitFsize => Resource::Fsize,
        PosixRlimitType::RlimitData => Resource::Data,
        PosixRlimitType::RlimitStack => Resource::Stack,
        PosixRlimitType::RlimitCore => Resource::Core,
        PosixRlimitType::RlimitRss => Resource::Rss,
        PosixRlimitType::RlimitNproc => Resource::Nproc,
        PosixRlimitType::RlimitNofile => Resource::Nofile,
        PosixRlimitType::RlimitMemlock => Resource::Memlock,
        PosixRlimitType::RlimitAs => Resource::As,
        PosixRlimitType::RlimitLocks => Resource::Locks,
        PosixRlimitType::RlimitSigpending => Resource::Sigpending,
        PosixRlimitType::RlimitMsgqueue => Resource::Msgqueue,
        PosixRlimitType::RlimitNice => Resource::Nice,
        PosixRlimitType::RlimitRtprio => Resource::Rtprio,
        PosixRlimitType::RlimitRttime => Resource::Rttime,
    }
}

/// `u64::MAX` is RLIM_INFINITY, which rustix spells `None`.
fn limit(v: u64) -> Option<u64> {
    (v != u64::MAX).then_some(v)
}

/// Check all limits (soft <= hard, each type once) without touching the process.
pub fn validate(l: &[PosixRlimit]) -> Result<(), Error> {
    for (i, r) in l.iter().enumerate() {
        if r.soft() > r.hard() {
            return Err(Error::SoftAboveHard {
                typ: r.typ(),
                soft: r.soft(),
                hard: r.hard(),
            });
        }
        if l[..i].iter().any(|o| o.typ() == r.typ()) {
            return Err(Error::Duplicate { typ: r.typ() });
        }
    }
    Ok(())
}

/// Set every limit in `l` on the calling process. Validation comes first, so an invalid
/// list changes nothing.
pub fn set_rlimits(l: &[PosixRlimit]) -> Result<(), Error> {
    validate(l)?;
    for r in l {
        let new = Rlimit {
            current: limit(r.soft()),
            maximum: limit(r.hard()),
        };
        rustix::process::setrlimit(resource(r.typ()), new).map_err(|e| Error::Set {
            typ: r.typ(),
            soft: r.soft(),
            hard: r.hard(),
            source: e.into(),
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rl(json: &str) -> Vec<PosixRlimit> {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn unknown_type_is_rejected_with_its_name() {
        let err = serde_json::from_str::<Vec<PosixRlimit>>(
            r#"[{"type":"RLIMIT_BOGUS","hard":1,"soft":1}]"#,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("RLIMIT_BOGUS"), "{err}");
    }

    #[test]
    fn soft_above_hard_and_duplicates_are_rejected() {
        let e = validate(&rl(r#"[{"type":"RLIMIT_NOFILE","hard":1,"soft":2}]"#)).unwrap_err();
        assert!(e.to_string().contains("RLIMIT_NOFILE"), "{e}");
        let e = validate(&rl(
            r#"[{"type":"RLIMIT_CORE","hard":1,"soft":1},{"type":"RLIMIT_CORE","hard":2,"soft":2}]"#,
        ))
        .unwrap_err();
        assert!(matches!(e, Error::Duplicate { .. }));
    }

    #[test]
    fn every_type_maps_to_a_distinct_resource() {
        let all = [
            "CPU",
            "FSIZE",
            "DATA",
            "STACK",
            "CORE",
            "RSS",
            "NPROC",
            "NOFILE",
            "MEMLOCK",
            "AS",
            "LOCKS",
            "SIGPENDING",
            "MSGQUEUE",
            "NICE",
            "RTPRIO",
            "RTTIME",
        ];
        let mut seen = Vec::new();
        for name in all {
            let t: PosixRlimitType = serde_json::from_str(&format!("\"RLIMIT_{name}\"")).unwrap();
            let r = resource(t) as i32;
            assert!(!seen.contains(&r), "{name}");
            seen.push(r);
        }
        assert_eq!(
            resource(PosixRlimitType::RlimitNofile) as i32,
            libc::RLIMIT_NOFILE as i32
        );
        assert_eq!(
            resource(PosixRlimitType::RlimitRttime) as i32,
            libc::RLIMIT_RTTIME as i32
        );
    }
}
