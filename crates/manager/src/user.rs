//! `-u user[:group]`: numeric ids as given, names looked up in the container's own
//! /etc/passwd and /etc/group (opened with RESOLVE_IN_ROOT: a tenant's symlink cannot
//! point the lookup at the host's files).

use std::io::Read;
use std::path::Path;

use oci_spec::runtime::User;
use rustix::fs::{Mode, OFlags, ResolveFlags};

use crate::error::{Error, Result};

pub fn resolve(rootfs: &Path, spec: &str) -> Result<User> {
    let (u, g) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let passwd = read_in_root(rootfs, "etc/passwd");
    let (uid, primary_gid) = match u.parse::<u32>() {
        Ok(uid) => {
            let gid = passwd
                .as_deref()
                .and_then(|p| find(p, |f| f.get(2) == Some(&u)))
                .and_then(|f| f.get(3).and_then(|g| g.parse().ok()));
            (uid, gid)
        }
        Err(_) => {
            let f = passwd
                .as_deref()
                .and_then(|p| find(p, |f| f.first() == Some(&u)))
                .ok_or_else(|| {
                    unknown(
                        "--user",
                        spec,
                        "no such user in the container's /etc/passwd",
                    )
                })?;
            let uid = f.get(2).and_then(|s| s.parse().ok());
            let gid = f.get(3).and_then(|s| s.parse().ok());
            (
                uid.ok_or_else(|| unknown("--user", spec, "bad /etc/passwd entry"))?,
                gid,
            )
        }
    };
    let gid = match g {
        Some(g) => match g.parse::<u32>() {
            Ok(gid) => gid,
            Err(_) => read_in_root(rootfs, "etc/group")
                .as_deref()
                .and_then(|p| find(p, |f| f.first() == Some(&g)))
                .and_then(|f| f.get(2).and_then(|s| s.parse().ok()))
                .ok_or_else(|| {
                    unknown(
                        "--user",
                        spec,
                        "no such group in the container's /etc/group",
                    )
                })?,
        },
        None => primary_gid.unwrap_or(0),
    };
    let mut user = User::default();
    user.set_uid(uid);
    user.set_gid(gid);
    Ok(user)
}

fn unknown(option: &'static str, value: &str, reason: &str) -> Error {
    Error::InvalidOption {
        option,
        value: value.to_string(),
        reason: reason.to_string(),
    }
}

fn find(data: &str, pred: impl Fn(&[&str]) -> bool) -> Option<Vec<&str>> {
    data.lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| pred(f))
}

/// A small file inside the root, or `None` when it cannot be read.
fn read_in_root(rootfs: &Path, rel: &str) -> Option<String> {
    let dir = rustix::fs::open(
        rootfs,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .ok()?;
    let fd = rustix::fs::openat2(
        &dir,
        rel,
        OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOCTTY,
        Mode::empty(),
        ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
    )
    .ok()?;
    let mut s = String::new();
    std::fs::File::from(fd)
        .take(4 << 20)
        .read_to_string(&mut s)
        .ok()?;
    Some(s)
}
