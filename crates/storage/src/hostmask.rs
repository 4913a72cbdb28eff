//! Hiding host paths from HostTree containers: always the store itself, plus whatever the
//! manager asks for (other stores, image layers, /root, ...).
//!
//! Overlay does not see mounts stacked on a lower layer, so `/proc`, `/sys`, `/dev` and the
//! loop-mounted container file systems are absent from the host tree already, but the
//! store's own directory on the host file system (other containers' images and upper
//! directories) would be readable. So each HostTree container's upper directory starts
//! with the hidden paths in it: a directory as an opaque empty directory
//! (`trusted.overlay.opaque=y`), anything else as a whiteout (a 0/0 character device).
//! The mask cannot be a separate lower layer on the host file system: overlay refuses
//! lower layers nested in each other ("overlapping lowerdir path"). The container cannot
//! lift it: overlay refuses `trusted.overlay.*` xattrs from above, and a removed opaque
//! directory becomes a whiteout.
//!
//! The directories leading to a hidden path copy the host directories' mode and owner, as
//! overlay's own copy-up would (a 0755 `/tmp` in the upper would hide the host's 1777 one).

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rustix::fs::{makedev, mknodat, FileType, Mode, XattrFlags, CWD};

use crate::error::Error;
use crate::idshift::IdShift;

const OPAQUE: &str = "trusted.overlay.opaque";

/// Put masks for the absolute host paths `hidden` into `upper` (an upper directory, or the
/// template of one). Paths below another hidden path and missing paths are skipped.
/// With `ids`, directories get the shifted owners the idmapped host tree shows.
pub fn mask(upper: &Path, hidden: &[PathBuf], ids: Option<&IdShift>) -> Result<(), Error> {
    let mut sorted: Vec<&PathBuf> = hidden.iter().collect();
    sorted.sort();
    let mut done: Vec<&Path> = Vec::new();
    for host in sorted {
        if done.iter().any(|d| host.starts_with(d)) {
            continue;
        }
        let Ok(meta) = std::fs::symlink_metadata(host) else {
            continue;
        };
        let inside = upper.join(host.strip_prefix("/").unwrap_or(host));
        if let Some(parent) = host.parent() {
            copy_parents(upper, parent, ids)?;
        }
        if meta.is_dir() {
            copy_dir(host, &inside, ids)?;
            rustix::fs::setxattr(&inside, OPAQUE, b"y", XattrFlags::empty()).map_err(|e| {
                Error::Xattr {
                    name: OPAQUE,
                    path: inside.clone(),
                    source: e.into(),
                }
            })?;
        } else {
            whiteout(&inside)?;
        }
        done.push(host);
    }
    Ok(())
}

/// Make `upper/<dir>` and the directories leading to it like the host's.
fn copy_parents(upper: &Path, dir: &Path, ids: Option<&IdShift>) -> Result<(), Error> {
    let mut host = PathBuf::from("/");
    let mut inside = upper.to_owned();
    for part in dir.strip_prefix("/").unwrap_or(dir).components() {
        host.push(part);
        inside.push(part);
        copy_dir(&host, &inside, ids)?;
    }
    Ok(())
}

/// Make directory `inside` with the mode and owner of the host directory `host`.
fn copy_dir(host: &Path, inside: &Path, ids: Option<&IdShift>) -> Result<(), Error> {
    let err = |path: &Path, source| Error::CreateDir {
        path: path.to_owned(),
        source,
    };
    let meta = std::fs::metadata(host).map_err(|e| err(host, e))?;
    match std::fs::create_dir(inside) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(err(inside, e)),
    }
    let (uid, gid) = match ids {
        Some(s) => (s.uid_of(meta.uid()), s.gid_of(meta.gid())),
        None => (meta.uid(), meta.gid()),
    };
    std::os::unix::fs::chown(inside, Some(uid), Some(gid)).map_err(|e| err(inside, e))?;
    std::fs::set_permissions(
        inside,
        std::fs::Permissions::from_mode(meta.mode() & 0o7777),
    )
    .map_err(|e| err(inside, e))
}

/// Overlay's whiteout: a character device 0/0.
fn whiteout(path: &Path) -> Result<(), Error> {
    mknodat(
        CWD,
        path,
        FileType::CharacterDevice,
        Mode::empty(),
        makedev(0, 0),
    )
    .map_err(|e| Error::Whiteout {
        path: path.to_owned(),
        source: e.into(),
    })
}
