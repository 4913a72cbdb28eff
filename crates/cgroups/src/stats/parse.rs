//! Parsers shared by the v1 and v2 readers.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use super::types::{BlkioEntry, Pids};
use crate::{fsutil, Error};

/// A number file, 0 when absent; "max" reads as `u64::MAX`.
pub(super) fn num(path: &Path) -> Result<u64, Error> {
    Ok(fsutil::read_u64_optional(path)?.unwrap_or(0))
}

/// A "key value" file as a map, empty when absent.
pub(super) fn flat_keyed(path: &Path) -> Result<BTreeMap<String, u64>, Error> {
    let content = fsutil::read_optional(path)?.unwrap_or_default();
    Ok(content
        .lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            let k = it.next()?;
            let v = it.next()?.parse().ok()?;
            Some((k.to_string(), v))
        })
        .collect())
}

/// "0-3,7" -> [0, 1, 2, 3, 7].
pub(super) fn cpu_list(s: &str) -> Vec<u16> {
    let mut out = Vec::new();
    for part in s.trim().split(',').filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                if let (Ok(a), Ok(b)) = (a.parse::<u16>(), b.parse::<u16>()) {
                    out.extend(a..=b);
                }
            }
            None => {
                if let Ok(v) = part.parse() {
                    out.push(v);
                }
            }
        }
    }
    out
}

/// Space-separated numbers (cpuacct.usage_percpu).
pub(super) fn num_list(path: &Path) -> Result<Vec<u64>, Error> {
    let content = fsutil::read_optional(path)?.unwrap_or_default();
    Ok(content
        .split_whitespace()
        .filter_map(|v| v.parse().ok())
        .collect())
}

/// v1 blkio "maj:min Op value" lines ("Total N" lines are skipped).
pub(super) fn blkio_entries(path: &Path) -> Result<Vec<BlkioEntry>, Error> {
    let content = fsutil::read_optional(path)?.unwrap_or_default();
    let mut out = Vec::new();
    for line in content.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() != 3 {
            continue;
        }
        let Some((maj, min)) = f[0].split_once(':') else {
            continue;
        };
        if let (Ok(major), Ok(minor), Ok(value)) = (maj.parse(), min.parse(), f[2].parse()) {
            out.push(BlkioEntry {
                major,
                minor,
                op: f[1].to_string(),
                value,
            });
        }
    }
    Ok(out)
}

pub(super) fn pids(dir: &Path, p: &mut Pids) -> Result<(), Error> {
    p.current = num(&dir.join("pids.current"))?;
    let max = num(&dir.join("pids.max"))?;
    p.limit = if max == u64::MAX { 0 } else { max };
    Ok(())
}

/// Huge page sizes the kernel has, in the cgroup file spelling ("2MB", "1GB").
pub(super) fn hugepage_sizes() -> Vec<String> {
    let Ok(entries) = fs::read_dir("/sys/kernel/mm/hugepages") else {
        return Vec::new();
    };
    let mut sizes: Vec<String> = entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let kb: u64 = name
                .strip_prefix("hugepages-")?
                .strip_suffix("kB")?
                .parse()
                .ok()?;
            Some(size_name(kb))
        })
        .collect();
    sizes.sort();
    sizes
}

fn size_name(kb: u64) -> String {
    if kb >= 1 << 20 && kb % (1 << 20) == 0 {
        format!("{}GB", kb >> 20)
    } else if kb >= 1 << 10 && kb % (1 << 10) == 0 {
        format!("{}MB", kb >> 10)
    } else {
        format!("{kb}KB")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists() {
        assert_eq!(cpu_list("0-3,7\n"), vec![0, 1, 2, 3, 7]);
        assert_eq!(cpu_list(""), Vec::<u16>::new());
        assert_eq!(cpu_list("1"), vec![1]);
    }

    #[test]
    fn size_names() {
        assert_eq!(size_name(2048), "2MB");
        assert_eq!(size_name(1 << 20), "1GB");
        assert_eq!(size_name(64), "64KB");
    }
}
