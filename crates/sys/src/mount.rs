//! Mount wrappers built on the new mount API (`fsopen`/`fsmount`, `open_tree`, `move_mount`,
//! `mount_setattr`).
//!
//! Mounts are created detached and attached with `move_mount` onto an `O_PATH` descriptor of
//! the target, so no path string is resolved at mount time (see `path`). rustix has no
//! `mount_setattr`, so it is wrapped here with the raw system call.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::Path;

use rustix::mount::{
    self as rm, FsMountFlags, FsOpenFlags, MountAttrFlags, MountPropagationFlags, MoveMountFlags,
    OpenTreeFlags, UnmountFlags,
};

/// `MOUNT_ATTR_*` bits (per-mount flags) for [`set_attr`] and [`new_mount`].
pub mod attr {
    /// Read-only mount.
    pub const RDONLY: u64 = 0x0000_0001;
    /// Ignore set-user-ID and set-group-ID bits.
    pub const NOSUID: u64 = 0x0000_0002;
    /// Do not allow access to device nodes.
    pub const NODEV: u64 = 0x0000_0004;
    /// Do not allow execution.
    pub const NOEXEC: u64 = 0x0000_0008;
    /// Mask of the access-time mode (relatime = 0, noatime, strictatime).
    pub const ATIME_MASK: u64 = 0x0000_0070;
    /// Update atime relative to mtime/ctime (the default mode, value 0).
    pub const RELATIME: u64 = 0x0000_0000;
    /// Never update atime.
    pub const NOATIME: u64 = 0x0000_0010;
    /// Always update atime.
    pub const STRICTATIME: u64 = 0x0000_0020;
    /// Do not update directory atime.
    pub const NODIRATIME: u64 = 0x0000_0080;
    /// Idmapped mount (needs a user namespace descriptor).
    pub const IDMAP: u64 = 0x0010_0000;
    /// Do not follow symlinks on this mount.
    pub const NOSYMFOLLOW: u64 = 0x0020_0000;
}

/// Mount propagation types (`MS_*`), for the `propagation` field of [`MountAttr`].
pub mod propagation {
    /// `MS_UNBINDABLE`.
    pub const UNBINDABLE: u64 = libc::MS_UNBINDABLE;
    /// `MS_PRIVATE`.
    pub const PRIVATE: u64 = libc::MS_PRIVATE;
    /// `MS_SLAVE`.
    pub const SLAVE: u64 = libc::MS_SLAVE;
    /// `MS_SHARED`.
    pub const SHARED: u64 = libc::MS_SHARED;
}

/// What [`set_attr`] changes: bits to set and clear, and a propagation type (0 = unchanged).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MountAttr {
    /// `MOUNT_ATTR_*` bits to set.
    pub set: u64,
    /// `MOUNT_ATTR_*` bits to clear (include [`attr::ATIME_MASK`] to change the atime mode).
    pub clear: u64,
    /// One of [`propagation`], or 0.
    pub propagation: u64,
}

/// `struct mount_attr` of `<linux/mount.h>` (MOUNT_ATTR_SIZE_VER0).
#[repr(C)]
struct RawMountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

/// `mount_setattr(mnt, "", AT_EMPTY_PATH [| AT_RECURSIVE], attr)`: changes the mount that
/// `mnt` refers to (a descriptor from `open_tree`, `fsmount`, or an `O_PATH` open of a mount
/// root). With `userns`, `attr.set` must contain [`attr::IDMAP`] and `mnt` must be detached.
pub fn set_attr(
    mnt: BorrowedFd<'_>,
    attr: &MountAttr,
    recursive: bool,
    userns: Option<BorrowedFd<'_>>,
) -> io::Result<()> {
    let raw = RawMountAttr {
        attr_set: attr.set,
        attr_clr: attr.clear,
        propagation: attr.propagation,
        userns_fd: userns.map(|fd| fd.as_raw_fd() as u64).unwrap_or(0),
    };
    let mut flags = libc::AT_EMPTY_PATH as libc::c_uint;
    if recursive {
        flags |= libc::AT_RECURSIVE as libc::c_uint;
    }
    let empty = c"";
    // SAFETY: `mnt` is a live descriptor for the duration of the call, `empty` is a valid
    // NUL-terminated string, and `raw` is a properly initialised `struct mount_attr` whose size
    // we pass; the kernel only reads from it.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            mnt.as_raw_fd(),
            empty.as_ptr(),
            flags,
            &raw as *const RawMountAttr,
            std::mem::size_of::<RawMountAttr>(),
        )
    };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// One `fsconfig` parameter of a new file system.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FsParam {
    /// `FSCONFIG_SET_FLAG` (e.g. `newinstance`).
    Flag(String),
    /// `FSCONFIG_SET_STRING` (e.g. `mode` = `755`).
    Value(String, String),
}

