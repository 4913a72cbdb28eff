//! Which cgroup layout the host uses.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::Error;

/// The three layouts a Linux host can have.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Hierarchy {
    /// Only cgroup v1 hierarchies.
    Legacy,
    /// cgroup v1 controllers plus a cgroup2 tree (usually /sys/fs/cgroup/unified) that may
    /// hold some controllers (hugetlb on some hosts) and always has freeze/kill/eBPF.
    Hybrid,
    /// Only cgroup v2, mounted at /sys/fs/cgroup.
    Unified,
}

const CGROUP_ROOT: &str = "/sys/fs/cgroup";
const CGROUP2_SUPER_MAGIC: u64 = 0x6367_7270;

fn is_cgroup2(path: &Path) -> Result<bool, Error> {
    match rustix::fs::statfs(path) {
        Ok(st) => Ok(st.f_type as u64 == CGROUP2_SUPER_MAGIC),
        Err(rustix::io::Errno::NOENT) => Ok(false),
        Err(e) => Err(Error::Statfs {
            path: path.to_path_buf(),
            source: e.into(),
        }),
    }
}

/// Detects the layout from the file system type of /sys/fs/cgroup (and of
/// /sys/fs/cgroup/unified), as runc and systemd do.
pub fn detect() -> Result<Hierarchy, Error> {
    let root = PathBuf::from(CGROUP_ROOT);
    if is_cgroup2(&root)? {
        return Ok(Hierarchy::Unified);
    }
    if is_cgroup2(&root.join("unified"))? {
        return Ok(Hierarchy::Hybrid);
    }
    Ok(Hierarchy::Legacy)
}
