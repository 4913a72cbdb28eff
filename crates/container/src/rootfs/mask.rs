//! After `pivot_root`: read-only paths, masked paths, read-only root and `/dev`, and the
//! final root propagation.
//!
//! Masked files get the container's `/dev/null` bind-mounted over them (checked to really be
//! the null device), masked directories a read-only empty tmpfs; read-only paths become
//! read-only bind mounts of themselves. Missing paths are skipped. Before touching anything
//! below `/proc` or `/sys`, those are checked with `statfs` to be procfs and sysfs: a rootfs
//! must not substitute its own directory (or a symlink to one) and dodge the masking.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use berth_sys::mount::{self as sm, attr, MountAttr};
use berth_sys::path::{self as sp, PROC_SUPER_MAGIC, SYSFS_MAGIC};
use rustix::fs::FileType;

use super::dest::clean_destination;
use super::resolve::Root;
use super::Error;

fn set_attr_err<'a>(path: &'a Path, what: &str) -> impl Fn(std::io::Error) -> Error + 'a {
    let what = what.to_owned();
    move |source| Error::SetAttr {
        path: path.to_path_buf(),
        what: what.clone(),
        source,
    }
}

fn mount_err<'a>(
    src: &'a str,
    dst: &'a Path,
    fstype: &'a str,
) -> impl Fn(std::io::Error) -> Error + 'a {
    move |source| Error::Mount {
        src: src.to_owned(),
        dst: dst.to_path_buf(),
        fstype: fstype.to_owned(),
        source,
    }
}

/// Checks that `/proc` (resp. `/sys`) is procfs (sysfs) when any of `paths` lies below it.
/// A missing `/proc` is fine (then every path below it is missing too and skipped).
pub fn check_special_fs(root: &Root, paths: &[PathBuf]) -> Result<(), Error> {
    for (top, magic) in [("/proc", PROC_SUPER_MAGIC), ("/sys", SYSFS_MAGIC)] {
        if !paths.iter().any(|p| p.starts_with(top)) {
            continue;
        }
        let top = Path::new(top);
        let Some(fd) = root.lookup(top)? else {
            continue;
        };
        let found = sp::fs_magic(fd.as_fd()).map_err(|source| Error::Statfs {
            path: top.to_path_buf(),
            source,
        })?;
        if found != magic {
            return Err(if magic == PROC_SUPER_MAGIC {
                Error::NotProcfs {
                    path: top.to_path_buf(),
                }
            } else {
                Error::NotSysfs {
                    path: top.to_path_buf(),
                }
            });
        }
    }
    Ok(())
}

fn clean_all(paths: &[String]) -> Result<Vec<PathBuf>, Error> {
    paths
        .iter()
        .map(|p| clean_destination(Path::new(p)))
        .collect()
}

/// Makes each existing path a read-only bind mount of itself (recursively).
pub fn readonly_paths(root: &Root, paths: &[PathBuf]) -> Result<(), Error> {
    for path in paths {
        let Some(fd) = root.lookup(path)? else {
            continue;
        };
        let s = path.display().to_string();
        let mnt =
            sm::clone_tree(fd.as_fd(), Path::new(""), true).map_err(mount_err(&s, path, "bind"))?;
        let ro = MountAttr {
            set: attr::RDONLY,
            clear: 0,
            propagation: 0,
        };
        sm::set_attr(mnt.as_fd(), &ro, true, None).map_err(set_attr_err(path, "ro"))?;
        sm::attach(mnt.as_fd(), fd.as_fd()).map_err(mount_err(&s, path, "bind"))?;
    }
    Ok(())
}

/// The container's `/dev/null`, verified to be the null device (1:3).
fn dev_null(root: &Root) -> Result<OwnedFd, Error> {
    let path = Path::new("/dev/null");
    let fd = root.open_existing(path, rustix::fs::OFlags::empty())?;
    let (ftype, rdev) = sp::file_type(fd.as_fd()).map_err(|source| Error::Open {
        path: path.to_path_buf(),
        source,
    })?;
    if ftype != FileType::CharacterDevice || rdev != rustix::fs::makedev(1, 3) {
        return Err(Error::NotDevNull {
            path: path.to_path_buf(),
        });
    }
    Ok(fd)
}

/// Masks each existing path: `/dev/null` over files, a read-only tmpfs over directories.
pub fn masked_paths(root: &Root, paths: &[PathBuf]) -> Result<(), Error> {
    let mut null: Option<OwnedFd> = None;
    for path in paths {
        let Some(fd) = root.lookup(path)? else {
            continue;
        };
        let (ftype, _) = sp::file_type(fd.as_fd()).map_err(|source| Error::Open {
            path: path.clone(),
            source,
        })?;
        if ftype == FileType::Directory {
            let mnt = sm::new_mount("tmpfs", Some("tmpfs"), &[], attr::RDONLY)
                .map_err(mount_err("tmpfs", path, "tmpfs"))?;
            sm::attach(mnt.as_fd(), fd.as_fd()).map_err(mount_err("tmpfs", path, "tmpfs"))?;
        } else {
            if null.is_none() {
                null = Some(dev_null(root)?);
            }
            let null_fd: BorrowedFd = match &null {
                Some(n) => n.as_fd(),
                None => continue,
            };
            let mnt = sm::clone_tree(null_fd, Path::new(""), false).map_err(mount_err(
                "/dev/null",
                path,
                "bind",
            ))?;
            sm::attach(mnt.as_fd(), fd.as_fd()).map_err(mount_err("/dev/null", path, "bind"))?;
        }
    }
    Ok(())
}

/// Read-only paths, then masked paths (runc's order), after checking `/proc` and `/sys`.
pub fn apply(root: &Root, readonly: &[String], masked: &[String]) -> Result<(), Error> {
    let readonly = clean_all(readonly)?;
    let masked = clean_all(masked)?;
    let mut all = readonly.clone();
    all.extend(masked.iter().cloned());
    check_special_fs(root, &all)?;
    readonly_paths(root, &readonly)?;
    masked_paths(root, &masked)
}

/// Makes the mount at `path` (root of a mount) read-only, not recursively.
pub fn remount_ro(root: &Root, path: &Path) -> Result<(), Error> {
    let fd = root.open_existing(path, rustix::fs::OFlags::empty())?;
    let ro = MountAttr {
        set: attr::RDONLY,
        clear: 0,
        propagation: 0,
    };
    sm::set_attr(fd.as_fd(), &ro, false, None).map_err(set_attr_err(path, "ro"))
}
