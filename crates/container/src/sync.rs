//! The channel between the runtime and the container child it forked: a `SOCK_SEQPACKET`
//! socket pair, one message per datagram, file descriptors passed alongside.
//!
//! Message order during `create` (parent = runtime, child = future container init):
//! child waits for `MapsWritten`; child sends `RunHooks` once its namespaces and mounts are
//! ready; parent runs prestart/createRuntime hooks and answers `HooksDone`; child sends
//! `Ready` (or `Error`) when only waiting for `start` remains. `SeccompFd` carries a seccomp
//! user-notification fd, `Pty` a console master, to the parent.

use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use nix::sys::socket::{
    recvmsg, sendmsg, socketpair, AddressFamily, ControlMessage, ControlMessageOwned, MsgFlags,
    SockFlag, SockType,
};

use crate::error::{Error, Result};

#[derive(Debug, PartialEq, Eq)]
pub enum Msg {
    MapsWritten,
    RunHooks,
    HooksDone,
    Ready,
    Start,
    SeccompFd,
    Pty,
    Error(String),
}

impl Msg {
    fn encode(&self) -> Vec<u8> {
        match self {
            Msg::MapsWritten => vec![1],
            Msg::RunHooks => vec![2],
            Msg::HooksDone => vec![3],
            Msg::Ready => vec![4],
            Msg::Start => vec![5],
            Msg::SeccompFd => vec![6],
            Msg::Pty => vec![7],
            Msg::Error(e) => {
                let mut v = vec![0];
                v.extend_from_slice(e.as_bytes());
                v
            }
        }
    }

    fn decode(b: &[u8]) -> Option<Msg> {
        Some(match *b.first()? {
            1 => Msg::MapsWritten,
            2 => Msg::RunHooks,
            3 => Msg::HooksDone,
            4 => Msg::Ready,
            5 => Msg::Start,
            6 => Msg::SeccompFd,
            7 => Msg::Pty,
            0 => Msg::Error(String::from_utf8_lossy(&b[1..]).into_owned()),
            _ => return None,
        })
    }
}

pub struct Channel {
    fd: OwnedFd,
}

pub fn pair() -> Result<(Channel, Channel)> {
    let (a, b) = socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .map_err(|e| Error::Sys {
        what: "create sync socket pair".into(),
        source: e.into(),
    })?;
    Ok((Channel { fd: a }, Channel { fd: b }))
}

impl Channel {
    pub fn send(&self, msg: &Msg) -> Result<()> {
        self.send_with_fd(msg, None)
    }

    pub fn send_with_fd(&self, msg: &Msg, fd: Option<RawFd>) -> Result<()> {
        let data = msg.encode();
        let iov = [IoSlice::new(&data)];
        let fds;
        let cmsg: Vec<ControlMessage> = match fd {
            Some(f) => {
                fds = [f];
                vec![ControlMessage::ScmRights(&fds)]
            }
            None => vec![],
        };
        sendmsg::<()>(
            self.fd.as_raw_fd(),
            &iov,
            &cmsg,
            MsgFlags::MSG_NOSIGNAL,
            None,
        )
        .map_err(|e| Error::Sys {
            what: "send on sync socket".into(),
            source: e.into(),
        })?;
        Ok(())
    }

    /// Receive one message; `None` when the other side closed without a word (it died).
    pub fn recv(&self) -> Result<Option<(Msg, Option<OwnedFd>)>> {
        let mut buf = vec![0u8; 8192];
        let mut cmsg = nix::cmsg_space!([RawFd; 1]);
        let (len, fd) = loop {
            let mut iov = [IoSliceMut::new(&mut buf)];
            match recvmsg::<()>(
                self.fd.as_raw_fd(),
                &mut iov,
                Some(&mut cmsg),
                MsgFlags::MSG_CMSG_CLOEXEC,
            ) {
                Ok(r) => {
                    let mut fd = None;
                    if let Ok(cmsgs) = r.cmsgs() {
                        for c in cmsgs {
                            if let ControlMessageOwned::ScmRights(fds) = c {
                                for f in fds {
                                    let owned = berth_sys::ns::adopt_received_fd(f);
                                    if fd.is_none() {
                                        fd = Some(owned);
                                    }
                                }
                            }
                        }
                    }
                    break (r.bytes, fd);
                }
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => {
                    return Err(Error::Sys {
                        what: "receive on sync socket".into(),
                        source: e.into(),
                    })
                }
            }
        };
        if len == 0 {
            return Ok(None);
        }
        match Msg::decode(&buf[..len]) {
            Some(m) => Ok(Some((m, fd))),
            None => Err(Error::Init(format!(
                "unexpected sync message {:?}",
                &buf[..len.min(8)]
            ))),
        }
    }

    /// Receive and require `want`; an `Error` message or a closed channel becomes an error.
    pub fn expect(&self, want: Msg) -> Result<Option<OwnedFd>> {
        match self.recv()? {
            Some((m, fd)) if m == want => Ok(fd),
            Some((Msg::Error(e), _)) => Err(Error::Init(e)),
            Some((m, _)) => Err(Error::Init(format!("expected {want:?}, got {m:?}"))),
            None => Err(Error::Init(format!(
                "the other side exited while waiting for {want:?}"
            ))),
        }
    }

    pub fn raw(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}