/// A failed `fsconfig`/`fsmount`, with the messages the file system logged on its context
/// (`overlay: failed to resolve 'lowerdir': -2`). `io::Error::kind` is kept; the errno is
/// in [`FsContextError::errno`] (reach it with `io::Error::get_ref` + `downcast_ref`).
#[derive(Debug)]
pub struct FsContextError {
    /// The system call's error.
    pub errno: io::Error,
    /// Messages read from the file-system context (without the `e `/`w `/`i ` prefix).
    pub log: Vec<String>,
}

impl std::fmt::Display for FsContextError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let text = match self.errno.raw_os_error() {
            Some(code) => rustix::io::Errno::from_raw_os_error(code).to_string(),
            None => self.errno.to_string(),
        };
        write!(f, "{text}")?;
        if !self.log.is_empty() {
            write!(f, " ({})", self.log.join("; "))?;
        }
        Ok(())
    }
}

impl std::error::Error for FsContextError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.errno)
    }
}

/// Reads the messages queued on a file-system context (each `read` returns one).
fn context_log(fs: BorrowedFd<'_>) -> Vec<String> {
    let mut log = Vec::new();
    let mut buf = [0u8; 512];
    // The kernel keeps at most 8 messages per context.
    for _ in 0..8 {
        match rustix::io::read(fs, &mut buf) {
            Ok(n) if n > 0 => {
                let msg = String::from_utf8_lossy(&buf[..n]);
                let msg = msg.trim_end();
                let msg = msg
                    .strip_prefix("e ")
                    .or_else(|| msg.strip_prefix("w "))
                    .or_else(|| msg.strip_prefix("i "))
                    .unwrap_or(msg);
                log.push(msg.to_owned());
            }
            _ => break,
        }
    }
    log
}

fn with_log(fs: BorrowedFd<'_>, errno: rustix::io::Errno) -> io::Error {
    let errno = io::Error::from(errno);
    let log = context_log(fs);
    if log.is_empty() {
        return errno;
    }
    io::Error::new(errno.kind(), FsContextError { errno, log })
}

/// Creates a detached mount of a new `fstype` file system: `fsopen`, one `fsconfig` per
/// parameter (`source` first if given), `FSCONFIG_CMD_CREATE`, then `fsmount` with the
/// `MOUNT_ATTR_*` bits in `attrs`. Attach the result with [`attach`]. On failure the file
/// system's own messages are attached (see [`FsContextError`]).
pub fn new_mount(
    fstype: &str,
    source: Option<&str>,
    params: &[FsParam],
    attrs: u64,
) -> io::Result<OwnedFd> {
    let fs = rm::fsopen(fstype, FsOpenFlags::FSOPEN_CLOEXEC)?;
    let fail = |e| with_log(fs.as_fd(), e);
    if let Some(src) = source {
        rm::fsconfig_set_string(&fs, "source", src).map_err(fail)?;
    }
    for p in params {
        match p {
            FsParam::Flag(k) => rm::fsconfig_set_flag(&fs, k.as_str()),
            FsParam::Value(k, v) => rm::fsconfig_set_string(&fs, k.as_str(), v.as_str()),
        }
        .map_err(fail)?;
    }
    rm::fsconfig_create(&fs).map_err(fail)?;
    let flags = MountAttrFlags::from_bits_retain(attrs as u32);
    rm::fsmount(&fs, FsMountFlags::FSMOUNT_CLOEXEC, flags).map_err(fail)
}

/// `open_tree(dir, path, OPEN_TREE_CLONE [| AT_RECURSIVE])`: a detached copy of the mount at
/// `path` below `dir` (an empty `path` means `dir` itself), for bind mounts.
pub fn clone_tree(dir: BorrowedFd<'_>, path: &Path, recursive: bool) -> io::Result<OwnedFd> {
    let mut flags = OpenTreeFlags::OPEN_TREE_CLONE | OpenTreeFlags::OPEN_TREE_CLOEXEC;
    if recursive {
        flags |= OpenTreeFlags::AT_RECURSIVE;
    }
    if path.as_os_str().is_empty() {
        flags |= OpenTreeFlags::AT_EMPTY_PATH;
    }
    Ok(rm::open_tree(dir, path, flags)?)
}

/// `move_mount(mnt, "", target, "", F_EMPTY_PATH | T_EMPTY_PATH)`: attaches the detached (or
/// moves the attached) mount `mnt` onto the object `target` refers to.
pub fn attach(mnt: BorrowedFd<'_>, target: BorrowedFd<'_>) -> io::Result<()> {
    rm::move_mount(
        mnt,
        "",
        target,
        "",
        MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH | MoveMountFlags::MOVE_MOUNT_T_EMPTY_PATH,
    )?;
    Ok(())
}

