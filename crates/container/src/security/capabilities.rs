//! Capabilities (`process.capabilities`): all five sets, by capability *number*.
//!
//! An absent set means the empty set (as in runc, where a missing `capabilities` object
//! drops everything). The bounding set is reduced to the configured one by dropping every
//! other capability the running kernel knows, including ones newer than oci-spec's table.
//! Configured capabilities the kernel does not know are skipped, as runc does; the caller
//! can list them for a warning with `unknown_to_kernel`. Likewise ambient capabilities
//! that are not both permitted and inheritable are skipped (runc warns; its default spec
//! asks for such), listed by `skipped_ambient`.

use std::str::FromStr;

use berth_sys::process as sys;
use oci_spec::runtime::{Capabilities, Capability, LinuxCapabilities};
use rustix::thread::{CapabilitySet, CapabilitySets};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("unknown capability {0:?}")]
    Unknown(String),
    #[error("raise effective capabilities to the permitted set: {0}")]
    RaiseEffective(std::io::Error),
    #[error("drop {name} from the bounding set: {source}")]
    BoundingDrop {
        name: String,
        source: std::io::Error,
    },
    #[error(
        "capset effective {effective:#x} permitted {permitted:#x} inheritable {inheritable:#x}: {source}"
    )]
    Capset {
        effective: u64,
        permitted: u64,
        inheritable: u64,
        source: std::io::Error,
    },
    #[error("clear the ambient set: {0}")]
    AmbientClear(std::io::Error),
    #[error("raise {name} in the ambient set: {source}")]
    AmbientRaise {
        name: String,
        source: std::io::Error,
    },
}

/// The kernel's name of a capability, e.g. `CAP_NET_BIND_SERVICE`.
pub fn name(c: Capability) -> String {
    format!("CAP_{c}")
}

/// Parse a capability name as OCI configs write it (`CAP_SYS_ADMIN`; case and the `CAP_`
/// prefix are optional, as in oci-spec). Unknown names are an error naming them.
pub fn parse(name: &str) -> Result<Capability, Error> {
    serde_json::from_value(serde_json::Value::String(name.to_string()))
        .map_err(|_| Error::Unknown(name.to_string()))
}

/// The kernel's number of a capability (`CAP_CHOWN` = 0 ... `CAP_CHECKPOINT_RESTORE` = 40).
pub fn number(c: Capability) -> Result<u32, Error> {
    let n = name(c);
    caps::Capability::from_str(&n)
        .map(|c| u32::from(c.index()))
        .map_err(|_| Error::Unknown(n))
}

/// The capabilities in `set` the running kernel does not know (they are skipped).
pub fn unknown_to_kernel(c: &LinuxCapabilities) -> Vec<Capability> {
    let last = sys::last_cap();
    let mut out: Vec<Capability> = [
        c.bounding(),
        c.effective(),
        c.permitted(),
        c.inheritable(),
        c.ambient(),
    ]
    .into_iter()
    .flatten()
    .flatten()
    .filter(|cap| number(**cap).map_or(true, |n| n > last))
    .copied()
    .collect();
    out.sort_by_key(|c| c.to_string());
    out.dedup();
    out
}

/// The ambient capabilities in `c` that are skipped because they are not both permitted
/// and inheritable (runc warns about these; the caller can too).
pub fn skipped_ambient(c: &LinuxCapabilities) -> Vec<Capability> {
    let held = |set: &Option<Capabilities>, cap: &Capability| {
        set.as_ref().is_some_and(|s| s.contains(cap))
    };
    let mut out: Vec<Capability> = c
        .ambient()
        .iter()
        .flatten()
        .filter(|cap| !(held(c.permitted(), cap) && held(c.inheritable(), cap)))
        .copied()
        .collect();
    out.sort_by_key(|c| c.to_string());
    out
}

/// The bit mask of `set`, leaving out capabilities numbered above `last`.
pub fn mask(set: &Option<Capabilities>, last: u32) -> Result<u64, Error> {
    let mut m = 0u64;
    for cap in set.iter().flatten() {
        let n = number(*cap)?;
        if n <= last {
            m |= 1 << n;
        }
    }
    Ok(m)
}

/// The five masks to apply, in the order bounding, effective, permitted, inheritable,
/// ambient.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Masks {
    pub bounding: u64,
    pub effective: u64,
    pub permitted: u64,
    pub inheritable: u64,
    pub ambient: u64,
}

