//! network.classID and network.priorities (v1 net_cls / net_prio only).

use oci_spec::runtime::LinuxNetwork;

use super::{plain_name, Layout, Version, Write};
use crate::Error;

pub(super) fn plan(n: &LinuxNetwork, layout: &Layout, w: &mut Vec<Write>) -> Result<(), Error> {
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
