//! Bring `lo` up in a container's new network namespace, in-process: a short-lived thread
//! joins the namespace (network namespaces are per thread) and sends one rtnetlink
//! RTM_NEWLINK setting IFF_UP on ifindex 1 (`lo` is always 1 in a new namespace).
//!
//! Written here rather than with rtnetlink (async, a runtime per call) or by running
//! `nsenter ip link set lo up` (two execs, several milliseconds on the start path): one
//! 32-byte message and its acknowledgement.

use std::os::fd::AsFd;

use rustix::net::{AddressFamily, RecvFlags, SendFlags, SocketFlags, SocketType};

use crate::error::{sys, Error, Result};

const RTM_NEWLINK: u16 = 16;
const NLM_F_REQUEST: u16 = 1;
const NLM_F_ACK: u16 = 4;
const NLMSG_ERROR: u16 = 2;
const IFF_UP: u32 = 1;
const LOOPBACK_INDEX: i32 = 1;

/// The request: nlmsghdr + ifinfomsg, native endian.
fn request() -> [u8; 32] {
    let mut m = [0u8; 32];
    m[0..4].copy_from_slice(&32u32.to_ne_bytes()); // nlmsg_len
    m[4..6].copy_from_slice(&RTM_NEWLINK.to_ne_bytes());
    m[6..8].copy_from_slice(&(NLM_F_REQUEST | NLM_F_ACK).to_ne_bytes());
    m[8..12].copy_from_slice(&1u32.to_ne_bytes()); // seq
                                                   // pid 0 (the kernel), ifi_family AF_UNSPEC, ifi_type 0.
    m[20..24].copy_from_slice(&LOOPBACK_INDEX.to_ne_bytes());
    m[24..28].copy_from_slice(&IFF_UP.to_ne_bytes()); // ifi_flags
    m[28..32].copy_from_slice(&IFF_UP.to_ne_bytes()); // ifi_change
    m
}

/// The errno in the kernel's acknowledgement (0: done).
fn ack_errno(resp: &[u8]) -> Option<i32> {
    if resp.len() < 20 || u16::from_ne_bytes([resp[4], resp[5]]) != NLMSG_ERROR {
        return None;
    }
    Some(-i32::from_ne_bytes([
        resp[16], resp[17], resp[18], resp[19],
    ]))
}

pub fn up_in(pid: i32) -> Result<()> {
    let path = format!("/proc/{pid}/ns/net");
    let ns = std::fs::File::open(&path).map_err(sys(format!("open {path}")))?;
    let what = format!("bring lo up in the network namespace of {pid}");
    let joined = std::thread::spawn(move || -> std::io::Result<i32> {
        berth_sys::ns::setns(ns.as_fd(), berth_sys::ns::flags::NEWNET)?;
        let sock = rustix::net::socket_with(
            AddressFamily::NETLINK,
            SocketType::RAW,
            SocketFlags::CLOEXEC,
            None, // NETLINK_ROUTE is protocol 0
        )?;
        rustix::net::send(&sock, &request(), SendFlags::empty())?;
        let mut buf = [0u8; 256];
        let (n, _) = rustix::net::recv(&sock, &mut buf, RecvFlags::empty())?;
        ack_errno(&buf[..n.min(buf.len())])
            .ok_or_else(|| std::io::Error::other("no netlink acknowledgement"))
    })
    .join();
    match joined {
        Ok(Ok(0)) => Ok(()),
        Ok(Ok(errno)) => Err(Error::Sys {
            what,
            source: std::io::Error::from_raw_os_error(errno),
        }),
        Ok(Err(source)) => Err(Error::Sys { what, source }),
        Err(_) => Err(Error::Sys {
            what,
            source: std::io::Error::other("thread panicked"),
        }),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn request_layout() {
        let m = super::request();
        assert_eq!(u32::from_ne_bytes(m[0..4].try_into().unwrap()), 32);
        assert_eq!(i32::from_ne_bytes(m[20..24].try_into().unwrap()), 1);
    }
}
