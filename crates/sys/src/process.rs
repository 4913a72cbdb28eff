//! Process attributes that rustix and nix do not wrap: `sched_setattr`/`sched_getattr`,
//! `ioprio_set`/`ioprio_get`, capability prctls addressed by raw index, and loading a
//! seccomp BPF program with `seccomp(2)` flags.
//!
//! Capabilities are handled by number here (not by a crate's enum) on purpose: the
//! bounding set must be cleared of *every* capability the running kernel knows, including
//! ones newer than any crate's table.

use std::io;
use std::os::fd::{FromRawFd, OwnedFd};

fn cvt(ret: libc::c_long) -> io::Result<libc::c_long> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

fn cvt_int(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// `struct sched_attr` (include/uapi/linux/sched/types.h), the version with utilization
/// clamps (`SCHED_ATTR_SIZE_VER1`, 56 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SchedAttr {
    pub size: u32,
    pub sched_policy: u32,
    pub sched_flags: u64,
    pub sched_nice: i32,
    pub sched_priority: u32,
    pub sched_runtime: u64,
    pub sched_deadline: u64,
    pub sched_period: u64,
    pub sched_util_min: u32,
    pub sched_util_max: u32,
}

/// Kernel values of `SCHED_*` policies and `SCHED_FLAG_*` flags.
pub mod sched {
    pub const OTHER: u32 = 0;
    pub const FIFO: u32 = 1;
    pub const RR: u32 = 2;
    pub const BATCH: u32 = 3;
    pub const ISO: u32 = 4;
    pub const IDLE: u32 = 5;
    pub const DEADLINE: u32 = 6;

    pub const FLAG_RESET_ON_FORK: u64 = 0x01;
    pub const FLAG_RECLAIM: u64 = 0x02;
    pub const FLAG_DL_OVERRUN: u64 = 0x04;
    pub const FLAG_KEEP_POLICY: u64 = 0x08;
    pub const FLAG_KEEP_PARAMS: u64 = 0x10;
    pub const FLAG_UTIL_CLAMP_MIN: u64 = 0x20;
    pub const FLAG_UTIL_CLAMP_MAX: u64 = 0x40;
}

/// `sched_setattr(0, attr, 0)`: set the calling thread's scheduling policy and parameters.
pub fn sched_setattr(attr: &SchedAttr) -> io::Result<()> {
    let mut attr = *attr;
    attr.size = std::mem::size_of::<SchedAttr>() as u32;
    // SAFETY: `attr` is a valid, initialised `struct sched_attr` whose `size` field matches
    // its real size; the kernel only reads it during the call.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_sched_setattr,
            0 as libc::pid_t,
            &attr as *const SchedAttr,
            0 as libc::c_uint,
        )
    };
    cvt(ret).map(drop)
}

/// `sched_getattr(pid, ..)`: read a thread's scheduling policy and parameters (0 = self).
pub fn sched_getattr(pid: i32) -> io::Result<SchedAttr> {
    let mut attr = SchedAttr::default();
    // SAFETY: the kernel writes at most `size` bytes (our struct's size) into `attr`.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_sched_getattr,
            pid as libc::pid_t,
            &mut attr as *mut SchedAttr,
            std::mem::size_of::<SchedAttr>() as libc::c_uint,
            0 as libc::c_uint,
        )
    };
    cvt(ret).map(|_| attr)
}

/// I/O priority classes (include/uapi/linux/ioprio.h).
pub mod ioprio {
    pub const CLASS_RT: u32 = 1;
    pub const CLASS_BE: u32 = 2;
    pub const CLASS_IDLE: u32 = 3;
    pub const CLASS_SHIFT: u32 = 13;
    pub const WHO_PROCESS: i32 = 1;
}

/// `ioprio_set(IOPRIO_WHO_PROCESS, 0, class << 13 | level)` for the calling process.
pub fn ioprio_set(class: u32, level: u32) -> io::Result<()> {
    let value = (class << ioprio::CLASS_SHIFT) | level;
    // SAFETY: plain integer arguments; no memory is passed.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_ioprio_set,
            ioprio::WHO_PROCESS,
            0 as libc::c_int,
            value as libc::c_int,
        )
    };
    cvt(ret).map(drop)
}

/// `ioprio_get(IOPRIO_WHO_PROCESS, pid)`: returns `(class, level)` (pid 0 = self).
pub fn ioprio_get(pid: i32) -> io::Result<(u32, u32)> {
    // SAFETY: plain integer arguments; no memory is passed.
    let ret = unsafe { libc::syscall(libc::SYS_ioprio_get, ioprio::WHO_PROCESS, pid) };
    let value = cvt(ret)? as u32;
    Ok((
        value >> ioprio::CLASS_SHIFT,
        value & ((1 << ioprio::CLASS_SHIFT) - 1),
    ))
}

/// `prctl(PR_CAPBSET_READ, cap)`: `Ok(true)` if the capability numbered `cap` is in the
/// bounding set; `EINVAL` if the kernel does not know that capability.
pub fn capbset_read(cap: u32) -> io::Result<bool> {
    // SAFETY: integer arguments only.
    let ret = unsafe { libc::prctl(libc::PR_CAPBSET_READ, cap as libc::c_ulong, 0, 0, 0) };
    cvt_int(ret).map(|v| v == 1)
}

