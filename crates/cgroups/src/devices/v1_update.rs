//! Changing the v1 device rules of a running container without a window in which every
//! device is denied.
//!
//! Writing "a" to devices.deny and then the allow rules (what `apply` does on a fresh
//! cgroup) briefly denies /dev/null and friends to processes that are running, which
//! breaks them. For an update we instead emulate the kernel's v1 state machine for the
//! target rules, read the current state from devices.list and write only the difference.
//! When either side allows every device by default (the kernel cannot list its
//! exceptions then), the caller falls back to the full rewrite.

use super::{Access, Kind, Rule};
use crate::resources::{Version, Write};

/// One v1 exception: an exact (type, major, minor) key and its access bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Exception {
    pub kind: Kind,
    pub major: Option<u32>,
    pub minor: Option<u32>,
    pub access: Access,
}

impl Exception {
    fn same_key(&self, o: &Exception) -> bool {
        self.kind == o.kind && self.major == o.major && self.minor == o.minor
    }

    fn text(&self, access: Access) -> String {
        Rule {
            allow: true,
            kind: self.kind,
            major: self.major,
            minor: self.minor,
            access,
        }
        .v1_text()
    }
}

fn union(a: Access, b: Access) -> Access {
    Access {
        read: a.read || b.read,
        write: a.write || b.write,
        mknod: a.mknod || b.mknod,
    }
}

fn minus(a: Access, b: Access) -> Access {
    Access {
        read: a.read && !b.read,
        write: a.write && !b.write,
        mknod: a.mknod && !b.mknod,
    }
}

fn is_empty(a: Access) -> bool {
    !(a.read || a.write || a.mknod)
}

/// The exceptions of a default-deny cgroup after "deny a" and `rules`, as the kernel
/// computes them; `None` if the result allows every device by default.
pub fn emulate(rules: &[Rule]) -> Option<Vec<Exception>> {
    let mut allow_all = false;
    let mut ex: Vec<Exception> = Vec::new();
    for r in rules {
        if r.kind == Kind::All {
            allow_all = r.allow;
            ex.clear();
            continue;
        }
        if allow_all {
            return None;
        }
        let new = Exception {
            kind: r.kind,
            major: r.major,
            minor: r.minor,
            access: r.access,
        };
        match ex.iter_mut().find(|e| e.same_key(&new)) {
            Some(e) if r.allow => e.access = union(e.access, new.access),
            Some(e) => e.access = minus(e.access, new.access),
            None if r.allow => ex.push(new),
            None => {}
        }
        ex.retain(|e| !is_empty(e.access));
    }
    if allow_all {
        None
    } else {
        Some(ex)
    }
}

/// Parses devices.list; `None` when it allows every device by default.
pub fn parse_list(content: &str) -> Option<Vec<Exception>> {
    let mut out = Vec::new();
    for line in content.lines().filter(|l| !l.trim().is_empty()) {
        let mut f = line.split_whitespace();
        let (t, nums, acc) = (f.next()?, f.next()?, f.next()?);
        let kind = match t {
            "a" => return None,
            "b" => Kind::Block,
            "c" => Kind::Char,
            _ => return None,
        };
        let (maj, min) = nums.split_once(':')?;
        let num = |s: &str| -> Option<Option<u32>> {
            if s == "*" {
                Some(None)
            } else {
                s.parse().ok().map(Some)
            }
        };
        out.push(Exception {
            kind,
            major: num(maj)?,
            minor: num(min)?,
            access: Access::parse(acc)?,
        });
    }
    Some(out)
}

/// The writes that turn `current` into `target` without denying anything `target` keeps:
/// first take away what goes, then grant what is new.
pub fn transition(current: &[Exception], target: &[Exception]) -> Vec<Write> {
    let mut w = Vec::new();
    for c in current {
        let keep = target.iter().find(|t| t.same_key(c)).map_or(
            Access {
                read: false,
                write: false,
                mknod: false,
            },
            |t| t.access,
        );
        let drop = minus(c.access, keep);
        if !is_empty(drop) {
            w.push(Write::new(
                "devices",
                Version::V1,
                "devices",
                "devices.deny",
                c.text(drop),
            ));
        }
    }
    for t in target {
        let have = current.iter().find(|c| c.same_key(t)).map_or(
            Access {
                read: false,
                write: false,
                mknod: false,
            },
            |c| c.access,
        );
        let add = minus(t.access, have);
        if !is_empty(add) {
            w.push(Write::new(
                "devices",
                Version::V1,
                "devices",
                "devices.allow",
                t.text(add),
            ));
        }
    }
    w
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(allow: bool, kind: Kind, major: Option<u32>, minor: Option<u32>, acc: &str) -> Rule {
        Rule {
            allow,
            kind,
            major,
            minor,
            access: Access::parse(acc).unwrap(),
        }
    }

    #[test]
    fn emulates_merge_and_removal() {
        let ex = emulate(&[
            rule(false, Kind::All, None, None, "rwm"),
            rule(true, Kind::Char, Some(1), Some(3), "r"),
            rule(true, Kind::Char, Some(1), Some(3), "w"),
            rule(true, Kind::Char, Some(1), Some(5), "rwm"),
            rule(false, Kind::Char, Some(1), Some(5), "rwm"),
        ])
        .unwrap();
        assert_eq!(ex.len(), 1);
        assert_eq!(ex[0].text(ex[0].access), "c 1:3 rw");
        assert!(emulate(&[rule(true, Kind::All, None, None, "rwm")]).is_none());
    }

    #[test]
    fn parses_devices_list() {
        let ex = parse_list("c 1:3 rw\nc 136:* rwm\nb *:* m\n").unwrap();
        assert_eq!(ex.len(), 3);
        assert_eq!(ex[1].minor, None);
        assert_eq!(ex[2].kind, Kind::Block);
        assert!(parse_list("a *:* rwm\n").is_none());
        assert_eq!(parse_list("").unwrap(), vec![]);
    }

    #[test]
    fn transition_never_denies_what_stays() {
        let cur = parse_list("c 1:3 rwm\nc 1:5 rw\n").unwrap();
        let target = parse_list("c 1:3 rw\nc 1:9 r\n").unwrap();
        let w: Vec<(String, String)> = transition(&cur, &target)
            .into_iter()
            .map(|w| (w.file, w.value))
            .collect();
        assert_eq!(
            w,
            vec![
                ("devices.deny".into(), "c 1:3 m".into()),
                ("devices.deny".into(), "c 1:5 rw".into()),
                ("devices.allow".into(), "c 1:9 r".into()),
            ]
        );
        assert!(transition(&target, &target).is_empty());
    }
}
