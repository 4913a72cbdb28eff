//! The ProjectQuota backend: each container's `fs/` directory gets its own project id
//! (inherited by everything created below it) and a hard block limit for that project.
//! Works on XFS mounted with `prjquota` and ext4 with the `quota,project` features.
//!
//! Uses `quotactl_fd(2)` (Linux 5.14) so no block device path has to be found, and the
//! `FS_IOC_FS[GS]ETXATTR` ioctls for the project id. Neither rustix nor nix wraps these.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::path::Path;

use linux_raw_sys::general::{fsxattr, FS_XFLAG_PROJINHERIT};
use linux_raw_sys::ioctl::{FS_IOC_FSGETXATTR, FS_IOC_FSSETXATTR};

use crate::error::Error;

const PRJQUOTA: u32 = 2;
const Q_GETINFO: u32 = 0x80_0005;
const Q_GETQUOTA: u32 = 0x80_0007;
const Q_SETQUOTA: u32 = 0x80_0008;
const QIF_BLIMITS: u32 = 1;
/// Quota block limits are counted in 1 KiB units.
const QIF_DQBLKSIZE: u64 = 1024;

/// First project id a store hands out; ids below are left to the administrator.
pub const FIRST_PROJECT: u32 = 1_000_000;

/// `struct if_dqblk` of `<linux/quota.h>`.
#[repr(C)]
#[derive(Default)]
struct IfDqblk {
    dqb_bhardlimit: u64,
    dqb_bsoftlimit: u64,
    dqb_curspace: u64,
    dqb_ihardlimit: u64,
    dqb_isoftlimit: u64,
    dqb_curinodes: u64,
    dqb_btime: u64,
    dqb_itime: u64,
    dqb_valid: u32,
}

/// `struct if_dqinfo` of `<linux/quota.h>`.
#[repr(C)]
#[derive(Default)]
struct IfDqinfo {
    dqi_bgrace: u64,
    dqi_igrace: u64,
    dqi_flags: u32,
    dqi_valid: u32,
}

fn qcmd(cmd: u32) -> u32 {
    (cmd << 8) | PRJQUOTA
}

/// Whether project quotas are on for the file system of `root`.
pub fn probe(root: &Path) -> Result<(), String> {
    let dir = File::open(root).map_err(|e| format!("open: {e}"))?;
    let mut info = IfDqinfo::default();
    quotactl_fd(&dir, Q_GETINFO, 0, (&mut info as *mut IfDqinfo).cast())
        .map_err(|e| format!("project quotas are not enabled: {e}"))
}

/// Give the directory `dir` project id `project`, inherited by everything created in it.
pub fn assign(dir: &Path, project: u32) -> Result<(), Error> {
    let err = |source| Error::ProjectQuota {
        step: "set project id",
        path: dir.to_owned(),
        source,
    };
    let file = File::open(dir).map_err(err)?;
    // SAFETY: fsxattr is a plain C struct of integers: all-zero is valid.
    let mut attr: fsxattr = unsafe { std::mem::zeroed() };
    // SAFETY: FS_IOC_FSGETXATTR fills one `struct fsxattr`, which `attr` is.
    let rc = unsafe { libc::ioctl(file.as_raw_fd(), FS_IOC_FSGETXATTR as _, &mut attr) };
    if rc < 0 {
        return Err(err(io::Error::last_os_error()));
    }
    attr.fsx_projid = project;
    attr.fsx_xflags |= FS_XFLAG_PROJINHERIT;
    // SAFETY: FS_IOC_FSSETXATTR reads one `struct fsxattr`, which `attr` is.
    let rc = unsafe { libc::ioctl(file.as_raw_fd(), FS_IOC_FSSETXATTR as _, &attr) };
    if rc < 0 {
        return Err(err(io::Error::last_os_error()));
    }
    Ok(())
}

/// Set the hard block limit of `project` on the file system of `root` (0: no limit).
pub fn set_limit(root: &Path, project: u32, bytes: u64) -> Result<(), Error> {
    let err = |source| Error::ProjectQuota {
        step: "set project quota limit",
        path: root.to_owned(),
        source,
    };
    let dir = File::open(root).map_err(err)?;
    let mut blk = IfDqblk {
        dqb_bhardlimit: bytes.div_ceil(QIF_DQBLKSIZE),
        dqb_valid: QIF_BLIMITS,
        ..IfDqblk::default()
    };
    quotactl_fd(&dir, Q_SETQUOTA, project, (&mut blk as *mut IfDqblk).cast()).map_err(err)
}

/// Bytes used by `project` and its hard limit.
pub fn usage(root: &Path, project: u32) -> Result<(u64, Option<u64>), Error> {
    let err = |source| Error::ProjectQuota {
        step: "get project quota usage",
        path: root.to_owned(),
        source,
    };
    let dir = File::open(root).map_err(err)?;
    let mut blk = IfDqblk::default();
    quotactl_fd(&dir, Q_GETQUOTA, project, (&mut blk as *mut IfDqblk).cast()).map_err(err)?;
    let limit = (blk.dqb_bhardlimit != 0).then(|| blk.dqb_bhardlimit * QIF_DQBLKSIZE);
    Ok((blk.dqb_curspace, limit))
}

fn quotactl_fd(fd: &File, cmd: u32, id: u32, addr: *mut libc::c_void) -> io::Result<()> {
    // SAFETY: quotactl_fd(fd, cmd, id, addr): `fd` is open; `addr` points to the struct the
    // command reads or writes (if_dqinfo for Q_GETINFO, if_dqblk for Q_[GS]ETQUOTA), owned
    // by the caller for the duration of the call.
    let rc = unsafe { libc::syscall(libc::SYS_quotactl_fd, fd.as_raw_fd(), qcmd(cmd), id, addr) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
