//! Resource usage of a cgroup, read into runc's `events --stats` types.

mod parse;
mod types;
mod v1;
mod v2;

pub use types::*;

use crate::resources::Version;
use crate::{Error, Manager};

impl Manager {
    /// Usage statistics of every controller the cgroup has. A controller the host lacks
    /// leaves its part at zero.
    pub fn stats(&self) -> Result<Stats, Error> {
        let mut s = Stats::default();
        let place = |c: &'static str| self.layout().place("stats", c).ok();
        let v2 = self.v2_dir();
        match place("cpu") {
            Some(Version::V1) => {
                if let Some(d) = self.v1_dir("cpuacct") {
                    v1::cpuacct(d, &mut s.cpu)?;
                }
                if let Some(d) = self.v1_dir("cpu") {
                    v1::cpu_throttling(d, &mut s.cpu)?;
                }
            }
            Some(Version::V2) => {
                if let Some(d) = v2 {
                    v2::cpu(d, &mut s.cpu)?;
                }
            }
            None => {}
        }
        match (place("cpuset"), self.v1_dir("cpuset"), v2) {
            (Some(Version::V1), Some(d), _) => v1::cpuset(d, &mut s.cpuset)?,
            (Some(Version::V2), _, Some(d)) => v2::cpuset(d, &mut s.cpuset)?,
            _ => {}
        }
        match (place("memory"), self.v1_dir("memory"), v2) {
            (Some(Version::V1), Some(d), _) => v1::memory(d, &mut s.memory)?,
            (Some(Version::V2), _, Some(d)) => v2::memory(d, &mut s.memory)?,
            _ => {}
        }
        match (place("pids"), self.v1_dir("pids"), v2) {
            (Some(Version::V1), Some(d), _) | (Some(Version::V2), _, Some(d)) => {
                parse::pids(d, &mut s.pids)?
            }
            _ => {}
        }
        match (place("blkio"), self.v1_dir("blkio"), v2) {
            (Some(Version::V1), Some(d), _) => v1::blkio(d, &mut s.blkio)?,
            (Some(Version::V2), _, Some(d)) => v2::io(d, &mut s.blkio)?,
            _ => {}
        }
        match (place("hugetlb"), self.v1_dir("hugetlb"), v2) {
            (Some(Version::V1), Some(d), _) => v1::hugetlb(d, &mut s.hugetlb)?,
            (Some(Version::V2), _, Some(d)) => v2::hugetlb(d, &mut s.hugetlb)?,
            _ => {}
        }
        Ok(s)
    }
}
