//! The runtime library's error: one variant per step that can fail, carrying what it was
//! working on, so the user reads `create cgroup /foo: permission denied`, not `EPERM`.

use std::io;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid container id {id:?}: {reason}")]
    InvalidId { id: String, reason: &'static str },
    #[error("container with id exists: {0}")]
    Exists(String),
    #[error("container does not exist: {0}")]
    NotExist(String),
    #[error("read config {path}: {source}")]
    ConfigRead { path: PathBuf, source: io::Error },
    #[error("parse config {path}: {source}")]
    ConfigParse {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("invalid config: {0}")]
    ConfigInvalid(String),
    #[error("rootfs {path}: {source}")]
    Rootfs { path: PathBuf, source: io::Error },
    #[error("state directory {path}: {source}")]
    StateDir { path: PathBuf, source: io::Error },
    #[error("state of container {id}: {reason}")]
    StateCorrupt { id: String, reason: String },
    #[error("lock {path}: {source}")]
    Lock { path: PathBuf, source: io::Error },
    #[error("{0}")]
    WrongStatus(String),
    #[error("cgroup: {0}")]
    Cgroup(#[from] berth_cgroups::Error),
    #[error("{0}")]
    RootfsSetup(#[from] crate::rootfs::Error),
    #[error("{0}")]
    Security(#[from] crate::security::Error),
    #[error("{0}")]
    Seccomp(#[from] crate::security::seccomp::Error),
    #[error("{0}")]
    Label(#[from] crate::security::labels::Error),
    #[error("create exec fifo {path}: {source}")]
    Fifo { path: PathBuf, source: io::Error },
    #[error("{what}: {source}")]
    Sys { what: String, source: io::Error },
    #[error("container init: {0}")]
    Init(String),
    #[error("{kind} hook #{index} ({path}): {reason}")]
    Hook {
        kind: &'static str,
        index: usize,
        path: PathBuf,
        reason: String,
    },
    #[error("console socket {path}: {source}")]
    ConsoleSocket { path: PathBuf, source: io::Error },
    #[error("exec: {0}")]
    Exec(String),
    #[error("{0}")]
    Unsupported(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Wrap an `io::Error` with the step that failed.
pub(crate) fn sys(what: impl Into<String>) -> impl FnOnce(io::Error) -> Error {
    let what = what.into();
    move |source| Error::Sys { what, source }
}
