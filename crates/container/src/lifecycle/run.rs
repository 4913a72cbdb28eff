//! `run`: create and start in one process. In the foreground the runtime stays the init's
//! parent: it forwards signals to it, reaps it and removes the container, and exits with its
//! status. No exec fifo is needed: the start is a message on the sync channel.

use std::os::fd::AsFd;

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::WaitStatus;

use super::create::{create, wait_pidfd, CreateOptions};
use crate::error::{sys, Result};
use crate::sync::Msg;

pub struct RunOptions<'a> {
    pub create: CreateOptions<'a>,
    pub detach: bool,
}

/// Returns the exit code to exit with: the container's status (128+signal if killed), or 0
/// when detached.
pub fn run(opts: RunOptions<'_>) -> Result<i32> {
    let create_opts = CreateOptions {
        foreground: true,
        ..opts.create
    };
    let mut created = create(&create_opts)?;
    let root = create_opts.root;
    let id = create_opts.id;

    // Forward every catchable signal to the container while we wait for it.
    let mut mask = SigSet::all();
    mask.remove(Signal::SIGCHLD);
    mask.remove(Signal::SIGKILL);
    mask.remove(Signal::SIGSTOP);
    let sfd = if opts.detach {
        None
    } else {
        mask.thread_block()
            .map_err(|e| sys("block signals")(e.into()))?;
        Some(
            SignalFd::with_flags(&mask, SfdFlags::SFD_CLOEXEC)
                .map_err(|e| sys("signalfd")(e.into()))?,
        )
    };

    if let Err(e) = created.channel.send(&Msg::Start) {
        let _ = super::delete::destroy(created.container);
        return Err(e);
    }
    super::start::poststart(&created.container)?;
    if opts.detach {
        return Ok(0);
    }
    // Other commands (kill, exec, pause) must be able to act while we wait.
    created.container.dir.unlock();
    let Some(sfd) = sfd else { return Ok(0) };
    loop {
        let mut fds = [
            PollFd::new(created.pidfd.as_fd(), PollFlags::POLLIN),
            PollFd::new(sfd.as_fd(), PollFlags::POLLIN),
        ];
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(sys("wait for container")(e.into())),
        }
        if fds[1]
            .revents()
            .is_some_and(|r| r.contains(PollFlags::POLLIN))
        {
            if let Ok(Some(info)) = sfd.read_signal() {
                let _ =
                    berth_sys::ns::pidfd_send_signal(created.pidfd.as_fd(), info.ssi_signo as i32);
            }
        }
        if fds[0].revents().is_some_and(|r| !r.is_empty()) {
            break;
        }
    }
    let code = match wait_pidfd(&created.pidfd) {
        Some(WaitStatus::Exited(_, c)) => c,
        Some(WaitStatus::Signaled(_, s, _)) => 128 + s as i32,
        _ => 255,
    };
    drop(created.channel);
    drop(created.container);
    // Someone may have deleted it meanwhile (`delete --force`): then there is nothing to do.
    match super::Container::load(root, id) {
        Ok(c) => super::delete::destroy(c)?,
        Err(crate::Error::NotExist(_)) => {}
        Err(e) => return Err(e),
    }
    Ok(code)
}
