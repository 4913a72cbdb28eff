//! The per-container ext4 file system of the LoopImage backend.
//!
//! The quota is not the size of the file system: the image is made larger than the quota
//! (sparse, so the headroom costs no host disk) and the part above the quota is held back
//! through ext4's `reserved_clusters` (`/sys/fs/ext4/<dev>/reserved_clusters`), which no
//! user, not even one with CAP_SYS_RESOURCE, may allocate from. Changing the quota within
//! the image is then one sysfs write, online, in both directions. Only growing past the
//! image needs `resize2fs`, which online (EXT4_IOC_RESIZE_FS) requires CAP_SYS_RESOURCE:
//! hosts that run us without it (like our CI) still grow online up to the headroom.
//! The reservation lives in memory only; [`apply_quota`] sets it on every mount.
//!
//! mkfs/resize2fs/e2fsck/dumpe2fs run as commands, never on the container start path.

use std::io;
use std::path::Path;

use crate::command;
use crate::error::Error;

/// Smallest quota we accept.
pub const MIN_QUOTA: u64 = 16 << 20;
/// Headroom of an image above its quota: as much again, at least this.
const MIN_HEADROOM: u64 = 1 << 30;
/// ext4 keeps some clusters back for itself by default (2% up to 4096 clusters): never
/// reserve less, so delayed allocation and extent conversion cannot run out of space.
const MIN_RESERVE: u64 = 4096;
const MIB: u64 = 1 << 20;

/// Size of a new image for `quota` bytes: the quota plus as much again (min 1 GiB) of
/// headroom for growing online, rounded up to a MiB.
pub fn image_size(quota: u64) -> u64 {
    let size = quota.saturating_add(quota.max(MIN_HEADROOM));
    size.div_ceil(MIB).saturating_mul(MIB)
}

/// Whether a file system of `usable` bytes (overhead excluded) in `cluster`-byte clusters
/// can hold `quota` with ext4's minimum reserve to spare.
pub fn fits(usable: u64, cluster: u64, quota: u64) -> bool {
    quota.div_ceil(cluster) + MIN_RESERVE <= usable / cluster
}

/// Limit the mounted file system on loop device `device` (`/dev/loopN`), which has
/// `usable_clusters` clusters of `cluster` bytes, to `quota` bytes.
pub fn apply_quota(
    device: &Path,
    usable_clusters: u64,
    cluster: u64,
    quota: u64,
) -> Result<(), Error> {
    let name = device.file_name().unwrap_or(device.as_os_str());
    let knob = Path::new("/sys/fs/ext4")
        .join(name)
        .join("reserved_clusters");
    let reserve = usable_clusters
        .saturating_sub(quota.div_ceil(cluster))
        .max(MIN_RESERVE);
    std::fs::write(&knob, reserve.to_string())
        .map_err(|source| Error::WriteFile { path: knob, source })
}

/// Make an ext4 file system in `image` (already sized), populated from `template`.
/// No reserved blocks (`-m 0`): the quota is the container's, root in it included.
pub fn mkfs(image: &Path, template: &Path) -> Result<(), Error> {
    command::run(
        "mkfs.ext4",
        &[
            "-q".as_ref(),
            "-F".as_ref(),
            "-m".as_ref(),
            "0".as_ref(),
            "-b".as_ref(),
            "4096".as_ref(),
            "-i".as_ref(),
            "16384".as_ref(),
            "-L".as_ref(),
            "berth".as_ref(),
            "-E".as_ref(),
            // Lazy init: the inode tables and journal of the headroom stay sparse.
            "nodiscard,lazy_itable_init=1,lazy_journal_init=1,root_owner=0:0".as_ref(),
            "-d".as_ref(),
            template.as_os_str(),
            image.as_os_str(),
        ],
    )
    .map(drop)
}

/// Grow the mounted file system on `device` to the device's (new) size.
pub fn grow_online(device: &Path) -> Result<(), Error> {
    command::run("resize2fs", &[device.as_os_str()]).map(drop)
}

/// Grow the unmounted file system in `image` to `size` bytes (check it first, as
/// resize2fs demands).
pub fn grow_offline(image: &Path, size: u64) -> Result<(), Error> {
    command::run_accepting(
        "e2fsck",
        &["-f".as_ref(), "-p".as_ref(), image.as_os_str()],
        &[0, 1],
    )?;
    let kib = format!("{}K", size / 1024);
    command::run("resize2fs", &[image.as_os_str(), kib.as_ref()]).map(drop)
}

/// Size of the mounted file system at `dir` as (usable clusters, used clusters, cluster
/// size), counted without the file system's own overhead (journal, inode tables).
pub fn statfs(dir: &Path) -> Result<Space, Error> {
    let st = rustix::fs::statvfs(dir).map_err(|e| Error::Statfs {
        path: dir.to_owned(),
        source: io::Error::from(e),
    })?;
    Ok(Space {
        usable: st.f_blocks,
        used: st.f_blocks.saturating_sub(st.f_bfree),
        cluster: st.f_frsize,
    })
}

/// Space of an ext4 file system, in clusters (blocks: we make no bigalloc file systems).
#[derive(Debug, Clone, Copy)]
pub struct Space {
    pub usable: u64,
    pub used: u64,
    pub cluster: u64,
}

/// [`statfs`] for the unmounted file system in `image`, from its superblock.
pub fn statfs_offline(image: &Path) -> Result<Space, Error> {
    let out = command::run("dumpe2fs", &["-h".as_ref(), image.as_os_str()])?;
    let field = |name: &str| -> Option<u64> {
        out.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().parse().ok())
    };
    let bad = || Error::CommandOutput {
        command: format!("dumpe2fs -h {}", image.display()),
        output: out.clone(),
    };
    let blocks = field("Block count:").ok_or_else(bad)?;
    let free = field("Free blocks:").ok_or_else(bad)?;
    let block_size = field("Block size:").ok_or_else(bad)?;
    let overhead = field("Overhead clusters:").unwrap_or(0);
    let usable = blocks.saturating_sub(overhead);
    Ok(Space {
        usable,
        used: usable.saturating_sub(free),
        cluster: block_size,
    })
}
