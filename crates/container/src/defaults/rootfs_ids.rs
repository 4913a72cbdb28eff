//! Showing a root file system owned by host ids `0..65536` to a container whose ids are
//! shifted to `range`: an idmapped bind mount where the file system supports it (ext4,
//! btrfs, tmpfs, xfs, overlayfs on recent kernels), else chown-on-copy (every inode's owner
//! shifted once, like `lchown -R`).

use std::os::fd::AsFd;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use berth_sys::mount::{self as sm, attr, IdMap, MountAttr};

use super::idrange::IdRange;
use super::Error;

/// How the root was prepared.
#[derive(Debug)]
pub enum RootfsIds {
    /// `src` is mounted idmapped at this target; it is unmounted when dropped unless
    /// [`IdmappedRoot::keep`] is called.
    Idmapped(IdmappedRoot),
    /// The file system cannot idmap: `src` itself was shifted in place (`files` inodes);
    /// use `src` as the rootfs.
    Chowned { dir: PathBuf, files: u64 },
}

/// An idmapped bind mount of a root directory.
#[derive(Debug)]
pub struct IdmappedRoot {
    target: PathBuf,
    keep: bool,
}

impl IdmappedRoot {
    pub fn path(&self) -> &Path {
        &self.target
    }

    /// Leave the mount in place after this value is gone (the manager unmounts it with
    /// [`unmount_root`] when the container is removed).
    pub fn keep(mut self) -> PathBuf {
        self.keep = true;
        self.target.clone()
    }
}

impl Drop for IdmappedRoot {
    fn drop(&mut self) {
        if !self.keep {
            let _ = unmount_root(&self.target);
        }
    }
}

/// Detach the idmapped mount at `target`.
pub fn unmount_root(target: &Path) -> Result<(), Error> {
    sm::unmount_detach(target).map_err(|source| Error::Unmount {
        path: target.to_path_buf(),
        source,
    })
}

fn maps(range: &IdRange) -> (Vec<IdMap>, Vec<IdMap>) {
    (
        vec![IdMap {
            inside: 0,
            outside: range.uid_start,
            count: range.size,
        }],
        vec![IdMap {
            inside: 0,
            outside: range.gid_start,
            count: range.size,
        }],
    )
}

fn idmapped_tree(src: &Path, range: &IdRange) -> std::io::Result<std::os::fd::OwnedFd> {
    let dir = std::fs::File::open(src)?;
    let mnt = sm::clone_tree(dir.as_fd(), Path::new(""), true)?;
    let (u, g) = maps(range);
    let userns = sm::userns_with_maps(&u, &g)?;
    let a = MountAttr {
        set: attr::IDMAP,
        clear: 0,
        propagation: 0,
    };
    sm::set_attr(mnt.as_fd(), &a, true, Some(userns.as_fd()))?;
    Ok(mnt)
}

/// Whether `dir`'s file system can be idmapped to `range` (tries it on a detached copy).
pub fn supports_idmap(dir: &Path, range: &IdRange) -> bool {
    idmapped_tree(dir, range).is_ok()
}

/// Show `src` (owned by ids `0..range.size`) at `target` (an existing directory) with
/// `range`'s ids: idmapped if possible, else shift `src` itself in place and return it.
///
/// Through an idmapped mount, what the container writes is stored with unshifted ids (its
/// root's files are owned by 0 on disk): keep `src` below a directory only the host's root
/// can traverse (mode 0700), or a setuid file made inside becomes a host-root one.
pub fn prepare_root(src: &Path, target: &Path, range: &IdRange) -> Result<RootfsIds, Error> {
    match idmapped_tree(src, range) {
        Ok(mnt) => {
            let t = std::fs::File::open(target).map_err(|source| Error::IdmapMount {
                src: src.to_path_buf(),
                target: target.to_path_buf(),
                source,
            })?;
            sm::attach(mnt.as_fd(), t.as_fd()).map_err(|source| Error::IdmapMount {
                src: src.to_path_buf(),
                target: target.to_path_buf(),
                source,
            })?;
            Ok(RootfsIds::Idmapped(IdmappedRoot {
                target: target.to_path_buf(),
                keep: false,
            }))
        }
        Err(_) => {
            let files = chown_shift(src, range)?;
            Ok(RootfsIds::Chowned {
                dir: src.to_path_buf(),
                files,
            })
        }
    }
}

/// Shift the owner of every inode under `dir` (not following symlinks, not crossing into
/// other mounts) from `id` to `start + id`. Ids already inside the range stay; ids at or
/// beyond `range.size` (unmappable) become the range's nobody (`start + 65534`). setuid/
/// setgid bits, which `chown` clears, are put back. Returns the number of inodes changed.
pub fn chown_shift(dir: &Path, range: &IdRange) -> Result<u64, Error> {
    let top = std::fs::symlink_metadata(dir).map_err(|source| Error::Walk {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut count = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(path) = stack.pop() {
        let meta = std::fs::symlink_metadata(&path).map_err(|source| Error::Walk {
            path: path.clone(),
            source,
        })?;
        if meta.dev() != top.dev() {
            continue;
        }
        if meta.is_dir() {
            let entries = std::fs::read_dir(&path).map_err(|source| Error::Walk {
                path: path.clone(),
                source,
            })?;
            for e in entries {
                let e = e.map_err(|source| Error::Walk {
                    path: path.clone(),
                    source,
                })?;
                stack.push(e.path());
            }
        }
        let shift = |id: u32, start: u32| {
            if id >= start && id - start < range.size {
                id
            } else if id < range.size {
                start + id
            } else {
                start + 65534
            }
        };
        let (uid, gid) = (
            shift(meta.uid(), range.uid_start),
            shift(meta.gid(), range.gid_start),
        );
        if (uid, gid) == (meta.uid(), meta.gid()) {
            continue;
        }
        std::os::unix::fs::lchown(&path, Some(uid), Some(gid)).map_err(|source| Error::Chown {
            path: path.clone(),
            uid,
            gid,
            source,
        })?;
        let mode = meta.permissions().mode();
        if !meta.file_type().is_symlink() && mode & 0o6000 != 0 {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode & 0o7777))
                .map_err(|source| Error::Chmod {
                    path: path.clone(),
                    source,
                })?;
        }
        count += 1;
    }
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chown_shift_maps_owners_keeps_setuid_and_is_idempotent() {
        let dir = std::env::temp_dir().join(format!("berth-test-chown-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        let f = dir.join("sub/suid");
        std::fs::write(&f, "x").unwrap();
        std::os::unix::fs::lchown(&f, Some(1000), Some(70000)).unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o4755)).unwrap();
        std::os::unix::fs::symlink("/nonexistent", dir.join("link")).unwrap();
        let r = IdRange {
            uid_start: 400_000,
            gid_start: 500_000,
            size: 65536,
        };
        assert_eq!(chown_shift(&dir, &r).unwrap(), 4);
        let m = std::fs::metadata(&f).unwrap();
        assert_eq!((m.uid(), m.gid()), (401_000, 565_534));
        assert_eq!(m.permissions().mode() & 0o7777, 0o4755);
        let l = std::fs::symlink_metadata(dir.join("link")).unwrap();
        assert_eq!((l.uid(), l.gid()), (400_000, 500_000));
        assert_eq!(
            chown_shift(&dir, &r).unwrap(),
            0,
            "second pass changes nothing"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
