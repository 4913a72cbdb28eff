//! Running code inside another network namespace: a short-lived thread that setns()es,
//! so the caller's own namespace is never changed.

use std::fs::File;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use nix::sched::{setns, CloneFlags};

use crate::Error;

pub fn open(path: &Path) -> Result<File, Error> {
    File::open(path).map_err(|source| Error::OpenNetns {
        path: path.into(),
        source,
    })
}

/// Runs `f` on a new thread that first joins the network namespace at `path`.
pub fn run_in<T, F>(path: &Path, f: F) -> Result<T, Error>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, Error> + Send + 'static,
{
    let ns = open(path)?;
    let owned: PathBuf = path.into();
    let worker = std::thread::spawn(move || {
        setns(ns.as_fd(), CloneFlags::CLONE_NEWNET).map_err(|source| Error::EnterNetns {
            path: owned,
            source,
        })?;
        f()
    });
    worker.join().map_err(|_| Error::NetnsThread(path.into()))?
}
