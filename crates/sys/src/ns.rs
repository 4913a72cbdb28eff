//! Namespaces and process creation: `clone3`, `setns`, `unshare`, pidfds.
//!
//! The runtime forks its container child with `clone3` rather than `fork` so that the
//! new namespaces, a pidfd (no pid-reuse races when signalling or waiting) and, on a pure
//! cgroup v2 host, the target cgroup (`CLONE_INTO_CGROUP`) come in one system call.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

/// `CLONE_*` flag values for namespaces, as the kernel defines them.
pub mod flags {
    pub const NEWNS: u64 = libc::CLONE_NEWNS as u64;
    pub const NEWCGROUP: u64 = libc::CLONE_NEWCGROUP as u64;
    pub const NEWUTS: u64 = libc::CLONE_NEWUTS as u64;
    pub const NEWIPC: u64 = libc::CLONE_NEWIPC as u64;
    pub const NEWUSER: u64 = libc::CLONE_NEWUSER as u64;
    pub const NEWPID: u64 = libc::CLONE_NEWPID as u64;
    pub const NEWNET: u64 = libc::CLONE_NEWNET as u64;
    pub const NEWTIME: u64 = libc::CLONE_NEWTIME as u64;
    pub const PIDFD: u64 = libc::CLONE_PIDFD as u64;
    pub const INTO_CGROUP: u64 = 0x2_0000_0000;
}

#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

/// What `fork_into` returns in each of the two processes.
pub enum Forked {
    /// In the parent: the child's pid and a pidfd referring to it.
    Parent { pid: i32, pidfd: OwnedFd },
    /// In the child.
    Child,
}

/// Fork the calling process like `fork(2)`, with `ns_flags` (new namespaces) applied to the
/// child, a pidfd returned to the parent, and optionally the child placed directly into the
/// cgroup v2 directory `cgroup`.
///
/// The caller must be single-threaded: like `fork`, the child gets a copy of only the
/// calling thread, so locks held by other threads would never be released.
pub fn fork_into(ns_flags: u64, cgroup: Option<BorrowedFd<'_>>) -> io::Result<Forked> {
    let mut pidfd: RawFd = -1;
    let mut args = CloneArgs {
        flags: ns_flags | flags::PIDFD,
        pidfd: &mut pidfd as *mut RawFd as u64,
        exit_signal: libc::SIGCHLD as u64,
        ..Default::default()
    };
    if let Some(fd) = cgroup {
        args.flags |= flags::INTO_CGROUP;
        args.cgroup = fd.as_raw_fd() as u64;
    }
    // SAFETY: clone3 without CLONE_VM and without a new stack behaves like fork: the child
    // continues on a private copy of this address space. `args` outlives the call and
    // `pidfd` points to a live i32 the kernel fills in.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &mut args as *mut CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    };
    match ret {
        -1 => Err(io::Error::last_os_error()),
        0 => Ok(Forked::Child),
        pid => Ok(Forked::Parent {
            pid: pid as i32,
            // SAFETY: with CLONE_PIDFD the kernel stored a new, owned file descriptor.
            pidfd: unsafe { OwnedFd::from_raw_fd(pidfd) },
        }),
    }
}

