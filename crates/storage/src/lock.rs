//! `flock`-based locks, across processes. Every operation on a container holds the store
//! lock shared and the container's lock exclusive, so operations on different containers
//! run in parallel; `open` (initialising the store) and `repair` (which must see no
//! half-made container) hold the store lock exclusive.

use std::fs::{File, OpenOptions};
use std::path::Path;

use rustix::fs::{flock, FlockOperation};

use crate::error::Error;

/// Held for the duration of one operation; released on drop (close).
#[derive(Debug)]
pub struct Lock {
    _file: File,
}

impl Lock {
    pub fn exclusive(path: &Path) -> Result<Self, Error> {
        Self::acquire(path, FlockOperation::LockExclusive)
    }

    pub fn shared(path: &Path) -> Result<Self, Error> {
        Self::acquire(path, FlockOperation::LockShared)
    }

    fn acquire(path: &Path, op: FlockOperation) -> Result<Self, Error> {
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
        flock(&file, op).map_err(|e| err(e.into()))?;
        Ok(Self { _file: file })
    }
}

/// The store lock (shared, or exclusive for `create` in a ProjectQuota store, which
/// allocates a store-wide project id) and one container's lock (exclusive), in that order.
#[derive(Debug)]
pub struct ContainerLock {
    _container: Lock,
    _store: Lock,
}

impl ContainerLock {
    pub fn acquire(store: &Path, container: &Path, store_exclusive: bool) -> Result<Self, Error> {
        let store = match store_exclusive {
            true => Lock::exclusive(store)?,
            false => Lock::shared(store)?,
        };
        let container = Lock::exclusive(container)?;
        Ok(Self {
            _container: container,
            _store: store,
        })
    }
}
