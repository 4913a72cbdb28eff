//! `--init`: this binary, bind-mounted into the container, runs as its pid 1: it starts the
//! command as its child, forwards the signals it gets to it, reaps every orphan reparented
//! to it, and exits with the command's status.
//!
//! Signals are taken through a signalfd with the signals blocked: a blocked signal is
//! queued even for a namespace's init, which would otherwise drop every signal it has no
//! handler for. The binary is dynamically linked: `--init` works on the host tree and on
//! images with a compatible libc.

use std::os::fd::AsFd;
use std::process::Command;

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use rustix::process::{wait, Pid, WaitOptions};

const FORWARDED: [Signal; 8] = [
    Signal::SIGTERM,
    Signal::SIGINT,
    Signal::SIGHUP,
    Signal::SIGQUIT,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
    Signal::SIGWINCH,
    Signal::SIGCONT,
];

fn run(command: &[String]) -> anyhow::Result<i32> {
    let Some((prog, args)) = command.split_first() else {
        anyhow::bail!("no command");
    };
    let mut mask = SigSet::empty();
    for s in FORWARDED {
        mask.add(s);
    }
    mask.add(Signal::SIGCHLD);
    mask.thread_block()?;
    let sfd = SignalFd::with_flags(&mask, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK)?;
    // std resets the signal mask in the child before exec.
    let child = Command::new(prog)
        .args(args)
        .spawn()
        .map_err(|e| anyhow::anyhow!("exec {prog:?}: {e}"))?;
    let main = child.id() as i32;
    loop {
        // Reap whatever has exited; stop when our command has.
        loop {
            match wait(WaitOptions::NOHANG) {
                Ok(Some((pid, status))) => {
                    if pid.as_raw_nonzero().get() == main {
                        return Ok(match (status.exit_status(), status.terminating_signal()) {
                            (Some(code), _) => code,
                            (None, Some(sig)) => 128 + sig,
                            _ => 255,
                        });
                    }
                }
                Ok(None) => break,
                Err(rustix::io::Errno::INTR) => continue,
                Err(rustix::io::Errno::CHILD) => return Ok(255),
                Err(e) => anyhow::bail!("wait: {e}"),
            }
        }
        let mut fds = [PollFd::new(sfd.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(e) => anyhow::bail!("poll: {e}"),
        }
        while let Ok(Some(info)) = sfd.read_signal() {
            let sig = info.ssi_signo as i32;
            if sig == Signal::SIGCHLD as i32 {
                continue;
            }
            if let (Some(pid), Some(s)) = (
                Pid::from_raw(main),
                rustix::process::Signal::from_named_raw(sig),
            ) {
                let _ = rustix::process::kill_process(pid, s);
            }
        }
    }
}

fn main() -> std::process::ExitCode {
    // `berth-init -- CMD ARGS...`
    let args: Vec<String> = std::env::args().skip(1).collect();
    let command = match args.first().map(String::as_str) {
        Some("--") => &args[1..],
        _ => &args[..],
    };
    match run(command) {
        Ok(code) => std::process::ExitCode::from(code.clamp(0, 255) as u8),
        Err(e) => {
            eprintln!("berth-init: {e:#}");
            std::process::ExitCode::from(127)
        }
    }
}
