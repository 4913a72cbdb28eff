//! `start`: release a created container's init by reading its exec fifo, then run the
//! poststart hooks.

use std::os::fd::AsFd;
use std::path::Path;

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use super::Container;
use crate::error::{sys, Error, Result};
use crate::state::{Status, EXEC_FIFO};

pub fn start(root: &Path, id: &str) -> Result<()> {
    let c = Container::load(root, id)?;
    match c.status() {
        Status::Created => {}
        Status::Stopped => {
            return Err(Error::WrongStatus(
                "cannot start a container that has stopped".into(),
            ))
        }
        Status::Running | Status::Paused => {
            return Err(Error::WrongStatus(
                "cannot start an already running container".into(),
            ))
        }
        Status::Creating => {
            return Err(Error::WrongStatus(
                "cannot start a container that is still being created".into(),
            ))
        }
    }
    let pidfd = c
        .init_pidfd()
        .ok_or_else(|| Error::WrongStatus("cannot start a container that has stopped".into()))?;
    let fifo_path = c.dir.path(EXEC_FIFO);
    // Non-blocking open: the reader side never blocks; the init's blocked open then returns.
    let fifo = rustix::fs::open(
        &fifo_path,
        rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::NONBLOCK | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .map_err(|e| sys(format!("open exec fifo {}", fifo_path.display()))(e.into()))?;
    loop {
        let mut fds = [
            PollFd::new(fifo.as_fd(), PollFlags::POLLIN),
            PollFd::new(pidfd.as_fd(), PollFlags::POLLIN),
        ];
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(sys("wait for container init")(e.into())),
        }
        let fifo_ready = fds[0]
            .revents()
            .is_some_and(|r| r.contains(PollFlags::POLLIN));
        let died = fds[1].revents().is_some_and(|r| !r.is_empty());
        if fifo_ready {
            let mut b = [0u8; 1];
            match rustix::io::read(&fifo, &mut b) {
                Ok(1) => break,
                Ok(_) | Err(rustix::io::Errno::AGAIN) if !died => continue,
                _ => {}
            }
        }
        if died {
            let _ = std::fs::remove_file(&fifo_path);
            return Err(Error::WrongStatus(
                "container init exited before it could be started".into(),
            ));
        }
    }
    std::fs::remove_file(&fifo_path).map_err(sys(format!("remove {}", fifo_path.display())))?;
    poststart(&c)
}

/// poststart hooks: a failure is reported but the container keeps running (OCI spec).
pub(crate) fn poststart(c: &Container) -> Result<()> {
    let spec = c.spec()?;
    if let Some(h) = spec.hooks().as_ref().and_then(|h| h.poststart().as_ref()) {
        let state = c.hook_state(Status::Running);
        if let Err(e) = crate::hooks::run("poststart", Some(h), &state) {
            eprintln!("warning: {e}");
        }
    }
    Ok(())
}
