//! File-descriptor-relative file system operations inside one layer directory.
//!
//! Every lookup starts at the layer's directory fd and uses openat2 with
//! `RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS`, so no name can reach
//! outside the layer and no symlink (not even one inside the layer) is ever followed: a tar
//! entry written "through" an earlier symlink entry is refused. Files are created with
//! `O_EXCL | O_NOFOLLOW` after unlinking whatever was there, so data is never written
//! through an existing symlink or hard link either.

use std::ffi::OsStr;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use rustix::fs::{
    linkat, mkdirat, mknodat, openat, openat2, statat, unlinkat, AtFlags, Dir, FileType, Mode,
    OFlags, ResolveFlags,
};
use rustix::io::Errno;

use super::path::join;
use crate::Error;

const DIR_FLAGS: OFlags = OFlags::RDONLY
    .union(OFlags::DIRECTORY)
    .union(OFlags::NOFOLLOW)
    .union(OFlags::CLOEXEC);

fn resolve_flags() -> ResolveFlags {
    ResolveFlags::IN_ROOT | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS
}

pub(crate) fn os(name: &[u8]) -> &OsStr {
    OsStr::from_bytes(name)
}

/// Opens the layer root directory.
pub(crate) fn open_root(dir: &Path) -> Result<OwnedFd, Error> {
    rustix::fs::open(dir, DIR_FLAGS, Mode::empty()).map_err(|e| Error::Open {
        path: dir.to_owned(),
        source: e.into(),
    })
}

fn reopen(root: &OwnedFd, entry: &str) -> Result<OwnedFd, Error> {
    openat(root, ".", DIR_FLAGS, Mode::empty())
        .map_err(|e| Error::entry_io(entry, "open layer root", e))
}

fn link_error(entry: &str, e: Errno) -> Error {
    if matches!(e, Errno::LOOP | Errno::NOTDIR | Errno::XDEV) {
        Error::ThroughLink {
            entry: entry.to_owned(),
            reason: e.into(),
        }
    } else {
        Error::entry_io(entry, "open parent directory", e)
    }
}

/// Opens the existing directory `comps` (relative to the layer root).
pub(crate) fn open_dir(root: &OwnedFd, comps: &[&[u8]], entry: &str) -> Result<OwnedFd, Error> {
    if comps.is_empty() {
        return reopen(root, entry);
    }
    openat2(
        root,
        os(&join(comps)),
        DIR_FLAGS,
        Mode::empty(),
        resolve_flags(),
    )
    .map_err(|e| link_error(entry, e))
}

