//! cgroup v1 statistics files.

use std::collections::BTreeMap;
use std::path::Path;

use super::parse::{blkio_entries, cpu_list, flat_keyed, hugepage_sizes, num, num_list};
use super::types::{Blkio, Cpu, CpuSet, Hugetlb, Memory, MemoryEntry};
use crate::{fsutil, Error};

pub(super) fn cpuacct(dir: &Path, cpu: &mut Cpu) -> Result<(), Error> {
    let u = &mut cpu.usage;
    u.total = num(&dir.join("cpuacct.usage"))?;
    u.percpu = num_list(&dir.join("cpuacct.usage_percpu"))?;
    u.percpu_kernel = num_list(&dir.join("cpuacct.usage_percpu_sys"))?;
    u.percpu_user = num_list(&dir.join("cpuacct.usage_percpu_user"))?;
    // cpuacct.stat is in clock ticks.
    let stat = flat_keyed(&dir.join("cpuacct.stat"))?;
    let tick_ns = 1_000_000_000 / rustix::param::clock_ticks_per_second().max(1);
    u.user = stat.get("user").copied().unwrap_or(0) * tick_ns;
    u.kernel = stat.get("system").copied().unwrap_or(0) * tick_ns;
    Ok(())
}

pub(super) fn cpu_throttling(dir: &Path, cpu: &mut Cpu) -> Result<(), Error> {
    let stat = flat_keyed(&dir.join("cpu.stat"))?;
    cpu.throttling.periods = stat.get("nr_periods").copied().unwrap_or(0);
    cpu.throttling.throttled_periods = stat.get("nr_throttled").copied().unwrap_or(0);
    cpu.throttling.throttled_time = stat.get("throttled_time").copied().unwrap_or(0);
    Ok(())
}

pub(super) fn cpuset(dir: &Path, c: &mut CpuSet) -> Result<(), Error> {
    let text = |f: &str| -> Result<String, Error> {
        Ok(fsutil::read_optional(&dir.join(f))?.unwrap_or_default())
    };
    c.cpus = cpu_list(&text("cpuset.cpus")?);
    c.mems = cpu_list(&text("cpuset.mems")?);
    c.cpu_exclusive = num(&dir.join("cpuset.cpu_exclusive"))?;
    c.mem_exclusive = num(&dir.join("cpuset.mem_exclusive"))?;
    c.mem_hardwall = num(&dir.join("cpuset.mem_hardwall"))?;
    c.memory_migrate = num(&dir.join("cpuset.memory_migrate"))?;
    c.memory_spread_page = num(&dir.join("cpuset.memory_spread_page"))?;
    c.memory_spread_slab = num(&dir.join("cpuset.memory_spread_slab"))?;
    c.memory_pressure = num(&dir.join("cpuset.memory_pressure"))?;
    c.sched_load_balance = num(&dir.join("cpuset.sched_load_balance"))?;
    c.sched_relax_domain_level = text("cpuset.sched_relax_domain_level")?
        .trim()
        .parse()
        .unwrap_or(0);
    Ok(())
}

fn memory_entry(dir: &Path, prefix: &str) -> Result<MemoryEntry, Error> {
    let f = |name: &str| dir.join(format!("{prefix}.{name}"));
    Ok(MemoryEntry {
        limit: num(&f("limit_in_bytes"))?,
        usage: num(&f("usage_in_bytes"))?,
        max: num(&f("max_usage_in_bytes"))?,
        failcnt: num(&f("failcnt"))?,
    })
}

pub(super) fn memory(dir: &Path, m: &mut Memory) -> Result<(), Error> {
    m.raw = flat_keyed(&dir.join("memory.stat"))?;
    m.cache = m.raw.get("cache").copied().unwrap_or(0);
    m.usage = memory_entry(dir, "memory")?;
    m.swap = memory_entry(dir, "memory.memsw")?;
    m.kernel = memory_entry(dir, "memory.kmem")?;
    m.kernel_tcp = memory_entry(dir, "memory.kmem.tcp")?;
    Ok(())
}

pub(super) fn blkio(dir: &Path, b: &mut Blkio) -> Result<(), Error> {
    b.io_service_bytes_recursive =
        blkio_entries(&dir.join("blkio.throttle.io_service_bytes_recursive"))?;
    b.io_serviced_recursive = blkio_entries(&dir.join("blkio.throttle.io_serviced_recursive"))?;
    if b.io_service_bytes_recursive.is_empty() {
        b.io_service_bytes_recursive =
            blkio_entries(&dir.join("blkio.bfq.io_service_bytes_recursive"))?;
        b.io_serviced_recursive = blkio_entries(&dir.join("blkio.bfq.io_serviced_recursive"))?;
    }
    Ok(())
}

pub(super) fn hugetlb(dir: &Path, h: &mut BTreeMap<String, Hugetlb>) -> Result<(), Error> {
    for size in hugepage_sizes() {
        let f = |name: &str| dir.join(format!("hugetlb.{size}.{name}"));
        h.insert(
            size.clone(),
            Hugetlb {
                usage: num(&f("usage_in_bytes"))?,
                max: num(&f("max_usage_in_bytes"))?,
                failcnt: num(&f("failcnt"))?,
            },
        );
    }
    Ok(())
}
