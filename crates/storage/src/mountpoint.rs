//! Is this path a mount point, and of which block device? One `statx` each, instead of
//! parsing the whole mount table on the container start path (it grows with every
//! container on the host).

use std::path::{Path, PathBuf};

use rustix::fs::{statx, AtFlags, StatxAttributes, StatxFlags, CWD};

use crate::error::Error;

fn stat(path: &Path) -> Result<rustix::fs::Statx, Error> {
    statx(
        CWD,
        path,
        AtFlags::SYMLINK_NOFOLLOW,
        StatxFlags::BASIC_STATS,
    )
    .map_err(|e| Error::Stat {
        path: path.to_owned(),
        source: e.into(),
    })
}

/// Whether `path` is the root of a mount (Linux 5.8: STATX_ATTR_MOUNT_ROOT).
pub fn is_mount_root(path: &Path) -> Result<bool, Error> {
    let st = stat(path)?;
    let root = StatxAttributes::MOUNT_ROOT;
    Ok(st.stx_attributes_mask.contains(root) && st.stx_attributes.contains(root))
}

/// The block device (`/dev/loopN`) holding the file system mounted at `path`.
pub fn device_of(path: &Path) -> Result<PathBuf, Error> {
    let st = stat(path)?;
    let uevent = PathBuf::from(format!(
        "/sys/dev/block/{}:{}/uevent",
        st.stx_dev_major, st.stx_dev_minor
    ));
    let text = std::fs::read_to_string(&uevent).map_err(|source| Error::ReadFile {
        path: uevent.clone(),
        source,
    })?;
    text.lines()
        .find_map(|l| l.strip_prefix("DEVNAME="))
        .map(|name| Path::new("/dev").join(name))
        .ok_or_else(|| Error::ReadFile {
            path: uevent,
            source: std::io::Error::new(std::io::ErrorKind::InvalidData, "no DEVNAME"),
        })
}
