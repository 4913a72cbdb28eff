//! The resource table: every OCI `linux.resources` knob and the cgroup v1 and v2 files it
//! maps to, as pure functions from [`LinuxResources`] to a list of [`Write`]s.
//!
//! | OCI knob                     | cgroup v1 file                          | cgroup v2 file                        |
//! |------------------------------|-----------------------------------------|---------------------------------------|
//! | memory.limit                 | memory.limit_in_bytes                   | memory.max                            |
//! | memory.reservation           | memory.soft_limit_in_bytes              | memory.low                            |
//! | memory.swap (mem+swap)       | memory.memsw.limit_in_bytes             | memory.swap.max (= swap - limit)      |
//! | memory.swappiness            | memory.swappiness                       | error (no per-cgroup swappiness)      |
//! | memory.disableOOMKiller      | memory.oom_control                      | error when true                       |
//! | memory.useHierarchy          | memory.use_hierarchy                    | ignored (always hierarchical)         |
//! | memory.kernel, kernelTCP     | ignored: kernel memory limits are obsolete since Linux 5.4 and gone in 6.x |
//! | cpu.shares                   | cpu.shares                              | cpu.weight (runc's log-quadratic map) |
//! | cpu.period / cpu.quota       | cpu.cfs_period_us, cpu.cfs_quota_us     | cpu.max ("quota period")              |
//! | cpu.burst                    | cpu.cfs_burst_us                        | cpu.max.burst                         |
//! | cpu.realtimePeriod/Runtime   | cpu.rt_period_us, cpu.rt_runtime_us     | error (no RT group scheduling in v2)  |
//! | cpu.idle                     | cpu.idle                                | cpu.idle                              |
//! | cpu.cpus / cpu.mems          | cpuset.cpus, cpuset.mems                | cpuset.cpus, cpuset.mems              |
//! | pids.limit                   | pids.max                                | pids.max                              |
//! | blockIO.weight               | blkio.weight, else blkio.bfq.weight     | io.bfq.weight, else io.weight (scaled)|
//! | blockIO.leafWeight           | blkio.leaf_weight (CFQ only)            | error                                 |
//! | blockIO.weightDevice         | blkio[.bfq].weight_device, leaf_weight_device | io.bfq.weight / io.weight "M:m w" |
//! | blockIO.throttle*Device      | blkio.throttle.{read,write}_{bps,iops}_device | io.max "M:m rbps= wbps= riops= wiops=" |
//! | hugepageLimits               | hugetlb.<size>.limit_in_bytes (+rsvd)   | hugetlb.<size>.max (+rsvd)            |
//! | network.classID              | net_cls.classid                         | error (use eBPF)                      |
//! | network.priorities           | net_prio.ifpriomap                      | error (use eBPF)                      |
//! | rdma                         | rdma.max                                | rdma.max                              |
//! | devices                      | devices.deny "a", then devices.allow/deny in order | eBPF BPF_PROG_TYPE_CGROUP_DEVICE |
//! | unified                      | error                                   | key/value written verbatim            |
//!
//! Which version a controller uses is decided per controller by [`Layout`]: on a hybrid
//! host a controller that is not mounted as v1 but is offered by the cgroup2 tree (hugetlb
//! on some hosts) is driven through its v2 files.
//!
//! Only knobs the configuration sets produce writes: the start path writes nothing else.

mod blkio;
mod convert;
mod cpu;
mod hugetlb;
mod memory;
mod network;
mod pids;
mod rdma;
mod unified;

use std::collections::BTreeSet;

use oci_spec::runtime::LinuxResources;

use crate::devices::Rule;
use crate::Error;

pub use convert::{blkio_weight_to_io_weight, cpu_shares_to_weight, swap_to_v2};

/// cgroup version a write goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    V1,
    V2,
}

/// One file write the table asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Write {
    /// The OCI knob this write implements, for error messages ("memory.swap").
    pub knob: &'static str,
    pub version: Version,
    /// v1: the hierarchy whose directory holds the file; v2: the controller that must be
    /// enabled for the file to exist ("" for core files).
    pub controller: &'static str,
    pub file: String,
    pub value: String,
    /// Tried when `file` does not exist (e.g. blkio.weight -> blkio.bfq.weight).
    pub fallback: Option<(String, String)>,
    /// Skip silently when the file does not exist (e.g. hugetlb rsvd limits on old kernels).
    pub optional: bool,
    /// Why the file may be missing, shown to the user.
    pub hint: &'static str,
}

