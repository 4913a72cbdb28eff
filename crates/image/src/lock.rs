//! The store's locks, `flock`s that belong to the open file description (so two threads of
//! one process exclude each other as well as two processes do):
//! - `<root>/lock`, held for one whole operation: SHARED by pulls, which only add
//!   content-addressed files (so several pulls run at once), EXCLUSIVE by everything that
//!   deletes or rewrites (import, load, remove, prune, the temp clean-up in open);
//! - `<root>/refs.lock`, exclusive, held briefly around each read-modify-write of
//!   `refs.json` and of an image record, always taken after `lock`.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use rustix::fs::{flock, FlockOperation};

use crate::Error;

pub(crate) struct FileLock {
    _file: File,
}

fn open_lock_file(path: &Path) -> Result<File, Error> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)
        .map_err(|source| Error::Lock {
            path: path.to_owned(),
            source,
        })
}

impl FileLock {
    /// Blocks until the lock is ours.
    pub(crate) fn acquire(path: &Path) -> Result<FileLock, Error> {
        let file = open_lock_file(path)?;
        flock(&file, FlockOperation::LockExclusive).map_err(|e| Error::Lock {
            path: path.to_owned(),
            source: e.into(),
        })?;
        Ok(FileLock { _file: file })
    }

    /// Blocks until a shared hold is ours.
    pub(crate) fn acquire_shared(path: &Path) -> Result<FileLock, Error> {
        let file = open_lock_file(path)?;
        flock(&file, FlockOperation::LockShared).map_err(|e| Error::Lock {
            path: path.to_owned(),
            source: e.into(),
        })?;
        Ok(FileLock { _file: file })
    }

    /// Takes the lock only if nobody holds it.
    pub(crate) fn try_acquire(path: &Path) -> Result<Option<FileLock>, Error> {
        let file = open_lock_file(path)?;
        match flock(&file, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => Ok(Some(FileLock { _file: file })),
            Err(rustix::io::Errno::WOULDBLOCK) => Ok(None),
            Err(e) => Err(Error::Lock {
                path: path.to_owned(),
                source: e.into(),
            }),
        }
    }
}
