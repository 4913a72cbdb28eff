//! cpu.* knobs (cpu and cpuset controllers).

use oci_spec::runtime::LinuxCpu;

use super::{convert, Layout, Version, Write};
use crate::Error;

pub(super) fn plan(c: &LinuxCpu, layout: &Layout, w: &mut Vec<Write>) -> Result<(), Error> {
    let wants_cpu = c.shares().is_some_and(|s| s != 0)
        || c.quota().is_some_and(|q| q != 0)
        || c.period().is_some_and(|p| p != 0)
        || c.burst().is_some()
        || c.realtime_period().is_some_and(|p| p != 0)
        || c.realtime_runtime().is_some_and(|r| r != 0)
        || c.idle().is_some();
    if wants_cpu {
        match layout.place("cpu", "cpu")? {
            Version::V1 => cpu_v1(c, w)?,
            Version::V2 => cpu_v2(c, w)?,
        }
    }
    let cpus = c.cpus().as_deref().filter(|s| !s.is_empty());
    let mems = c.mems().as_deref().filter(|s| !s.is_empty());
    if cpus.is_some() || mems.is_some() {
        let v = layout.place("cpu.cpus", "cpuset")?;
        if let Some(cpus) = cpus {
            w.push(Write::new("cpu.cpus", v, "cpuset", "cpuset.cpus", cpus));
        }
        if let Some(mems) = mems {
            w.push(Write::new("cpu.mems", v, "cpuset", "cpuset.mems", mems));
        }
    }
    Ok(())
}

fn check_shares(shares: u64) -> Result<(), Error> {
    if !(2..=262_144).contains(&shares) {
        return Err(Error::InvalidValue {
            knob: "cpu.shares",
            value: shares.to_string(),
            reason: "must be between 2 and 262144",
        });
    }
    Ok(())
}

fn cpu_v1(c: &LinuxCpu, w: &mut Vec<Write>) -> Result<(), Error> {
    let v = Version::V1;
    if let Some(s) = c.shares().filter(|s| *s != 0) {
        check_shares(s)?;
        w.push(Write::new(
            "cpu.shares",
            v,
            "cpu",
            "cpu.shares",
            s.to_string(),
        ));
    }
    // Period first: a quota is validated against the period in force.
    if let Some(p) = c.period().filter(|p| *p != 0) {
        w.push(Write::new(
            "cpu.period",
            v,
            "cpu",
            "cpu.cfs_period_us",
            p.to_string(),
        ));
    }
    if let Some(q) = c.quota().filter(|q| *q != 0) {
        w.push(Write::new(
            "cpu.quota",
            v,
            "cpu",
            "cpu.cfs_quota_us",
            q.to_string(),
        ));
    }
    if let Some(b) = c.burst() {
        w.push(
            Write::new("cpu.burst", v, "cpu", "cpu.cfs_burst_us", b.to_string())
                .hint("CFS burst needs Linux 5.14"),
        );
    }
    // The RT period before the runtime: the runtime must fit the period.
    if let Some(p) = c.realtime_period().filter(|p| *p != 0) {
        w.push(
            Write::new(
                "cpu.realtimePeriod",
                v,
                "cpu",
                "cpu.rt_period_us",
                p.to_string(),
            )
            .hint("the kernel lacks CONFIG_RT_GROUP_SCHED"),
        );
    }
    if let Some(r) = c.realtime_runtime().filter(|r| *r != 0) {
        w.push(
            Write::new(
                "cpu.realtimeRuntime",
                v,
                "cpu",
                "cpu.rt_runtime_us",
                r.to_string(),
            )
            .hint("the kernel lacks CONFIG_RT_GROUP_SCHED"),
        );
    }
    if let Some(i) = c.idle() {
        w.push(
            Write::new("cpu.idle", v, "cpu", "cpu.idle", i.to_string())
                .hint("SCHED_IDLE cgroups need Linux 5.15"),
        );
    }
    Ok(())
}

fn cpu_v2(c: &LinuxCpu, w: &mut Vec<Write>) -> Result<(), Error> {
    let v = Version::V2;
    if c.realtime_period().is_some_and(|p| p != 0) || c.realtime_runtime().is_some_and(|r| r != 0) {
        return Err(Error::InvalidValue {
            knob: "cpu.realtimeRuntime",
            value: format!("{:?}/{:?}", c.realtime_runtime(), c.realtime_period()),
            reason: "realtime group scheduling is not available on cgroup v2",
        });
    }
    if let Some(s) = c.shares().filter(|s| *s != 0) {
        check_shares(s)?;
        let weight = convert::cpu_shares_to_weight(s);
        w.push(Write::new(
            "cpu.shares",
            v,
            "cpu",
            "cpu.weight",
            weight.to_string(),
        ));
    }
    let quota = c.quota().filter(|q| *q != 0);
    let period = c.period().filter(|p| *p != 0);
    if quota.is_some() || period.is_some() {
        let mut value = match quota {
            Some(q) if q > 0 => q.to_string(),
            _ => "max".to_string(),
        };
        if let Some(p) = period {
            value.push(' ');
            value.push_str(&p.to_string());
        }
        w.push(Write::new("cpu.quota", v, "cpu", "cpu.max", value));
    }
    if let Some(b) = c.burst() {
        w.push(
            Write::new("cpu.burst", v, "cpu", "cpu.max.burst", b.to_string())
                .hint("cpu.max.burst needs Linux 5.14"),
        );
    }
    if let Some(i) = c.idle() {
        w.push(
            Write::new("cpu.idle", v, "cpu", "cpu.idle", i.to_string())
                .hint("cpu.idle needs Linux 5.15"),
        );
    }
    Ok(())
}
