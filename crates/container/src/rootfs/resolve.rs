//! The container's root directory as a descriptor, and safe lookups below it.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

use berth_sys::path::{self as sp, NodeKind};
use rustix::fs::OFlags;

use super::Error;

/// An `O_PATH` descriptor of a root directory (the rootfs before `pivot_root`, `/` after it).
/// All paths given to its methods are container paths, resolved with `RESOLVE_IN_ROOT`.
pub struct Root {
    fd: OwnedFd,
}

impl Root {
    /// Opens `dir` (a trusted host path). Open it again after mounting on it: a descriptor
    /// taken before a mount still refers to the directory underneath.
    pub fn open(dir: &Path) -> Result<Self, Error> {
        let fd = sp::open_dir(dir).map_err(|source| Error::Open {
            path: dir.to_path_buf(),
            source,
        })?;
        Ok(Root { fd })
    }

    /// The root's descriptor.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Opens an existing `path` as `O_PATH`; `Ok(None)` if it does not exist.
    pub fn lookup(&self, path: &Path) -> Result<Option<OwnedFd>, Error> {
        match sp::open_in_root(self.fd(), path, OFlags::PATH) {
            Ok(fd) => Ok(Some(fd)),
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(None),
            Err(source) => Err(resolve_err(path, source)),
        }
    }

    /// Opens `path`, which must exist, with extra `flags` (`O_PATH` is always added).
    pub fn open_existing(&self, path: &Path, flags: OFlags) -> Result<OwnedFd, Error> {
        sp::open_in_root(self.fd(), path, OFlags::PATH | flags).map_err(|e| resolve_err(path, e))
    }

    /// Opens or creates directory `path` (and its parents).
    pub fn mkdir_all(&self, path: &Path) -> Result<OwnedFd, Error> {
        sp::create_in_root(self.fd(), path, NodeKind::Directory, 0o755)
            .map_err(|e| resolve_err(path, e))
    }

    /// Opens `path`, creating its parents as directories and itself as `kind` if missing.
    pub fn create(&self, path: &Path, kind: NodeKind) -> Result<OwnedFd, Error> {
        sp::create_in_root(self.fd(), path, kind, 0o755).map_err(|e| resolve_err(path, e))
    }

    /// Opens or creates directory `path` refusing symlinks in any component (for `/proc` and
    /// `/sys` targets, which must be real directories of the rootfs).
    pub fn mkdir_nofollow(&self, path: &Path) -> Result<OwnedFd, Error> {
        sp::create_dir_nofollow(self.fd(), path, 0o755).map_err(|e| resolve_err(path, e))
    }
}

fn resolve_err(path: &Path, source: std::io::Error) -> Error {
    Error::Resolve {
        path: path.to_path_buf(),
        source,
    }
}
