//! The store's writer lock: an exclusive `flock` on `<root>/lock`, held for the duration of
//! one mutating operation. flock locks belong to the open file description, so two threads
//! of one process exclude each other as well as two processes do.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use rustix::fs::{flock, FlockOperation};

use crate::Error;

pub(crate) struct WriterLock {
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

impl WriterLock {
    /// Blocks until the lock is ours.
    pub(crate) fn acquire(path: &Path) -> Result<WriterLock, Error> {
        let file = open_lock_file(path)?;
        flock(&file, FlockOperation::LockExclusive).map_err(|e| Error::Lock {
            path: path.to_owned(),
            source: e.into(),
        })?;
        Ok(WriterLock { _file: file })
    }

    /// Takes the lock only if nobody holds it.
    pub(crate) fn try_acquire(path: &Path) -> Result<Option<WriterLock>, Error> {
        let file = open_lock_file(path)?;
        match flock(&file, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => Ok(Some(WriterLock { _file: file })),
            Err(rustix::io::Errno::WOULDBLOCK) => Ok(None),
            Err(e) => Err(Error::Lock {
                path: path.to_owned(),
                source: e.into(),
            }),
        }
    }
}
