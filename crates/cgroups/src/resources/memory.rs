//! memory.* knobs.

use oci_spec::runtime::LinuxMemory;

use super::{convert, Layout, Version, Write};
use crate::Error;

const C: &str = "memory";

fn limit_value(v: i64, version: Version) -> String {
    match (version, v) {
        (Version::V2, v) if v < 0 => "max".into(),
        (_, v) => v.to_string(),
    }
}

#[allow(deprecated)] // `kernel` is read only to document that it is ignored
pub(super) fn plan(m: &LinuxMemory, layout: &Layout, w: &mut Vec<Write>) -> Result<(), Error> {
    let any = m.limit().is_some()
        || m.reservation().is_some()
        || m.swap().is_some()
        || m.swappiness().is_some()
        || m.disable_oom_killer() == Some(true)
        || m.use_hierarchy().is_some();
    if !any {
        // kernel / kernelTCP alone: obsolete since Linux 5.4 (and removed from 6.x), ignored
        // like runc does; checkBeforeUpdate is a check, not a file.
        let _ = (m.kernel(), m.kernel_tcp());
        return Ok(());
    }
    let v = layout.place("memory", C)?;
    match v {
        Version::V1 => v1(m, w),
        Version::V2 => v2(m, w),
    }
}

fn v1(m: &LinuxMemory, w: &mut Vec<Write>) -> Result<(), Error> {
    let v = Version::V1;
    if let Some(l) = m.limit() {
        w.push(Write::new(
            "memory.limit",
            v,
            C,
            "memory.limit_in_bytes",
            l.to_string(),
        ));
    }
    match (m.swap(), m.limit()) {
        (Some(s), limit) => {
            if let Some(l) = limit {
                if s > 0 && l > 0 && s < l {
                    return Err(Error::InvalidValue {
                        knob: "memory.swap",
                        value: s.to_string(),
                        reason: "memory+swap limit must be >= memory limit",
                    });
                }
            }
            w.push(
                Write::new(
                    "memory.swap",
                    v,
                    C,
                    "memory.memsw.limit_in_bytes",
                    s.to_string(),
                )
                .hint("swap accounting is not enabled (boot with swapaccount=1)"),
            );
        }
        // runc: an unlimited memory limit without an explicit swap lifts the swap limit too.
        (None, Some(-1)) => {
            w.push(Write::new("memory.limit", v, C, "memory.memsw.limit_in_bytes", "-1").optional())
        }
        (None, _) => {}
    }
    if let Some(r) = m.reservation() {
        w.push(Write::new(
            "memory.reservation",
            v,
            C,
            "memory.soft_limit_in_bytes",
            r.to_string(),
        ));
    }
    if let Some(s) = m.swappiness() {
        if s > 100 {
            return Err(Error::InvalidValue {
                knob: "memory.swappiness",
                value: s.to_string(),
                reason: "must be between 0 and 100",
            });
        }
        w.push(Write::new(
            "memory.swappiness",
            v,
            C,
            "memory.swappiness",
            s.to_string(),
        ));
    }
    if m.disable_oom_killer() == Some(true) {
        w.push(Write::new(
            "memory.disableOOMKiller",
            v,
            C,
            "memory.oom_control",
            "1",
        ));
    }
    if let Some(h) = m.use_hierarchy() {
        w.push(
            Write::new(
                "memory.useHierarchy",
                v,
                C,
                "memory.use_hierarchy",
                if h { "1" } else { "0" },
            )
            .hint("the kernel no longer supports non-hierarchical memory cgroups"),
        );
    }
    Ok(())
}

fn v2(m: &LinuxMemory, w: &mut Vec<Write>) -> Result<(), Error> {
    let v = Version::V2;
    if m.swappiness().is_some() {
        return Err(Error::InvalidValue {
            knob: "memory.swappiness",
            value: format!("{:?}", m.swappiness()),
            reason: "cgroup v2 has no per-cgroup swappiness",
        });
    }
    if m.disable_oom_killer() == Some(true) {
        return Err(Error::InvalidValue {
            knob: "memory.disableOOMKiller",
            value: "true".into(),
            reason: "cgroup v2 cannot disable the OOM killer",
        });
    }
    if let Some(l) = m.limit() {
        w.push(Write::new(
            "memory.limit",
            v,
            C,
            "memory.max",
            limit_value(l, v),
        ));
    }
    match (m.swap(), m.limit()) {
        (Some(s), limit) => {
            let value = convert::swap_to_v2(s, limit).map_err(|reason| Error::InvalidValue {
                knob: "memory.swap",
                value: s.to_string(),
                reason,
            })?;
            w.push(
                Write::new("memory.swap", v, C, "memory.swap.max", value)
                    .hint("swap accounting is not enabled (boot with swapaccount=1)"),
            );
        }
        (None, Some(-1)) => {
            w.push(Write::new("memory.limit", v, C, "memory.swap.max", "max").optional())
        }
        (None, _) => {}
    }
    if let Some(r) = m.reservation() {
        w.push(Write::new(
            "memory.reservation",
            v,
            C,
            "memory.low",
            limit_value(r, v),
        ));
    }
    Ok(())
}
