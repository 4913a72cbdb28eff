//! Terminals: receive a pty master over a console socket (runc's protocol, as the runtime
//! sends it), put the user's terminal in raw mode while attached, copy its size.

use std::io::IoSliceMut;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::path::Path;

use rustix::net::{RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags};
use rustix::termios::Termios;

use crate::error::{sys, Error, Result};

/// Listen on `path` (replacing a stale socket) for the runtime's connection.
pub fn listen(path: &Path) -> Result<UnixListener> {
    let _ = std::fs::remove_file(path);
    UnixListener::bind(path).map_err(|source| Error::ConsoleSocket {
        path: path.to_path_buf(),
        source,
    })
}

/// Accept the runtime's connection and take the pty master it sends.
pub fn recv_master(listener: &UnixListener, path: &Path) -> Result<OwnedFd> {
    let (conn, _) = listener.accept().map_err(|source| Error::ConsoleSocket {
        path: path.to_path_buf(),
        source,
    })?;
    let mut name = [0u8; 64];
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut anc = RecvAncillaryBuffer::new(&mut space);
    rustix::net::recvmsg(
        &conn,
        &mut [IoSliceMut::new(&mut name)],
        &mut anc,
        RecvFlags::CMSG_CLOEXEC,
    )
    .map_err(sys(format!("receive pty master on {}", path.display())))?;
    for msg in anc.drain() {
        if let RecvAncillaryMessage::ScmRights(mut fds) = msg {
            if let Some(fd) = fds.next() {
                return Ok(fd);
            }
        }
    }
    Err(Error::ConsoleSocket {
        path: path.to_path_buf(),
        source: std::io::Error::other("no pty master was sent"),
    })
}

/// The user's terminal in raw mode until dropped.
pub struct RawMode<'a> {
    fd: BorrowedFd<'a>,
    saved: Termios,
}

impl<'a> RawMode<'a> {
    /// `None` when `fd` is not a terminal.
    pub fn enter(fd: BorrowedFd<'a>) -> Option<RawMode<'a>> {
        let saved = rustix::termios::tcgetattr(fd).ok()?;
        let mut raw = saved.clone();
        raw.make_raw();
        rustix::termios::tcsetattr(fd, rustix::termios::OptionalActions::Now, &raw).ok()?;
        Some(RawMode { fd, saved })
    }
}

impl Drop for RawMode<'_> {
    fn drop(&mut self) {
        let _ =
            rustix::termios::tcsetattr(self.fd, rustix::termios::OptionalActions::Now, &self.saved);
    }
}

/// Give the container's terminal the size of ours (when we have one).
pub fn copy_size(from: BorrowedFd<'_>, to: &impl AsFd) {
    if let Ok(ws) = rustix::termios::tcgetwinsize(from) {
        let _ = rustix::termios::tcsetwinsize(to, ws);
    }
}

/// Copy between our terminal and a pty master until the master hangs up (the process and
/// everything holding its terminal exited) or `done()` says the process is gone.
pub fn proxy(master: &OwnedFd, interactive: bool, done: impl Fn() -> bool) -> Result<()> {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    use std::io::Write;
    let stdin = rustix::stdio::stdin();
    let _raw = if interactive {
        RawMode::enter(stdin)
    } else {
        None
    };
    copy_size(stdin, master);
    let mut buf = vec![0u8; 32 * 1024];
    let mut input_open = interactive;
    loop {
        let mut fds = vec![PollFd::new(master.as_fd(), PollFlags::POLLIN)];
        if input_open {
            fds.push(PollFd::new(stdin, PollFlags::POLLIN));
        }
        match poll(&mut fds, PollTimeout::from(100u8)) {
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(sys("poll terminal")(e)),
        }
        let master_ready = fds[0].revents().is_some_and(|r| !r.is_empty());
        let stdin_ready = input_open && fds[1].revents().is_some_and(|r| !r.is_empty());
        drop(fds);
        if master_ready {
            match rustix::io::read(master, &mut buf) {
                Ok(0) | Err(rustix::io::Errno::IO) => return Ok(()),
                Ok(n) => {
                    let mut o = std::io::stdout().lock();
                    let _ = o.write_all(&buf[..n]);
                    let _ = o.flush();
                }
                Err(rustix::io::Errno::INTR) | Err(rustix::io::Errno::AGAIN) => {}
                Err(e) => return Err(sys("read pty master")(e)),
            }
        } else if done() {
            return Ok(());
        }
        if stdin_ready {
            match rustix::io::read(stdin, &mut buf) {
                Ok(0) | Err(_) => input_open = false,
                Ok(n) => {
                    let mut data = &buf[..n];
                    while !data.is_empty() {
                        match rustix::io::write(master, data) {
                            Ok(w) => data = &data[w..],
                            Err(rustix::io::Errno::INTR) => {}
                            Err(_) => break,
                        }
                    }
                }
            }
        }
    }
}
