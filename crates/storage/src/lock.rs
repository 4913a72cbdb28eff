//! One exclusive `flock` per store serialises every change, across processes.

use std::fs::{File, OpenOptions};
use std::path::Path;

use rustix::fs::{flock, FlockOperation};

use crate::error::Error;

/// Held for the duration of one store operation; released on drop (close).
#[derive(Debug)]
pub struct StoreLock {
    _file: File,
}

impl StoreLock {
    pub fn acquire(path: &Path) -> Result<Self, Error> {
        let err = |source| Error::Lock {
            path: path.to_owned(),
            source,
        };
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .map_err(err)?;
        flock(&file, FlockOperation::LockExclusive).map_err(|e| err(e.into()))?;
        Ok(Self { _file: file })
    }
}