/// `mount(NULL, path, NULL, MS_<type> [| MS_REC])`: changes the propagation of a mount by
/// path (used on `/` and on `.` around `pivot_root`, which are trusted paths).
pub fn set_propagation_path(path: &Path, propagation: u64, recursive: bool) -> io::Result<()> {
    let mut flags = MountPropagationFlags::from_bits_retain(propagation as libc::c_uint);
    if recursive {
        flags |= MountPropagationFlags::REC;
    }
    rm::mount_change(path, flags)?;
    Ok(())
}

/// `mount(source, target, NULL, MS_MOVE)` by path.
pub fn move_path(source: &Path, target: &Path) -> io::Result<()> {
    rm::mount_move(source, target)?;
    Ok(())
}

/// `umount2(path, MNT_DETACH)`.
pub fn unmount_detach(path: &Path) -> io::Result<()> {
    rm::unmount(path, UnmountFlags::DETACH)?;
    Ok(())
}

/// `pivot_root(new_root, put_old)`.
pub fn pivot_root(new_root: &Path, put_old: &Path) -> io::Result<()> {
    rustix::process::pivot_root(new_root, put_old)?;
    Ok(())
}

/// `chroot(path)`.
pub fn chroot(path: &Path) -> io::Result<()> {
    rustix::process::chroot(path)?;
    Ok(())
}

/// `fchdir(fd)`.
pub fn fchdir(fd: BorrowedFd<'_>) -> io::Result<()> {
    rustix::process::fchdir(fd)?;
    Ok(())
}

/// One line of a `uid_map`/`gid_map`: `inside outside count`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IdMap {
    /// First id inside the namespace (OCI `containerID`).
    pub inside: u32,
    /// First id outside (OCI `hostID`).
    pub outside: u32,
    /// Number of ids.
    pub count: u32,
}

/// Kills and reaps the helper process on every exit path.
struct Helper(libc::pid_t);

impl Drop for Helper {
    fn drop(&mut self) {
        // SAFETY: plain system calls on a pid we forked and have not reaped yet.
        unsafe {
            libc::kill(self.0, libc::SIGKILL);
            let mut status = 0;
            libc::waitpid(self.0, &mut status, 0);
        }
    }
}

fn format_map(maps: &[IdMap]) -> String {
    maps.iter()
        .map(|m| format!("{} {} {}\n", m.inside, m.outside, m.count))
        .collect()
}

/// A user namespace with the given mappings, as a descriptor for [`set_attr`] with
/// [`attr::IDMAP`]. A helper process is forked, unshares a user namespace and reports its pid
/// as seen by `/proc` (which may differ from the fork pid inside a pid namespace); we write its
/// maps, open `/proc/<pid>/ns/user`, and kill it. Uses the caller's `/proc`, so call it before
/// `pivot_root`.
pub fn userns_with_maps(uid_maps: &[IdMap], gid_maps: &[IdMap]) -> io::Result<OwnedFd> {
    let (rd, wr) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?;
    // SAFETY: the child only calls async-signal-safe functions (unshare, readlink, write,
    // pause, _exit) on memory that was allocated before the fork, then dies.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(io::Error::last_os_error());
    }
    if pid == 0 {
        let mut buf = [0u8; 32];
        let path = c"/proc/self";
        // SAFETY: see above; `buf` and `path` are valid for the lengths given.
        unsafe {
            if libc::unshare(libc::CLONE_NEWUSER) != 0 {
                libc::_exit(1);
            }
            let n = libc::readlink(path.as_ptr(), buf.as_mut_ptr().cast(), buf.len());
            if n <= 0 {
                libc::_exit(2);
            }
            libc::write(wr.as_raw_fd(), buf.as_ptr().cast(), n as usize);
            loop {
                libc::pause();
            }
        }
    }
    let helper = Helper(pid);
    drop(wr);
    let mut buf = [0u8; 32];
    let n = rustix::io::read(&rd, &mut buf)?;
    let proc_pid = std::str::from_utf8(&buf[..n])
        .ok()
        .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(|| io::Error::other("user namespace helper died before unsharing"))?
        .to_owned();
    let dir = Path::new("/proc").join(&proc_pid);
    std::fs::write(dir.join("uid_map"), format_map(uid_maps))?;
    std::fs::write(dir.join("gid_map"), format_map(gid_maps))?;
    let ns = rustix::fs::open(
        dir.join("ns/user"),
        rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )?;
    drop(helper);
    Ok(ns)
}

/// Duplicates `fd` with `O_CLOEXEC` (keeps a mount descriptor usable after a `move_mount`).
pub fn dup(fd: BorrowedFd<'_>) -> io::Result<OwnedFd> {
    Ok(rustix::io::fcntl_dupfd_cloexec(fd, 0)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_format_as_kernel_expects() {
        let m = [
            IdMap {
                inside: 0,
                outside: 1000,
                count: 1,
            },
            IdMap {
                inside: 1,
                outside: 100000,
                count: 65536,
            },
        ];
        assert_eq!(format_map(&m), "0 1000 1\n1 100000 65536\n");
    }
}
