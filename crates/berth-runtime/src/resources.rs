//! `update`'s flags (or `-r resources.json`) become OCI `LinuxResources`.

use std::io::Read;

use anyhow::{bail, Context, Result};
use oci_spec::runtime::{LinuxBlockIoBuilder, LinuxPidsBuilder, LinuxResources};

use crate::cli::UpdateArgs;

pub fn from_update_args(a: &UpdateArgs) -> Result<LinuxResources> {
    let mut res: LinuxResources = match &a.resources {
        Some(p) => {
            let mut data = Vec::new();
            if p.as_os_str() == "-" {
                std::io::stdin()
                    .read_to_end(&mut data)
                    .context("read resources from stdin")?;
            } else {
                data = std::fs::read(p).with_context(|| format!("read {}", p.display()))?;
            }
            serde_json::from_slice(&data).with_context(|| format!("parse {}", p.display()))?
        }
        None => LinuxResources::default(),
    };
    if a.l3_cache_schema.is_some() || a.mem_bw_schema.is_some() {
        bail!("Intel RDT (--l3-cache-schema, --mem-bw-schema) is not supported");
    }
    let mut cpu = res.cpu().clone().unwrap_or_default();
    let mut cpu_set = false;
    macro_rules! set {
        ($target:ident, $flag:expr, $setter:ident, $flagset:ident) => {
            if let Some(v) = $flag.clone() {
                $target.$setter(Some(v));
                $flagset = true;
            }
        };
    }
    set!(cpu, a.cpu_period, set_period, cpu_set);
    set!(cpu, a.cpu_quota, set_quota, cpu_set);
    set!(cpu, a.cpu_share, set_shares, cpu_set);
    set!(cpu, a.cpu_rt_period, set_realtime_period, cpu_set);
    set!(cpu, a.cpu_rt_runtime, set_realtime_runtime, cpu_set);
    set!(cpu, a.cpuset_cpus, set_cpus, cpu_set);
    set!(cpu, a.cpuset_mems, set_mems, cpu_set);
    if cpu_set {
        res.set_cpu(Some(cpu));
    }
    let mut mem = res.memory().unwrap_or_default();
    let mut mem_set = false;
    if let Some(m) = &a.memory {
        mem.set_limit(Some(parse_bytes(m)?));
        mem_set = true;
    }
    if let Some(m) = &a.memory_reservation {
        mem.set_reservation(Some(parse_bytes(m)?));
        mem_set = true;
    }
    if let Some(m) = &a.memory_swap {
        mem.set_swap(Some(parse_bytes(m)?));
        mem_set = true;
    }
    if mem_set {
        res.set_memory(Some(mem));
    }
    if let Some(p) = a.pids_limit {
        res.set_pids(Some(LinuxPidsBuilder::default().limit(p).build()?));
    }
    if let Some(w) = a.blkio_weight {
        let mut b = res
            .block_io()
            .clone()
            .unwrap_or_else(|| LinuxBlockIoBuilder::default().build().unwrap_or_default());
        b.set_weight(Some(w));
        res.set_block_io(Some(b));
    }
    Ok(res)
}

/// Sizes as runc and docker take them: `1048576`, `512k`, `64m`, `2g`, `-1`.
pub fn parse_bytes(s: &str) -> Result<i64> {
    let t = s.trim();
    if t == "-1" {
        return Ok(-1);
    }
    let lower = t.to_ascii_lowercase();
    let lower = lower.trim_end_matches('b');
    let (num, mult) = match lower.chars().last() {
        Some('k') => (&lower[..lower.len() - 1], 1i64 << 10),
        Some('m') => (&lower[..lower.len() - 1], 1 << 20),
        Some('g') => (&lower[..lower.len() - 1], 1 << 30),
        Some('t') => (&lower[..lower.len() - 1], 1 << 40),
        _ => (lower, 1),
    };
    let n: f64 = num.parse().with_context(|| {
        format!("invalid size {s:?}: expected a number with an optional k, m, g or t suffix")
    })?;
    if n < 0.0 {
        bail!("invalid size {s:?}: negative");
    }
    Ok((n * mult as f64) as i64)
}

#[cfg(test)]
mod tests {
    use super::parse_bytes;

    #[test]
    fn sizes() {
        assert_eq!(parse_bytes("1024").unwrap(), 1024);
        assert_eq!(parse_bytes("64m").unwrap(), 64 << 20);
        assert_eq!(parse_bytes("2G").unwrap(), 2 << 30);
        assert_eq!(parse_bytes("512kb").unwrap(), 512 << 10);
        assert_eq!(parse_bytes("-1").unwrap(), -1);
        assert!(parse_bytes("lots").is_err());
    }
}
