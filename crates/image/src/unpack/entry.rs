//! Applying one tar entry to the layer directory.

use std::fs::File;
use std::io::{self, Read};
use std::os::fd::OwnedFd;

use rustix::fs::{
    chmodat, chownat, fchmod, fchown, futimens, mkdirat, mknodat, openat, symlinkat, utimensat,
    AtFlags, FileType, Gid, Mode, OFlags, Timespec, Timestamps, Uid,
};
use tar::EntryType;

use super::fsops::{self, os, Existing};
use super::path::{components, join, symlink_escapes};
use super::UnpackOptions;
use crate::Error;

const WHITEOUT_PREFIX: &[u8] = b".wh.";
const OPAQUE_MARKER: &[u8] = b".wh..wh..opq";
const SETID_BITS: u32 = 0o6000;

struct Meta {
    uid: Uid,
    gid: Gid,
    mode: u32,
    times: Timestamps,
    xattrs: Vec<(String, Vec<u8>)>,
}

fn id(raw: u64, entry: &str) -> Result<u32, Error> {
    u32::try_from(raw)
        .ok()
        .filter(|&v| v != u32::MAX)
        .ok_or_else(|| Error::EntryPath {
            entry: entry.to_owned(),
            reason: "uid or gid out of range",
        })
}

/// A numeric header field, where an all-NUL/space field (written by some tools) means 0.
fn num(raw: &[u8], parsed: impl FnOnce() -> io::Result<u64>) -> io::Result<u64> {
    if raw.iter().all(|&b| b == 0 || b == b' ') {
        Ok(0)
    } else {
        parsed()
    }
}

fn meta<R: Read>(
    item: &mut tar::Entry<'_, R>,
    entry: &str,
    opts: &UnpackOptions,
) -> Result<Meta, Error> {
    let h = item.header();
    let bad = |source| Error::entry_io(entry, "read tar header", source);
    let old = h.as_old();
    let uid = Uid::from_raw(id(num(&old.uid, || h.uid()).map_err(bad)?, entry)?);
    let gid = Gid::from_raw(id(num(&old.gid, || h.gid()).map_err(bad)?, entry)?);
    let mut mode = h.mode().map_err(bad)? & 0o7777;
    let is_dir = h.entry_type() == EntryType::Directory;
    if !opts.keep_setid {
        // setgid on a directory only makes new files inherit its group: harmless, kept.
        mode &= if is_dir { !0o4000 } else { !SETID_BITS };
    }
    let mtime = num(&old.mtime, || h.mtime()).map_err(bad)?;
    let ts = Timespec {
        tv_sec: i64::try_from(mtime).unwrap_or(i64::MAX),
        tv_nsec: 0,
    };
    let mut xattrs = Vec::new();
    if let Some(exts) = item.pax_extensions().map_err(bad)? {
        for ext in exts {
            let ext = ext.map_err(bad)?;
            let Ok(key) = ext.key() else { continue };
            let Some(name) = key.strip_prefix("SCHILY.xattr.") else {
                continue;
            };
            let allowed =
                name.starts_with("user.") || (opts.keep_setid && name == "security.capability");
            if allowed {
                xattrs.push((name.to_owned(), ext.value_bytes().to_vec()));
            }
        }
    }
    Ok(Meta {
        uid,
        gid,
        mode,
        times: Timestamps {
            last_access: ts,
            last_modification: ts,
        },
        xattrs,
    })
}

/// Sets owner, then mode (chown clears setid bits), then xattrs on an open file or directory.
fn set_fd_meta(fd: &OwnedFd, m: &Meta, entry: &str) -> Result<(), Error> {
    fchown(fd, Some(m.uid), Some(m.gid)).map_err(|e| Error::entry_io(entry, "chown", e))?;
    fchmod(fd, Mode::from_raw_mode(m.mode)).map_err(|e| Error::entry_io(entry, "chmod", e))?;
    for (name, value) in &m.xattrs {
        rustix::fs::fsetxattr(fd, name.as_str(), value, rustix::fs::XattrFlags::empty())
            .map_err(|e| Error::entry_io(entry, "set xattr", e))?;
    }
    Ok(())
}

/// Sets the recorded directory times, after the last entry. A directory replaced by a
/// later entry is skipped.
pub(super) fn set_dir_times(
    root: &OwnedFd,
    dir_times: &[(Vec<u8>, Timestamps)],
) -> Result<(), Error> {
    for (path, times) in dir_times {
        let entry = String::from_utf8_lossy(path);
        let comps: Vec<&[u8]> = path.split(|&b| b == b'/').collect();
        if let Ok(dir) = fsops::open_dir(root, &comps, &entry) {
            futimens(&dir, times).map_err(|e| Error::entry_io(&entry, "set directory mtime", e))?;
        }
    }
    Ok(())
}

