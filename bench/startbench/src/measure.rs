//! One measured process: wall time from spawn to reap, CPU time and peak RSS from wait4.

use std::os::unix::process::CommandExt;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::mntns::MountNs;

#[derive(Debug, Clone, Copy)]
pub struct Sample {
    pub wall: Duration,
    /// User + system time of the process and every descendant it reaped.
    pub cpu: Duration,
    /// Largest RSS among the process and its reaped descendants, KiB.
    pub max_rss_kib: u64,
}

/// Thin wrapper over wait4(2): exit status and resource usage of `pid`.
fn wait4(pid: libc::pid_t) -> std::io::Result<(i32, libc::rusage)> {
    let mut status = 0;
    // SAFETY: rusage is plain old data; zeroed is a valid value that wait4 overwrites.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: status and usage are valid, exclusively borrowed out-pointers for the call.
        let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if r == pid {
            return Ok((status, usage));
        }
        let err = std::io::Error::last_os_error();
        if err.kind() != std::io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
}

fn tv(t: libc::timeval) -> Duration {
    Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
}

/// Run `cmd` to completion (in `ns` when given) and measure it; a non-zero exit is an error
/// carrying the command line.
pub fn measure(cmd: &mut Command, ns: Option<&MountNs>) -> Result<Sample> {
    if let Some(ns) = ns {
        let fd = ns.fd();
        // SAFETY: the closure runs in the forked child before exec and only calls setns(2),
        // which is async-signal-safe; it touches no locks or allocations.
        unsafe {
            cmd.pre_exec(move || {
                if libc::setns(fd, libc::CLONE_NEWNS) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    let started = Instant::now();
    let child = cmd.spawn().with_context(|| format!("spawn {cmd:?}"))?;
    let (status, usage) =
        wait4(child.id() as libc::pid_t).with_context(|| format!("wait for {cmd:?}"))?;
    let wall = started.elapsed();
    // The child was reaped by wait4: std's Child must not wait again.
    std::mem::forget(child);
    if !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != 0 {
        bail!("{cmd:?} failed (wait status {status:#x})");
    }
    Ok(Sample {
        wall,
        cpu: tv(usage.ru_utime) + tv(usage.ru_stime),
        max_rss_kib: usage.ru_maxrss as u64,
    })
}
