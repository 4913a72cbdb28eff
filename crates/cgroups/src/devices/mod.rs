//! Device access rules: normalisation of the OCI list, the v1 `devices.allow/deny` writes,
//! and the v2 eBPF program (see [`bpf`]).
//!
//! Semantics on both versions: start from "deny everything", then apply the rules in
//! configuration order, a later rule overriding an earlier one.

pub mod bpf;
mod defaults;
pub mod v1_update;

use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType};

pub use defaults::default_allowed;

use crate::resources::{Version, Write};
use crate::Error;

/// Which devices a rule matches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    All,
    Block,
    Char,
}

/// Access bits, as in "rwm".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Access {
    pub read: bool,
    pub write: bool,
    pub mknod: bool,
}

impl Access {
    pub const ALL: Access = Access {
        read: true,
        write: true,
        mknod: true,
    };

    pub(crate) fn parse(s: &str) -> Option<Access> {
        let mut a = Access {
            read: false,
            write: false,
            mknod: false,
        };
        for c in s.chars() {
            match c {
                'r' => a.read = true,
                'w' => a.write = true,
                'm' => a.mknod = true,
                _ => return None,
            }
        }
        Some(a)
    }

    fn as_string(self) -> String {
        let mut s = String::new();
        if self.read {
            s.push('r');
        }
        if self.write {
            s.push('w');
        }
        if self.mknod {
            s.push('m');
        }
        s
    }
}

/// One validated device rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rule {
    pub allow: bool,
    pub kind: Kind,
    /// `None` matches any major.
    pub major: Option<u32>,
    /// `None` matches any minor.
    pub minor: Option<u32>,
    pub access: Access,
}

fn number(knob: &'static str, v: Option<i64>) -> Result<Option<u32>, Error> {
    match v {
        None | Some(-1) => Ok(None),
        // The eBPF program compares with a sign-extended 32-bit immediate.
        Some(n) if (0..=i64::from(i32::MAX)).contains(&n) => Ok(Some(n as u32)),
        Some(n) => Err(Error::InvalidValue {
            knob,
            value: n.to_string(),
            reason: "not a device number",
        }),
    }
}

impl Rule {
    /// Validates an OCI rule. A missing type means "a" and missing numbers are wildcards, as
    /// in the spec; an empty access string is refused (as runc does).
    pub fn from_oci(d: &LinuxDeviceCgroup) -> Result<Rule, Error> {
        let kind = match d.typ().unwrap_or(LinuxDeviceType::A) {
            LinuxDeviceType::A => Kind::All,
            LinuxDeviceType::B => Kind::Block,
            LinuxDeviceType::C => Kind::Char,
            other => {
                return Err(Error::InvalidValue {
                    knob: "devices.type",
                    value: other.as_str().to_string(),
                    reason: "device cgroups only know the types a, b and c",
                })
            }
        };
        let access_str = d.access().as_deref().unwrap_or("");
        let access = Access::parse(access_str)
            .filter(|_| !access_str.is_empty())
            .ok_or_else(|| Error::InvalidValue {
                knob: "devices.access",
                value: access_str.to_string(),
                reason: "must be a non-empty combination of r, w and m",
            })?;
        Ok(Rule {
            allow: d.allow(),
            kind,
            major: number("devices.major", d.major())?,
            minor: number("devices.minor", d.minor())?,
            access,
        })
    }

    /// The v1 rule text ("c 1:3 rwm", or "a" for every device).
    pub fn v1_text(&self) -> String {
        let t = match self.kind {
            Kind::All => return "a".into(),
            Kind::Block => 'b',
            Kind::Char => 'c',
        };
        let num = |n: Option<u32>| n.map_or("*".to_string(), |n| n.to_string());
        format!(
            "{t} {}:{} {}",
            num(self.major),
            num(self.minor),
            self.access.as_string()
        )
    }
}

/// v1: deny everything, then each rule in order.
pub fn v1_writes(rules: &[Rule]) -> Vec<Write> {
    let mut w = vec![Write::new(
        "devices",
        Version::V1,
        "devices",
        "devices.deny",
        "a",
    )];
    for r in rules {
        let file = if r.allow {
            "devices.allow"
        } else {
            "devices.deny"
        };
        w.push(Write::new(
            "devices",
            Version::V1,
            "devices",
            file,
            r.v1_text(),
        ));
    }
    w
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::LinuxDeviceCgroupBuilder;

    #[test]
    fn oci_rules_validate() {
        let d = LinuxDeviceCgroupBuilder::default()
            .allow(true)
            .typ(LinuxDeviceType::C)
            .major(1)
            .minor(3)
            .access("rw")
            .build()
            .unwrap();
        let r = Rule::from_oci(&d).unwrap();
        assert_eq!(r.v1_text(), "c 1:3 rw");
        let all = LinuxDeviceCgroupBuilder::default()
            .allow(false)
            .access("rwm")
            .build()
            .unwrap();
        assert_eq!(Rule::from_oci(&all).unwrap().v1_text(), "a");
        let bad = LinuxDeviceCgroupBuilder::default()
            .allow(true)
            .access("rwx")
            .build()
            .unwrap();
        assert!(Rule::from_oci(&bad).is_err());
        let empty = LinuxDeviceCgroupBuilder::default()
            .allow(true)
            .build()
            .unwrap();
        assert!(Rule::from_oci(&empty).is_err());
        let fifo = LinuxDeviceCgroupBuilder::default()
            .allow(true)
            .typ(LinuxDeviceType::P)
            .access("r")
            .build()
            .unwrap();
        assert!(Rule::from_oci(&fifo).is_err());
    }

    #[test]
    fn v1_writes_start_with_deny_all() {
        let rules: Vec<Rule> = default_allowed()
            .iter()
            .map(Rule::from_oci)
            .collect::<Result<_, _>>()
            .unwrap();
        let w = v1_writes(&rules[..4]);
        assert_eq!(w[0].file, "devices.deny");
        assert_eq!(w[0].value, "a");
        assert_eq!(w[1].file, "devices.allow");
        assert_eq!(w[1].value, "c *:* m");
        assert_eq!(w[2].value, "b *:* m");
        assert_eq!(w[3].value, "c 1:3 rwm");
        assert_eq!(w[4].value, "c 1:5 rwm");
    }
}
