//! pids, hugetlb, network, rdma and the verbatim `unified` map.

use std::collections::HashMap;

use oci_spec::runtime::{LinuxHugepageLimit, LinuxNetwork, LinuxPids, LinuxRdma};

use super::{Layout, Version, Write};
use crate::Error;

pub(super) fn pids(p: &LinuxPids, layout: &Layout, w: &mut Vec<Write>) -> Result<(), Error> {
    // runc: 0 means unset, negative means unlimited.
    let value = match p.limit() {
        0 => return Ok(()),
        l if l < 0 => "max".to_string(),
        l => l.to_string(),
    };
    let v = layout.place("pids.limit", "pids")?;
    w.push(Write::new("pids.limit", v, "pids", "pids.max", value));
    Ok(())
}

/// "2MB", "64KB", "1GB": digits then a unit; anything else could name other files.
fn valid_page_size(s: &str) -> bool {
    let digits = s.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let unit = &s[digits.len()..];
    !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && ["KB", "MB", "GB"].contains(&unit)
}

pub(super) fn hugetlb(
    limits: &[LinuxHugepageLimit],
    layout: &Layout,
    w: &mut Vec<Write>,
) -> Result<(), Error> {
    if limits.is_empty() {
        return Ok(());
    }
    let v = layout.place("hugepageLimits", "hugetlb")?;
    for l in limits {
        let size = l.page_size();
        if !valid_page_size(size) {
            return Err(Error::InvalidValue {
                knob: "hugepageLimits.pageSize",
                value: size.clone(),
                reason: "expected a size such as 2MB or 1GB",
            });
        }
        let hint = "the kernel has no huge pages of this size";
        let (limit_file, rsvd_file, value) = match v {
            Version::V1 => (
                format!("hugetlb.{size}.limit_in_bytes"),
                format!("hugetlb.{size}.rsvd.limit_in_bytes"),
                l.limit().to_string(),
            ),
            Version::V2 => (
                format!("hugetlb.{size}.max"),
                format!("hugetlb.{size}.rsvd.max"),
                if l.limit() < 0 {
                    "max".into()
                } else {
                    l.limit().to_string()
                },
            ),
        };
        w.push(Write::new("hugepageLimits", v, "hugetlb", limit_file, value.clone()).hint(hint));
        // The spec prefers reservation limits where the kernel has them (Linux 5.7+).
        w.push(Write::new("hugepageLimits", v, "hugetlb", rsvd_file, value).optional());
    }
    Ok(())
}

fn plain_name(s: &str) -> bool {
    !s.is_empty() && !s.chars().any(|c| c.is_whitespace() || c.is_control())
}

pub(super) fn network(n: &LinuxNetwork, layout: &Layout, w: &mut Vec<Write>) -> Result<(), Error> {
    if let Some(id) = n.class_id() {
        match layout.place("network.classID", "net_cls")? {
            Version::V1 => w.push(Write::new(
                "network.classID",
                Version::V1,
                "net_cls",
                "net_cls.classid",
                id.to_string(),
            )),
            Version::V2 => unreachable_v2("network.classID")?,
        }
    }
    let prios = n.priorities().as_deref().unwrap_or_default();
    if !prios.is_empty() {
        match layout.place("network.priorities", "net_prio")? {
            Version::V1 => {
                for p in prios {
                    if !plain_name(p.name()) {
                        return Err(Error::InvalidValue {
                            knob: "network.priorities.name",
                            value: p.name().clone(),
                            reason: "not an interface name",
                        });
                    }
                    w.push(Write::new(
                        "network.priorities",
                        Version::V1,
                        "net_prio",
                        "net_prio.ifpriomap",
                        format!("{} {}", p.name(), p.priority()),
                    ));
                }
            }
            Version::V2 => unreachable_v2("network.priorities")?,
        }
    }
    Ok(())
}

/// net_cls / net_prio never exist on cgroup v2; `Layout::place` only says V2 for them if a
/// v2 tree claims to offer them, which the kernel never does.
fn unreachable_v2(knob: &'static str) -> Result<(), Error> {
    Err(Error::InvalidValue {
        knob,
        value: "set".into(),
        reason: "cgroup v2 has no net_cls/net_prio controller (use eBPF instead)",
    })
}

pub(super) fn rdma(
    r: &HashMap<String, LinuxRdma>,
    layout: &Layout,
    w: &mut Vec<Write>,
) -> Result<(), Error> {
    if r.is_empty() {
        return Ok(());
    }
    let v = layout.place("rdma", "rdma")?;
    let mut names: Vec<&String> = r.keys().collect();
    names.sort();
    for name in names {
        if !plain_name(name) {
            return Err(Error::InvalidValue {
                knob: "rdma",
                value: name.clone(),
                reason: "not an RDMA device name",
            });
        }
        let lim = &r[name];
        let mut value = name.clone();
        if let Some(h) = lim.hca_handles() {
            value.push_str(&format!(" hca_handle={h}"));
        }
        if let Some(o) = lim.hca_objects() {
            value.push_str(&format!(" hca_object={o}"));
        }
        if value.len() > name.len() {
            w.push(Write::new("rdma", v, "rdma", "rdma.max", value));
        }
    }
    Ok(())
}

/// Files of the cgroup core that would move or kill processes; not resources.
const FORBIDDEN_UNIFIED: &[&str] = &["cgroup.procs", "cgroup.threads", "cgroup.kill"];

pub(super) fn unified(
    u: &HashMap<String, String>,
    layout: &Layout,
    w: &mut Vec<Write>,
) -> Result<(), Error> {
    let mut keys: Vec<&String> = u.keys().collect();
    keys.sort();
    for key in keys {
        if layout.v2.is_none() {
            return Err(Error::UnifiedOnV1 { key: key.clone() });
        }
        let ok = !key.starts_with('.')
            && key.contains('.')
            && key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_' || c == '-')
            && !FORBIDDEN_UNIFIED.contains(&key.as_str());
        if !ok {
            return Err(Error::InvalidUnifiedKey { key: key.clone() });
        }
        w.push(
            Write::new("unified", Version::V2, "", key.clone(), u[key].clone()).hint(
                "no such file in the container's cgroup v2 directory (controller not enabled?)",
            ),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_sizes() {
        assert!(valid_page_size("2MB"));
        assert!(valid_page_size("1GB"));
        assert!(valid_page_size("64KB"));
        assert!(!valid_page_size("../x"));
        assert!(!valid_page_size("MB"));
        assert!(!valid_page_size("2MB/../x"));
    }
}
