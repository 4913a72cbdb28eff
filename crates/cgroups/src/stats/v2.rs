//! cgroup v2 statistics files.

use std::collections::BTreeMap;
use std::path::Path;

use super::parse::{cpu_list, flat_keyed, hugepage_sizes, num};
use super::types::{Blkio, BlkioEntry, Cpu, CpuSet, Hugetlb, Memory};
use crate::{fsutil, Error};

pub(super) fn cpu(dir: &Path, cpu: &mut Cpu) -> Result<(), Error> {
    let stat = flat_keyed(&dir.join("cpu.stat"))?;
    let get = |k: &str| stat.get(k).copied().unwrap_or(0);
    cpu.usage.total = get("usage_usec") * 1000;
    cpu.usage.user = get("user_usec") * 1000;
    cpu.usage.kernel = get("system_usec") * 1000;
    cpu.throttling.periods = get("nr_periods");
    cpu.throttling.throttled_periods = get("nr_throttled");
    cpu.throttling.throttled_time = get("throttled_usec") * 1000;
    Ok(())
}

pub(super) fn cpuset(dir: &Path, c: &mut CpuSet) -> Result<(), Error> {
    let text = |f: &str| -> Result<String, Error> {
        Ok(fsutil::read_optional(&dir.join(f))?.unwrap_or_default())
    };
    c.cpus = cpu_list(&text("cpuset.cpus.effective")?);
    c.mems = cpu_list(&text("cpuset.mems.effective")?);
    Ok(())
}

pub(super) fn memory(dir: &Path, m: &mut Memory) -> Result<(), Error> {
    m.raw = flat_keyed(&dir.join("memory.stat"))?;
    m.cache = m.raw.get("file").copied().unwrap_or(0);
    let events = flat_keyed(&dir.join("memory.events"))?;
    m.usage.usage = num(&dir.join("memory.current"))?;
    m.usage.limit = num(&dir.join("memory.max"))?;
    m.usage.max = num(&dir.join("memory.peak"))?;
    m.usage.failcnt = events.get("max").copied().unwrap_or(0);
    m.swap.usage = num(&dir.join("memory.swap.current"))?;
    m.swap.limit = num(&dir.join("memory.swap.max"))?;
    m.swap.max = num(&dir.join("memory.swap.peak"))?;
    Ok(())
}

/// io.stat: "maj:min rbytes=N wbytes=N rios=N wios=N dbytes=N dios=N".
pub(super) fn io(dir: &Path, b: &mut Blkio) -> Result<(), Error> {
    let content = fsutil::read_optional(&dir.join("io.stat"))?.unwrap_or_default();
    for line in content.lines() {
        let mut fields = line.split_whitespace();
        let Some((maj, min)) = fields.next().and_then(|d| d.split_once(':')) else {
            continue;
        };
        let (Ok(major), Ok(minor)) = (maj.parse::<u64>(), min.parse::<u64>()) else {
            continue;
        };
        for kv in fields {
            let Some((k, v)) = kv.split_once('=') else {
                continue;
            };
            let Ok(value) = v.parse::<u64>() else {
                continue;
            };
            let (list, op) = match k {
                "rbytes" => (&mut b.io_service_bytes_recursive, "Read"),
                "wbytes" => (&mut b.io_service_bytes_recursive, "Write"),
                "rios" => (&mut b.io_serviced_recursive, "Read"),
                "wios" => (&mut b.io_serviced_recursive, "Write"),
                _ => continue,
            };
            list.push(BlkioEntry {
                major,
                minor,
                op: op.into(),
                value,
            });
        }
    }
    Ok(())
}

pub(super) fn hugetlb(dir: &Path, h: &mut BTreeMap<String, Hugetlb>) -> Result<(), Error> {
    for size in hugepage_sizes() {
        let events = flat_keyed(&dir.join(format!("hugetlb.{size}.events")))?;
        let failcnt = events.get("max").copied().unwrap_or(0);
        h.insert(
            size.clone(),
            Hugetlb {
                usage: num(&dir.join(format!("hugetlb.{size}.current")))?,
                max: failcnt,
                failcnt,
            },
        );
    }
    Ok(())
}
