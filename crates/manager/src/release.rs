//! Start a created container from its monitor.

use std::os::fd::{AsFd, OwnedFd};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use crate::error::{sys, Error, Result};

/// Let the created init exec the command: what `lifecycle::start` does (read the exec fifo,
/// remove it), without taking the state directory's lock. That lock's file description was
/// inherited by the init at the fork and stays held until its exec, so `lifecycle::start`
/// called from the creating process waits forever. No poststart hooks: berth sets none.
pub(crate) fn release(state_dir: &std::path::Path, pidfd: &OwnedFd) -> Result<()> {
    let fifo_path = state_dir.join(berth_container::state::EXEC_FIFO);
    let fifo = rustix::fs::open(
        &fifo_path,
        rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::NONBLOCK | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .map_err(sys(format!("open exec fifo {}", fifo_path.display())))?;
    loop {
        let mut fds = [
            PollFd::new(fifo.as_fd(), PollFlags::POLLIN),
            PollFd::new(pidfd.as_fd(), PollFlags::POLLIN),
        ];
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(sys("wait for the container init")(e)),
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
            return Err(Error::Monitor {
                id: state_dir
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                message: "the container init exited before it could be started".into(),
            });
        }
    }
    std::fs::remove_file(&fifo_path).map_err(|source| Error::Remove {
        path: fifo_path,
        source,
    })
}
