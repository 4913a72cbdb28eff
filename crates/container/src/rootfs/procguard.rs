//! Mounts below `/proc`: only procfs itself and a few emulated files (lxcfs-style) may be
//! covered, so a mount cannot hide the kernel's view from LSMs or from the masking
//! (CVE-2019-19921, CVE-2019-16884). Checked on the lexical destination and again on where
//! the target really resolved to, since rootfs symlinks can lead into `/proc`.

use std::os::fd::BorrowedFd;
use std::path::Path;

use super::mounts::Entry;
use super::{Error, RootfsContext};

/// Files below `/proc` that may be covered by another mount (lxcfs-style emulation), as in
/// runc. Anything else below `/proc` could hide the kernel's view from LSMs or the masking
/// (`/proc/self/attr`, `/proc/sys/...`), so only procfs itself may be mounted there.
const PROC_ALLOWED: &[&str] = &[
    "/proc/cpuinfo",
    "/proc/diskstats",
    "/proc/meminfo",
    "/proc/stat",
    "/proc/swaps",
    "/proc/uptime",
    "/proc/loadavg",
    "/proc/slabinfo",
    "/proc/net/dev",
    "/proc/sys/kernel/ns_last_pid",
];

/// Refuses mounts over `/proc` subpaths that are not procfs and not in [`PROC_ALLOWED`].
pub fn check_proc_destination(entry: &Entry) -> Result<(), Error> {
    let dst = &entry.dst;
    // `/proc` itself is checked later: masking refuses anything but procfs there.
    if !dst.starts_with("/proc") || dst == Path::new("/proc") || entry.fstype == "proc" {
        return Ok(());
    }
    if PROC_ALLOWED.iter().any(|p| dst == Path::new(p)) {
        return Ok(());
    }
    Err(Error::ProcDestination { dst: dst.clone() })
}

/// Refuses a target that resolved onto procfs through rootfs symlinks (`/run -> /proc/self`
/// with a mount at `/run/attr`) unless it really is one of [`PROC_ALLOWED`]: the lexical
/// check alone cannot see where the rootfs's symlinks lead.
pub fn check_resolved_target(
    ctx: &RootfsContext,
    entry: &Entry,
    target: BorrowedFd,
) -> Result<(), Error> {
    if entry.fstype == "proc" {
        return Ok(());
    }
    let magic = berth_sys::path::fs_magic(target).map_err(|source| Error::Statfs {
        path: entry.dst.clone(),
        source,
    })?;
    if magic != berth_sys::path::PROC_SUPER_MAGIC {
        return Ok(());
    }
    let real = berth_sys::path::fd_path(target).map_err(|source| Error::Resolve {
        path: entry.dst.clone(),
        source,
    })?;
    let inside = real
        .strip_prefix(ctx.rootfs)
        .map(|p| Path::new("/").join(p))
        .unwrap_or(real);
    if PROC_ALLOWED.iter().any(|p| inside == Path::new(p)) {
        return Ok(());
    }
    Err(Error::ProcDestination {
        dst: entry.dst.clone(),
    })
}