/// Join the namespace referred to by `fd` (a `/proc/<pid>/ns/*` file or a pidfd with
/// `nstype` flags).
pub fn setns(fd: BorrowedFd<'_>, nstype: u64) -> io::Result<()> {
    // SAFETY: plain system call on a borrowed, open descriptor.
    let ret = unsafe { libc::setns(fd.as_raw_fd(), nstype as libc::c_int) };
    if ret == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Move the calling process into new namespaces.
pub fn unshare(ns_flags: u64) -> io::Result<()> {
    // SAFETY: plain system call; no memory is passed.
    let ret = unsafe { libc::unshare(ns_flags as libc::c_int) };
    if ret == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Open a pidfd for `pid`.
pub fn pidfd_open(pid: i32) -> io::Result<OwnedFd> {
    // SAFETY: plain system call; on success it returns a new descriptor we now own.
    let ret = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if ret == -1 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel returned a fresh descriptor.
    Ok(unsafe { OwnedFd::from_raw_fd(ret as RawFd) })
}

/// Send `sig` to the process a pidfd refers to (no pid-reuse race).
pub fn pidfd_send_signal(pidfd: BorrowedFd<'_>, sig: i32) -> io::Result<()> {
    // SAFETY: plain system call; null siginfo means "as kill(2) would".
    let ret = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            sig,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    if ret == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Mark every descriptor from `first` upwards close-on-exec, so that nothing the runtime
/// holds reaches the container's program (the CVE-2024-21626 class).
pub fn cloexec_from(first: u32) -> io::Result<()> {
    // SAFETY: close_range only changes descriptor flags.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            first,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    };
    if ret == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Ask the kernel to send `sig` to this process when its parent dies (0 clears it).
pub fn set_parent_death_signal(sig: i32) -> io::Result<()> {
    // SAFETY: prctl with integer arguments only.
    let ret = unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, sig as libc::c_ulong, 0, 0, 0) };
    if ret == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Make this process non-dumpable: other processes (including ones in the container) can
/// then no longer open its `/proc/<pid>/exe`, `mem` or fds, nor ptrace it.
pub fn set_dumpable(dumpable: bool) -> io::Result<()> {
    // SAFETY: prctl with integer arguments only.
    let ret = unsafe { libc::prctl(libc::PR_SET_DUMPABLE, dumpable as libc::c_ulong, 0, 0, 0) };
    if ret == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Make this process a child subreaper: orphaned descendants are reparented to it.
pub fn set_child_subreaper() -> io::Result<()> {
    // SAFETY: prctl with integer arguments only.
    let ret = unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    if ret == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Replace the calling process with `path`, `argv` and `envp` (NULL-terminated arrays of
/// C strings). Returns only on failure.
pub fn execve(
    path: &std::ffi::CStr,
    argv: &[*const libc::c_char],
    envp: &[*const libc::c_char],
) -> io::Error {
    debug_assert!(argv.last().is_some_and(|p| p.is_null()));
    debug_assert!(envp.last().is_some_and(|p| p.is_null()));
    // SAFETY: the caller passes NULL-terminated arrays of pointers to live C strings.
    unsafe { libc::execve(path.as_ptr(), argv.as_ptr(), envp.as_ptr()) };
    io::Error::last_os_error()
}

/// `execveat(fd, "", argv, envp, AT_EMPTY_PATH)`: replace the calling process with the file
/// `fd` refers to (any open mode, `O_PATH` included), whatever its path names by now. For a
/// `#!` script the interpreter is given `/dev/fd/<fd>`, so `fd` must then not be
/// close-on-exec. Returns only on failure.
pub fn execveat_fd(
    fd: std::os::fd::BorrowedFd<'_>,
    argv: &[*const libc::c_char],
    envp: &[*const libc::c_char],
) -> io::Error {
    use std::os::fd::AsRawFd;
    debug_assert!(argv.last().is_some_and(|p| p.is_null()));
    debug_assert!(envp.last().is_some_and(|p| p.is_null()));
    let empty = c"";
    // SAFETY: `fd` is live for the call, `empty` is a valid C string, and the caller passes
    // NULL-terminated arrays of pointers to live C strings.
    unsafe {
        libc::syscall(
            libc::SYS_execveat,
            fd.as_raw_fd(),
            empty.as_ptr(),
            argv.as_ptr(),
            envp.as_ptr(),
            libc::AT_EMPTY_PATH,
        )
    };
    io::Error::last_os_error()
}

/// Terminate the calling process immediately, without running destructors or atexit
/// handlers (the state of a forked child belongs to its parent).
pub fn exit_now(code: i32) -> ! {
    // SAFETY: _exit never returns and touches no Rust state.
    unsafe { libc::_exit(code) }
}

/// Give this process a new, named session keyring, so the container does not share the
/// runtime's (and the host's) session keys.
pub fn join_session_keyring(name: &str) -> io::Result<()> {
    let name =
        std::ffi::CString::new(name).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    const KEYCTL_JOIN_SESSION_KEYRING: libc::c_long = 1;
    // SAFETY: `name` is a live NUL-terminated string for the duration of the call.
    let ret =
        unsafe { libc::syscall(libc::SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, name.as_ptr()) };
    if ret == -1 {
        let e = io::Error::last_os_error();
        // Kernels without keyring support, or a seccomp profile denying keyctl: nothing to isolate.
        if matches!(e.raw_os_error(), Some(libc::ENOSYS) | Some(libc::EPERM)) {
            return Ok(());
        }
        return Err(e);
    }
    Ok(())
}

/// Take ownership of a descriptor the kernel just installed in this process through an
/// `SCM_RIGHTS` message (it belongs to nobody else yet).
pub fn adopt_received_fd(fd: RawFd) -> OwnedFd {
    // SAFETY: a descriptor delivered by SCM_RIGHTS is new in our table and owned by no one.
    unsafe { OwnedFd::from_raw_fd(fd) }
}