impl Masks {
    pub fn new(c: &LinuxCapabilities, last: u32) -> Result<Masks, Error> {
        Ok(Masks {
            bounding: mask(c.bounding(), last)?,
            effective: mask(c.effective(), last)?,
            permitted: mask(c.permitted(), last)?,
            inheritable: mask(c.inheritable(), last)?,
            ambient: mask(c.ambient(), last)?,
        })
    }
}

fn cap_name(n: u32) -> String {
    caps::all()
        .into_iter()
        .find(|c| u32::from(c.index()) == n)
        .map_or_else(|| format!("capability {n}"), |c| c.to_string())
}

/// Apply all five sets to the calling thread: reduce the bounding set, set effective,
/// permitted and inheritable in one `capset`, then replace the ambient set.
///
/// Works before or after `switch_user` (with KEEPCAPS): the effective set is first raised
/// to the permitted one so CAP_SETPCAP is usable for the bounding drops.
pub fn drop_bounding_and_set_caps(c: &LinuxCapabilities) -> Result<(), Error> {
    let last = sys::last_cap();
    let m = Masks::new(c, last)?;

    let current =
        rustix::thread::capabilities(None).map_err(|e| Error::RaiseEffective(e.into()))?;
    rustix::thread::set_capabilities(
        None,
        CapabilitySets {
            effective: current.permitted,
            ..current
        },
    )
    .map_err(|e| Error::RaiseEffective(e.into()))?;

    for n in 0..=last {
        if m.bounding & (1 << n) == 0 {
            sys::capbset_drop(n).map_err(|source| Error::BoundingDrop {
                name: cap_name(n),
                source,
            })?;
        }
    }

    rustix::thread::set_capabilities(
        None,
        CapabilitySets {
            effective: CapabilitySet::from_bits_retain(m.effective),
            permitted: CapabilitySet::from_bits_retain(m.permitted),
            inheritable: CapabilitySet::from_bits_retain(m.inheritable),
        },
    )
    .map_err(|e| Error::Capset {
        effective: m.effective,
        permitted: m.permitted,
        inheritable: m.inheritable,
        source: e.into(),
    })?;

    sys::ambient_clear_all().map_err(Error::AmbientClear)?;
    // Only a capability that is both permitted and inheritable can be ambient. runc only
    // warns when a config asks for more (its own default spec does: ambient without
    // inheritable), so those are skipped rather than failing the container.
    for n in 0..=last {
        let raisable = m.permitted & m.inheritable & (1 << n) != 0;
        if m.ambient & (1 << n) != 0 && raisable {
            sys::ambient_raise(n).map_err(|source| Error::AmbientRaise {
                name: cap_name(n),
                source,
            })?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_to_kernel_numbers() {
        assert_eq!(number(parse("CAP_CHOWN").unwrap()).unwrap(), 0);
        assert_eq!(number(parse("net_bind_service").unwrap()).unwrap(), 10);
        assert_eq!(number(parse("CAP_SYS_ADMIN").unwrap()).unwrap(), 21);
        assert_eq!(
            number(parse("CAP_CHECKPOINT_RESTORE").unwrap()).unwrap(),
            40
        );
        assert_eq!(name(Capability::AuditWrite), "CAP_AUDIT_WRITE");
    }

    #[test]
    fn every_oci_capability_has_a_distinct_number() {
        let mut seen = 0u64;
        for n in 0..=40u32 {
            let cap = parse(&cap_name(n)).unwrap();
            let got = number(cap).unwrap();
            assert_eq!(got, n);
            seen |= 1 << got;
        }
        assert_eq!(seen, (1 << 41) - 1);
    }

    #[test]
    fn unknown_name_is_an_error_naming_it() {
        let e = parse("CAP_NOT_A_THING").unwrap_err().to_string();
        assert!(e.contains("CAP_NOT_A_THING"), "{e}");
        let e = serde_json::from_str::<LinuxCapabilities>(r#"{"bounding":["CAP_BOGUS"]}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("CAP_BOGUS"), "{e}");
    }

    #[test]
    fn masks_skip_capabilities_above_the_kernels_last() {
        let c: LinuxCapabilities = serde_json::from_str(
            r#"{"bounding":["CAP_CHOWN","CAP_CHECKPOINT_RESTORE"],"ambient":["CAP_KILL"]}"#,
        )
        .unwrap();
        let m = Masks::new(&c, 39).unwrap();
        assert_eq!(m.bounding, 1);
        assert_eq!(m.ambient, 1 << 5);
        assert_eq!(m.effective, 0);
        let m = Masks::new(&c, 40).unwrap();
        assert_eq!(m.bounding, 1 | 1 << 40);
    }
}
