//! Swapping this process's fds 0-2 for the container's while the runtime forks its init.

use std::os::fd::{BorrowedFd, OwnedFd};

use crate::error::{sys, Result};

/// Our own fds 0-2 while the container's are in their place.
pub(crate) struct Saved {
    fds: [OwnedFd; 3],
}

impl Saved {
    pub(crate) fn swap(
        stdin: BorrowedFd<'_>,
        stdout: BorrowedFd<'_>,
        stderr: BorrowedFd<'_>,
    ) -> Result<Saved> {
        let dup =
            |fd: BorrowedFd<'_>| rustix::io::fcntl_dupfd_cloexec(fd, 3).map_err(sys("save stdio"));
        let saved = Saved {
            fds: [
                dup(rustix::stdio::stdin())?,
                dup(rustix::stdio::stdout())?,
                dup(rustix::stdio::stderr())?,
            ],
        };
        // Duplicates first: `stdin` may be our own fd 0.
        let (i, o, e) = (dup(stdin)?, dup(stdout)?, dup(stderr)?);
        rustix::stdio::dup2_stdin(&i).map_err(sys("redirect stdin"))?;
        rustix::stdio::dup2_stdout(&o).map_err(sys("redirect stdout"))?;
        rustix::stdio::dup2_stderr(&e).map_err(sys("redirect stderr"))?;
        Ok(saved)
    }

    pub(crate) fn restore(self) -> Result<()> {
        let [i, o, e] = self.fds;
        rustix::stdio::dup2_stdin(&i).map_err(sys("restore stdin"))?;
        rustix::stdio::dup2_stdout(&o).map_err(sys("restore stdout"))?;
        rustix::stdio::dup2_stderr(&e).map_err(sys("restore stderr"))?;
        Ok(())
    }
}
