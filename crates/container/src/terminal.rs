//! `process.terminal`: the container gets a pseudo-terminal; its master end is handed to
//! whoever listens on `--console-socket` (containerd's shim, podman's conmon), as runc does.

use std::io::IoSlice;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::Path;

use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};

use crate::error::{Error, Result};

/// Connect to the console socket before forking, so a bad path fails early.
pub fn connect(path: &Path) -> Result<UnixStream> {
    UnixStream::connect(path).map_err(|source| Error::ConsoleSocket {
        path: path.to_path_buf(),
        source,
    })
}

/// Send the pty master over the console socket (runc sends the name "/dev/ptmx" with it).
pub fn send_master(sock: &UnixStream, master: BorrowedFd<'_>) -> Result<()> {
    let name = b"/dev/ptmx";
    let iov = [IoSlice::new(name)];
    let fds = [master.as_raw_fd()];
    sendmsg::<()>(
        sock.as_raw_fd(),
        &iov,
        &[ControlMessage::ScmRights(&fds)],
        MsgFlags::empty(),
        None,
    )
    .map_err(|e| Error::Sys {
        what: "send pty master on console socket".into(),
        source: e.into(),
    })?;
    Ok(())
}

/// In the container, after pivot_root: open a new pty pair from the container's own
/// devpts, make the slave our controlling terminal and stdio, return the master.
pub fn setup_pty() -> Result<OwnedFd> {
    use rustix::pty::{grantpt, openpt, ptsname, unlockpt, OpenptFlags};
    let err = |what: &str| {
        let what = what.to_string();
        move |e: rustix::io::Errno| Error::Sys {
            what,
            source: e.into(),
        }
    };
    let master = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC)
        .map_err(err("open /dev/ptmx"))?;
    grantpt(&master).map_err(err("grantpt"))?;
    unlockpt(&master).map_err(err("unlockpt"))?;
    let name = ptsname(&master, Vec::new()).map_err(err("ptsname"))?;
    let slave = rustix::fs::open(
        name.as_c_str(),
        rustix::fs::OFlags::RDWR | rustix::fs::OFlags::NOCTTY,
        rustix::fs::Mode::empty(),
    )
    .map_err(err("open pty slave"))?;
    rustix::process::setsid().map_err(err("setsid"))?;
    rustix::process::ioctl_tiocsctty(&slave).map_err(err("set controlling terminal"))?;
    for fd in 0..3 {
        nix::unistd::dup2(slave.as_raw_fd(), fd).map_err(|e| Error::Sys {
            what: format!("dup pty slave to fd {fd}"),
            source: e.into(),
        })?;
    }
    Ok(master)
}