/// `prctl(PR_CAPBSET_DROP, cap)`: remove the capability numbered `cap` from the bounding set.
pub fn capbset_drop(cap: u32) -> io::Result<()> {
    // SAFETY: integer arguments only.
    let ret = unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong, 0, 0, 0) };
    cvt_int(ret).map(drop)
}

/// The highest capability number the running kernel knows, found by probing the bounding
/// set (works without /proc, unlike reading /proc/sys/kernel/cap_last_cap).
pub fn last_cap() -> u32 {
    let mut last = 0;
    // 63 is the largest number a 64-bit capability mask can hold.
    for cap in 0..64 {
        match capbset_read(cap) {
            Ok(_) => last = cap,
            Err(_) => break,
        }
    }
    last
}

/// `prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)`.
pub fn ambient_clear_all() -> io::Result<()> {
    // SAFETY: integer arguments only.
    let ret = unsafe {
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong,
            0,
            0,
            0,
        )
    };
    cvt_int(ret).map(drop)
}

/// `prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap)`.
pub fn ambient_raise(cap: u32) -> io::Result<()> {
    // SAFETY: integer arguments only.
    let ret = unsafe {
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_RAISE as libc::c_ulong,
            cap as libc::c_ulong,
            0,
            0,
        )
    };
    cvt_int(ret).map(drop)
}

/// `SECCOMP_FILTER_FLAG_*` values (include/uapi/linux/seccomp.h).
pub mod seccomp_flag {
    pub const TSYNC: u64 = 1 << 0;
    pub const LOG: u64 = 1 << 1;
    pub const SPEC_ALLOW: u64 = 1 << 2;
    pub const NEW_LISTENER: u64 = 1 << 3;
    pub const TSYNC_ESRCH: u64 = 1 << 4;
    pub const WAIT_KILLABLE_RECV: u64 = 1 << 5;
}

/// One classic BPF instruction, as `struct sock_filter` (8 bytes).
pub type SockFilter = libc::sock_filter;

/// Decode a BPF program as libseccomp exports it (native-endian `struct sock_filter`s).
pub fn bpf_from_bytes(bytes: &[u8]) -> Option<Vec<SockFilter>> {
    const INSN: usize = std::mem::size_of::<SockFilter>();
    if !bytes.len().is_multiple_of(INSN) {
        return None;
    }
    Some(
        bytes
            .chunks_exact(INSN)
            .map(|c| SockFilter {
                code: u16::from_ne_bytes([c[0], c[1]]),
                jt: c[2],
                jf: c[3],
                k: u32::from_ne_bytes([c[4], c[5], c[6], c[7]]),
            })
            .collect(),
    )
}

/// `seccomp(SECCOMP_SET_MODE_FILTER, flags, prog)`. Returns the notification listener when
/// `flags` contains `SECCOMP_FILTER_FLAG_NEW_LISTENER`.
///
/// Needs `no_new_privs` or `CAP_SYS_ADMIN` in the caller's user namespace. Performs no
/// allocation, so it may run between `fork` and `execve`.
pub fn seccomp_set_mode_filter(prog: &[SockFilter], flags: u64) -> io::Result<Option<OwnedFd>> {
    let len = u16::try_from(prog.len()).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    let fprog = libc::sock_fprog {
        len,
        filter: prog.as_ptr() as *mut SockFilter,
    };
    // SAFETY: `fprog` points at `len` valid instructions that outlive the call; the kernel
    // copies the program before returning.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER as libc::c_ulong,
            flags as libc::c_ulong,
            &fprog as *const libc::sock_fprog,
        )
    };
    let ret = cvt(ret)?;
    if flags & seccomp_flag::TSYNC != 0 && flags & seccomp_flag::NEW_LISTENER == 0 && ret > 0 {
        // TSYNC reports a thread it could not synchronise by returning its id; report it
        // as ESRCH (what TSYNC_ESRCH makes the kernel say) without allocating.
        return Err(io::Error::from_raw_os_error(libc::ESRCH));
    }
    if flags & seccomp_flag::NEW_LISTENER != 0 {
        // SAFETY: with NEW_LISTENER the kernel returns a fresh file descriptor we now own.
        Ok(Some(unsafe { OwnedFd::from_raw_fd(ret as libc::c_int) }))
    } else {
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sched_attr_has_the_kernel_size() {
        // SCHED_ATTR_SIZE_VER1
        assert_eq!(std::mem::size_of::<SchedAttr>(), 56);
    }

    #[test]
    fn reads_own_scheduling_and_io_priority() {
        let attr = sched_getattr(0).unwrap();
        assert!(attr.sched_policy <= sched::DEADLINE);
        let (class, _) = ioprio_get(0).unwrap();
        assert!(class <= ioprio::CLASS_IDLE);
    }

    #[test]
    fn kernel_knows_at_least_checkpoint_restore() {
        assert!(last_cap() >= 40);
        assert!(capbset_read(64).is_err());
    }

    #[test]
    fn decodes_bpf_bytes() {
        let bytes = [0x06u8, 0, 0, 0, 0, 0, 0xff, 0x7f];
        let prog = bpf_from_bytes(&bytes).unwrap();
        assert_eq!(prog.len(), 1);
        assert_eq!(prog[0].code, 0x06);
        assert_eq!(prog[0].k, 0x7fff_0000);
        assert!(bpf_from_bytes(&bytes[..5]).is_none());
    }
}