/// Applies one entry. `raw` is its name as stored in the tar, `entry` the same for errors.
pub(super) fn apply<R: Read>(
    root: &OwnedFd,
    item: &mut tar::Entry<'_, R>,
    raw: &[u8],
    entry: &str,
    opts: &UnpackOptions,
    dir_times: &mut Vec<(Vec<u8>, Timestamps)>,
) -> Result<(), Error> {
    let kind = item.header().entry_type();
    if matches!(kind, EntryType::XGlobalHeader | EntryType::XHeader) {
        return Ok(());
    }
    let comps = components(raw).map_err(|reason| Error::EntryPath {
        entry: entry.to_owned(),
        reason,
    })?;
    let Some((name, parent_comps)) = comps.split_last() else {
        // "./": the layer root itself keeps the store's ownership and mode.
        return Ok(());
    };
    let name: &[u8] = name;

    if name == OPAQUE_MARKER {
        let dir = fsops::ensure_dir(root, parent_comps, entry)?;
        return fsops::make_opaque(&dir, entry);
    }
    if let Some(hidden) = name.strip_prefix(WHITEOUT_PREFIX) {
        if hidden.starts_with(WHITEOUT_PREFIX) {
            // Other `.wh..wh.*` names are aufs bookkeeping, meaningless here.
            return Ok(());
        }
        if hidden.is_empty() || hidden == b"." || hidden == b".." {
            return Err(Error::EntryPath {
                entry: entry.to_owned(),
                reason: "malformed whiteout name",
            });
        }
        let parent = fsops::ensure_dir(root, parent_comps, entry)?;
        return fsops::make_whiteout(&parent, hidden, entry);
    }

    let parent = fsops::ensure_dir(root, parent_comps, entry)?;
    match kind {
        EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => {
            let m = meta(item, entry, opts)?;
            fsops::clear(&parent, name, false, entry)?;
            let fd = openat(
                &parent,
                os(name),
                OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::from_raw_mode(0o600),
            )
            .map_err(|e| Error::entry_io(entry, "create file", e))?;
            let mut file = File::from(fd);
            io::copy(item, &mut file).map_err(|e| Error::entry_io(entry, "write file", e))?;
            let fd = OwnedFd::from(file);
            set_fd_meta(&fd, &m, entry)?;
            futimens(&fd, &m.times).map_err(|e| Error::entry_io(entry, "set mtime", e))
        }
        EntryType::Directory => {
            let m = meta(item, entry, opts)?;
            if fsops::clear(&parent, name, true, entry)? == Existing::Nothing {
                mkdirat(&parent, os(name), Mode::from_raw_mode(0o700))
                    .map_err(|e| Error::entry_io(entry, "create directory", e))?;
            }
            let dir = fsops::open_dir(&parent, &[name], entry)?;
            set_fd_meta(&dir, &m, entry)?;
            // Later entries change the directory's mtime: set it once all are written.
            dir_times.push((join(&comps), m.times));
            Ok(())
        }
        EntryType::Symlink => {
            let m = meta(item, entry, opts)?;
            let target = link_target(item, entry)?;
            if symlink_escapes(parent_comps.len(), &target) {
                return Err(Error::EntryEscapes {
                    entry: entry.to_owned(),
                    kind: "symlink",
                    target: String::from_utf8_lossy(&target).into_owned(),
                });
            }
            fsops::clear(&parent, name, false, entry)?;
            symlinkat(os(&target), &parent, os(name))
                .map_err(|e| Error::entry_io(entry, "create symlink", e))?;
            chownat(
                &parent,
                os(name),
                Some(m.uid),
                Some(m.gid),
                AtFlags::SYMLINK_NOFOLLOW,
            )
            .map_err(|e| Error::entry_io(entry, "chown symlink", e))?;
            utimensat(&parent, os(name), &m.times, AtFlags::SYMLINK_NOFOLLOW)
                .map_err(|e| Error::entry_io(entry, "set symlink mtime", e))
        }
        EntryType::Link => {
            let target = link_target(item, entry)?;
            let tcomps = components(&target).map_err(|_| Error::EntryEscapes {
                entry: entry.to_owned(),
                kind: "hard link",
                target: String::from_utf8_lossy(&target).into_owned(),
            })?;
            if tcomps == comps {
                return Ok(());
            }
            fsops::hard_link(root, &tcomps, &parent, name, entry)
        }
        EntryType::Fifo => {
            let m = meta(item, entry, opts)?;
            fsops::clear(&parent, name, false, entry)?;
            mknodat(
                &parent,
                os(name),
                FileType::Fifo,
                Mode::from_raw_mode(0o600),
                0,
            )
            .map_err(|e| Error::entry_io(entry, "create fifo", e))?;
            chownat(
                &parent,
                os(name),
                Some(m.uid),
                Some(m.gid),
                AtFlags::SYMLINK_NOFOLLOW,
            )
            .map_err(|e| Error::entry_io(entry, "chown fifo", e))?;
            // chmodat cannot refuse symlinks, but nothing else writes to this private
            // directory between the mknodat above and this call.
            chmodat(
                &parent,
                os(name),
                Mode::from_raw_mode(m.mode),
                AtFlags::empty(),
            )
            .map_err(|e| Error::entry_io(entry, "chmod fifo", e))
        }
        EntryType::Char | EntryType::Block => Err(Error::DeviceNode {
            entry: entry.to_owned(),
        }),
        other => Err(Error::UnsupportedEntry {
            entry: entry.to_owned(),
            kind: format!("{other:?}"),
        }),
    }
}

fn link_target<R: Read>(item: &tar::Entry<'_, R>, entry: &str) -> Result<Vec<u8>, Error> {
    match item.link_name_bytes() {
        Some(t) if !t.is_empty() => Ok(t.into_owned()),
        _ => Err(Error::EntryPath {
            entry: entry.to_owned(),
            reason: "link without target",
        }),
    }
}
