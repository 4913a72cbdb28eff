//! The container's own /etc/hostname, /etc/hosts and /etc/resolv.conf (as docker does):
//! files in the container's directory, bind-mounted over the root's. /etc/hosts gets the
//! container's address once it is attached to a network (rewritten in place: the bind
//! mount pins the inode).

use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

pub const FILES: [&str; 3] = ["hostname", "hosts", "resolv.conf"];

/// The host file behind the container's `/etc/<name>`.
pub fn path(container_dir: &Path, name: &str) -> PathBuf {
    container_dir.join(format!("etc-{name}"))
}

fn write_in_place(path: &Path, data: &str) -> Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .open(path)
        .map_err(|source| Error::Write {
            path: path.to_path_buf(),
            source,
        })?;
    f.write_all(data.as_bytes()).map_err(|source| Error::Write {
        path: path.to_path_buf(),
        source,
    })
}

/// What the user adds to the generated files: `--dns` and `--add-host`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Extras<'a> {
    pub dns: &'a [IpAddr],
    pub hosts: &'a [(String, IpAddr)],
}

fn hosts(hostname: &str, addrs: &[IpAddr], extra: &Extras) -> String {
    let mut s = String::from(
        "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n",
    );
    for a in addrs {
        s.push_str(&format!("{a}\t{hostname}\n"));
    }
    if addrs.is_empty() {
        s.push_str(&format!("127.0.1.1\t{hostname}\n"));
    }
    for (name, a) in extra.hosts {
        s.push_str(&format!("{a}\t{name}\n"));
    }
    s
}

/// Write the three files for a container about to be created.
pub fn write(container_dir: &Path, hostname: &str, extra: &Extras) -> Result<()> {
    write_in_place(&path(container_dir, "hostname"), &format!("{hostname}\n"))?;
    write_in_place(&path(container_dir, "hosts"), &hosts(hostname, &[], extra))?;
    if !extra.dns.is_empty() {
        let resolv: String = extra
            .dns
            .iter()
            .map(|a| format!("nameserver {a}\n"))
            .collect();
        return write_in_place(&path(container_dir, "resolv.conf"), &resolv);
    }
    // The host's resolvers; a stub resolver on the host's loopback is unreachable from a
    // container's own network namespace, so such lines are left out.
    let host = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let resolv: String = host
        .lines()
        .filter(|l| {
            let ns = l.trim().strip_prefix("nameserver");
            !ns.is_some_and(|a| a.trim().parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback()))
        })
        .map(|l| format!("{l}\n"))
        .collect();
    write_in_place(&path(container_dir, "resolv.conf"), &resolv)
}

/// The container's addresses are known: name them in its /etc/hosts.
pub fn set_addresses(
    container_dir: &Path,
    hostname: &str,
    addrs: &[IpAddr],
    extra: &Extras,
) -> Result<()> {
    write_in_place(
        &path(container_dir, "hosts"),
        &hosts(hostname, addrs, extra),
    )
}
