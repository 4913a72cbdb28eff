//! Resource limits as given on the command line, and their mapping to the OCI spec's
//! `linux.resources` (which berth_cgroups applies to the container's cgroup).

use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{
    LinuxBlockIo, LinuxCpu, LinuxMemory, LinuxPids, LinuxResources, LinuxThrottleDevice,
};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::units::parse_size;

/// CFS period used for `--cpus` (docker's).
pub const DEFAULT_CPU_PERIOD: u64 = 100_000;

/// `--device-write-bps /dev/sda:1mb` and friends.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceRate {
    pub path: PathBuf,
    pub rate: u64,
}

impl DeviceRate {
    /// `PATH:RATE`; bytes per second (with a size unit) or operations per second (`iops`).
    pub fn parse(option: &'static str, value: &str, iops: bool) -> Result<DeviceRate> {
        let bad = |reason: &str| Error::InvalidOption {
            option,
            value: value.to_string(),
            reason: reason.to_string(),
        };
        let (path, rate) = value
            .rsplit_once(':')
            .ok_or_else(|| bad("expected DEVICE:RATE"))?;
        if !path.starts_with('/') {
            return Err(bad("the device must be an absolute path"));
        }
        let rate = if iops {
            rate.parse().map_err(|_| bad("the rate must be a number"))?
        } else {
            parse_size(option, rate)?
        };
        Ok(DeviceRate {
            path: PathBuf::from(path),
            rate,
        })
    }

    fn throttle(&self) -> Result<LinuxThrottleDevice> {
        let (major, minor) = block_device_numbers(&self.path)?;
        oci_spec::runtime::LinuxThrottleDeviceBuilder::default()
            .major(major)
            .minor(minor)
            .rate(self.rate)
            .build()
            .map_err(|source| Error::Spec {
                what: "throttle device",
                source,
            })
    }
}

/// A block device's major and minor numbers (what the blkio controller is keyed by).
pub fn block_device_numbers(path: &Path) -> Result<(i64, i64)> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path).map_err(|source| Error::DeviceStat {
        path: path.to_path_buf(),
        source,
    })?;
    if !meta.file_type().is_block_device() {
        return Err(Error::NotBlockDevice {
            path: path.to_path_buf(),
        });
    }
    let rdev = meta.rdev();
    Ok((
        i64::from(rustix::fs::major(rdev)),
        i64::from(rustix::fs::minor(rdev)),
    ))
}

/// Every limit `run`, `create` and `update` accept. `None`/empty: not set (left as is by
/// `update`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Limits {
    pub memory: Option<i64>,
    /// Memory plus swap; -1 unlimited.
    pub memory_swap: Option<i64>,
    pub memory_reservation: Option<i64>,
    pub cpus: Option<f64>,
    pub cpu_shares: Option<u64>,
    pub cpu_quota: Option<i64>,
    pub cpu_period: Option<u64>,
    pub cpuset_cpus: Option<String>,
    pub pids_limit: Option<i64>,
    pub blkio_weight: Option<u16>,
    pub device_read_bps: Vec<DeviceRate>,
    pub device_write_bps: Vec<DeviceRate>,
    pub device_read_iops: Vec<DeviceRate>,
    pub device_write_iops: Vec<DeviceRate>,
}

impl Limits {
    /// Overlay `newer`'s settings on these (what `update` records).
    pub fn merge(&mut self, newer: &Limits) {
        macro_rules! take {
            ($($f:ident),*) => {$( if newer.$f.is_some() { self.$f = newer.$f.clone(); } )*};
        }
        take!(
            memory,
            memory_swap,
            memory_reservation,
            cpus,
            cpu_shares,
            cpu_quota,
            cpu_period,
            cpuset_cpus,
            pids_limit,
            blkio_weight
        );
        if newer.cpus.is_some() {
            self.cpu_quota = None;
            self.cpu_period = None;
        }
        macro_rules! devs {
            ($($f:ident),*) => {$(
                for d in &newer.$f {
                    self.$f.retain(|o| o.path != d.path);
                    self.$f.push(d.clone());
                }
            )*};
        }
        devs!(
            device_read_bps,
            device_write_bps,
            device_read_iops,
            device_write_iops
        );
    }