impl Write {
    pub(crate) fn new(
        knob: &'static str,
        version: Version,
        controller: &'static str,
        file: impl Into<String>,
        value: impl Into<String>,
    ) -> Self {
        Write {
            knob,
            version,
            controller,
            file: file.into(),
            value: value.into(),
            fallback: None,
            optional: false,
            hint: "not supported by this kernel",
        }
    }

    pub(crate) fn fallback(mut self, file: impl Into<String>, value: impl Into<String>) -> Self {
        self.fallback = Some((file.into(), value.into()));
        self
    }

    pub(crate) fn optional(mut self) -> Self {
        self.optional = true;
        self
    }

    pub(crate) fn hint(mut self, hint: &'static str) -> Self {
        self.hint = hint;
        self
    }
}

/// What the host offers, as far as the table needs to know: no I/O happens here.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Layout {
    /// Mounted v1 controllers.
    pub v1: BTreeSet<String>,
    /// Controllers the cgroup2 tree offers (its root's cgroup.controllers), when there is one.
    pub v2: Option<BTreeSet<String>>,
}

impl Layout {
    /// The version that drives `controller`: v1 if it is mounted there, else v2 if the
    /// cgroup2 tree offers it.
    pub fn place(&self, knob: &'static str, controller: &'static str) -> Result<Version, Error> {
        if self.v1.contains(controller) {
            return Ok(Version::V1);
        }
        let v2_name = if controller == "blkio" {
            "io"
        } else {
            controller
        };
        match &self.v2 {
            Some(v2) if v2.contains(v2_name) => Ok(Version::V2),
            _ => Err(Error::ControllerMissing { knob, controller }),
        }
    }

    /// Whether this is a pure cgroup v2 host.
    pub fn is_unified(&self) -> bool {
        self.v1.is_empty() && self.v2.is_some()
    }
}

/// Everything `apply` has to do for one [`LinuxResources`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// File writes, in order.
    pub writes: Vec<Write>,
    /// Device rules to enforce with an eBPF program on the v2 directory (pure v2 hosts).
    pub v2_devices: Option<Vec<Rule>>,
}

/// Maps `res` to the writes (and eBPF device rules) that implement it on `layout`.
pub fn plan(res: &LinuxResources, layout: &Layout) -> Result<Plan, Error> {
    let mut plan = Plan::default();
    let w = &mut plan.writes;
    if let Some(devices) = res.devices() {
        let rules = devices
            .iter()
            .map(Rule::from_oci)
            .collect::<Result<Vec<_>, _>>()?;
        if layout.v1.contains("devices") {
            w.extend(crate::devices::v1_writes(&rules));
        } else if layout.v2.is_some() {
            plan.v2_devices = Some(rules);
        } else {
            return Err(Error::ControllerMissing {
                knob: "devices",
                controller: "devices",
            });
        }
    }
    if let Some(m) = res.memory() {
        memory::plan(m, layout, w)?;
    }
    if let Some(c) = res.cpu() {
        cpu::plan(c, layout, w)?;
    }
    if let Some(p) = res.pids() {
        pids::plan(p, layout, w)?;
    }
    if let Some(b) = res.block_io() {
        blkio::plan(b, layout, w)?;
    }
    if let Some(h) = res.hugepage_limits() {
        hugetlb::plan(h, layout, w)?;
    }
    if let Some(n) = res.network() {
        network::plan(n, layout, w)?;
    }
    if let Some(r) = res.rdma() {
        rdma::plan(r, layout, w)?;
    }
    if let Some(u) = res.unified() {
        unified::plan(u, layout, w)?;
    }
    Ok(plan)
}

/// A name that cannot smuggle a second field or line into a cgroup file.
fn plain_name(s: &str) -> bool {
    !s.is_empty() && !s.chars().any(|c| c.is_whitespace() || c.is_control())
}

#[cfg(test)]
mod tests;