/// Opens the directory `comps`, creating missing directories (mode 0755, root-owned) on
/// the way, as tar extraction does for entries whose parents were not listed.
pub(crate) fn ensure_dir(root: &OwnedFd, comps: &[&[u8]], entry: &str) -> Result<OwnedFd, Error> {
    match open_dir(root, comps, entry) {
        Err(Error::EntryIo { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {}
        other => return other,
    }
    let mut cur = reopen(root, entry)?;
    for c in comps {
        let name = os(c);
        let flags = ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS;
        cur = match openat2(&cur, name, DIR_FLAGS, Mode::empty(), flags) {
            Ok(fd) => fd,
            Err(Errno::NOENT) => {
                match mkdirat(&cur, name, Mode::from_raw_mode(0o755)) {
                    Ok(()) | Err(Errno::EXIST) => {}
                    Err(e) => return Err(Error::entry_io(entry, "create parent directory", e)),
                }
                openat2(&cur, name, DIR_FLAGS, Mode::empty(), flags)
                    .map_err(|e| link_error(entry, e))?
            }
            Err(e) => return Err(link_error(entry, e)),
        };
    }
    Ok(cur)
}

/// What `clear` found at a name.
#[derive(PartialEq, Eq)]
pub(crate) enum Existing {
    Nothing,
    KeptDir,
}

/// Removes whatever is at `parent/name`, except a directory when `keep_dir` (a directory
/// entry for an existing directory only updates its metadata, as tar does).
pub(crate) fn clear(
    parent: &OwnedFd,
    name: &[u8],
    keep_dir: bool,
    entry: &str,
) -> Result<Existing, Error> {
    let st = match statat(parent, os(name), AtFlags::SYMLINK_NOFOLLOW) {
        Err(Errno::NOENT) => return Ok(Existing::Nothing),
        Err(e) => return Err(Error::entry_io(entry, "stat existing path", e)),
        Ok(st) => st,
    };
    if FileType::from_raw_mode(st.st_mode) == FileType::Directory {
        if keep_dir {
            return Ok(Existing::KeptDir);
        }
        remove_tree(parent, name, entry)?;
    } else {
        unlinkat(parent, os(name), AtFlags::empty())
            .map_err(|e| Error::entry_io(entry, "remove existing path", e))?;
    }
    Ok(Existing::Nothing)
}

/// Recursively removes the directory `parent/name` without following any symlink.
fn remove_tree(parent: &OwnedFd, name: &[u8], entry: &str) -> Result<(), Error> {
    let fd = openat(parent, os(name), DIR_FLAGS, Mode::empty())
        .map_err(|e| Error::entry_io(entry, "open directory to replace", e))?;
    let mut dir = Dir::read_from(&fd).map_err(|e| Error::entry_io(entry, "read directory", e))?;
    let mut children = Vec::new();
    while let Some(child) = dir.read() {
        let child = child.map_err(|e| Error::entry_io(entry, "read directory", e))?;
        let n = child.file_name().to_bytes();
        if n != b"." && n != b".." {
            children.push(n.to_vec());
        }
    }
    for child in children {
        let st = statat(&fd, os(&child), AtFlags::SYMLINK_NOFOLLOW)
            .map_err(|e| Error::entry_io(entry, "stat directory child", e))?;
        if FileType::from_raw_mode(st.st_mode) == FileType::Directory {
            remove_tree(&fd, &child, entry)?;
        } else {
            unlinkat(&fd, os(&child), AtFlags::empty())
                .map_err(|e| Error::entry_io(entry, "remove directory child", e))?;
        }
    }
    unlinkat(parent, os(name), AtFlags::REMOVEDIR)
        .map_err(|e| Error::entry_io(entry, "remove directory", e))
}

/// Creates `parent/name` as an overlayfs whiteout: a 0/0 character device.
pub(crate) fn make_whiteout(parent: &OwnedFd, name: &[u8], entry: &str) -> Result<(), Error> {
    clear(parent, name, false, entry)?;
    mknodat(
        parent,
        os(name),
        FileType::CharacterDevice,
        Mode::empty(),
        0,
    )
    .map_err(|e| Error::entry_io(entry, "create whiteout device", e))
}

/// Marks a directory opaque for overlayfs.
pub(crate) fn make_opaque(dir: &OwnedFd, entry: &str) -> Result<(), Error> {
    rustix::fs::fsetxattr(
        dir.as_fd(),
        "trusted.overlay.opaque",
        b"y",
        rustix::fs::XattrFlags::empty(),
    )
    .map_err(|e| Error::entry_io(entry, "set trusted.overlay.opaque", e))
}

/// Hard-links the existing layer path `target` to `parent/name` (the link itself is not
/// followed: a hard link to a symlink links the symlink).
pub(crate) fn hard_link(
    root: &OwnedFd,
    target: &[&[u8]],
    parent: &OwnedFd,
    name: &[u8],
    entry: &str,
) -> Result<(), Error> {
    let Some((tname, tparent)) = target.split_last() else {
        return Err(Error::EntryPath {
            entry: entry.to_owned(),
            reason: "hard link with empty target",
        });
    };
    let tdir = open_dir(root, tparent, entry)?;
    statat(&tdir, os(tname), AtFlags::SYMLINK_NOFOLLOW)
        .map_err(|e| Error::entry_io(entry, "find hard link target", e))?;
    clear(parent, name, false, entry)?;
    linkat(&tdir, os(tname), parent, os(name), AtFlags::empty())
        .map_err(|e| Error::entry_io(entry, "create hard link", e))
}