    pub fn is_empty(&self) -> bool {
        *self == Limits::default()
    }

    /// The OCI resources these limits mean. Devices are resolved to major:minor now.
    pub fn to_resources(&self) -> Result<LinuxResources> {
        let mut res = LinuxResources::default();
        if self.memory.is_some() || self.memory_swap.is_some() || self.memory_reservation.is_some()
        {
            let mut m = LinuxMemory::default();
            m.set_limit(self.memory);
            m.set_reservation(self.memory_reservation);
            // docker: with --memory alone, swap may be as much again (memory+swap = 2x).
            let swap = match (self.memory_swap, self.memory) {
                (Some(s), _) => Some(s),
                (None, Some(mem)) if mem > 0 => Some(mem.saturating_mul(2)),
                _ => None,
            };
            m.set_swap(swap);
            res.set_memory(Some(m));
        }
        let (quota, period) = match self.cpus {
            Some(cpus) => {
                let period = self.cpu_period.unwrap_or(DEFAULT_CPU_PERIOD);
                (Some((cpus * period as f64).round() as i64), Some(period))
            }
            None => (self.cpu_quota, self.cpu_period),
        };
        if quota.is_some()
            || period.is_some()
            || self.cpu_shares.is_some()
            || self.cpuset_cpus.is_some()
        {
            let mut c = LinuxCpu::default();
            c.set_quota(quota);
            c.set_period(period);
            c.set_shares(self.cpu_shares);
            c.set_cpus(self.cpuset_cpus.clone());
            res.set_cpu(Some(c));
        }
        if let Some(limit) = self.pids_limit {
            let mut p = LinuxPids::default();
            p.set_limit(limit);
            res.set_pids(Some(p));
        }
        let devs = |v: &[DeviceRate]| -> Result<Option<Vec<LinuxThrottleDevice>>> {
            if v.is_empty() {
                return Ok(None);
            }
            v.iter()
                .map(DeviceRate::throttle)
                .collect::<Result<_>>()
                .map(Some)
        };
        let rb = devs(&self.device_read_bps)?;
        let wb = devs(&self.device_write_bps)?;
        let ri = devs(&self.device_read_iops)?;
        let wi = devs(&self.device_write_iops)?;
        if self.blkio_weight.is_some()
            || rb.is_some()
            || wb.is_some()
            || ri.is_some()
            || wi.is_some()
        {
            let mut b = LinuxBlockIo::default();
            b.set_weight(self.blkio_weight);
            b.set_throttle_read_bps_device(rb);
            b.set_throttle_write_bps_device(wb);
            b.set_throttle_read_iops_device(ri);
            b.set_throttle_write_iops_device(wi);
            res.set_block_io(Some(b));
        }
        Ok(res)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpus_become_quota_over_period() {
        let l = Limits {
            cpus: Some(1.5),
            ..Default::default()
        };
        let r = l.to_resources().unwrap();
        let cpu = r.cpu().as_ref().unwrap();
        assert_eq!(cpu.quota(), Some(150_000));
        assert_eq!(cpu.period(), Some(100_000));
    }

    #[test]
    fn memory_alone_allows_as_much_swap() {
        let l = Limits {
            memory: Some(64 << 20),
            ..Default::default()
        };
        let r = l.to_resources().unwrap();
        assert_eq!(r.memory().as_ref().unwrap().swap(), Some(128 << 20));
    }

    #[test]
    fn device_rate_needs_a_block_device() {
        let d = DeviceRate::parse("--device-write-bps", "/dev/null:1mb", false).unwrap();
        assert_eq!(d.rate, 1 << 20);
        assert!(matches!(d.throttle(), Err(Error::NotBlockDevice { .. })));
        assert!(DeviceRate::parse("--device-write-bps", "sda:1mb", false).is_err());
    }

    #[test]
    fn merge_replaces_set_fields_only() {
        let mut a = Limits {
            memory: Some(1),
            pids_limit: Some(10),
            ..Default::default()
        };
        a.merge(&Limits {
            pids_limit: Some(20),
            ..Default::default()
        });
        assert_eq!(a.memory, Some(1));
        assert_eq!(a.pids_limit, Some(20));
    }
}
