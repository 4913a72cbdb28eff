//! The manager's error: one variant per failing step, carrying the path or value involved.

use std::io;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("create directory {path}: {source}")]
    CreateDir { path: PathBuf, source: io::Error },
    #[error("lock {path}: {source}")]
    Lock { path: PathBuf, source: io::Error },
    #[error("metadata store {path}: {source}")]
    Db { path: PathBuf, source: redb::Error },
    #[error("metadata record {id}: {source}")]
    RecordCorrupt {
        id: String,
        source: serde_json::Error,
    },
    #[error(
        "container {0} is not attached to a bridge network (is it running with --network NAME?)"
    )]
    NotAttached(String),
    #[error("no such container: {0}")]
    NoSuchContainer(String),
    #[error("container name {name:?} is already in use by container {id}")]
    NameInUse { name: String, id: String },
    #[error("invalid container name {name:?}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")]
    InvalidName { name: String },
    #[error("container id prefix {0:?} is ambiguous")]
    AmbiguousId(String),
    #[error("container {id} is {state}: {what}")]
    WrongState {
        id: String,
        state: String,
        what: &'static str,
    },
    #[error(
        "{path} (mode {mode:o}) does not let other users through, and a container in its own \
         user namespace reaches its root file system as an unprivileged host id: \
         chmod o+x {path}, or run it with --userns host"
    )]
    NotSearchable { path: PathBuf, mode: u32 },
    #[error("invalid {option} value {value:?}: {reason}")]
    InvalidOption {
        option: &'static str,
        value: String,
        reason: String,
    },
    #[error("stat device {path}: {source}")]
    DeviceStat { path: PathBuf, source: io::Error },
    #[error("{path} is not a block device")]
    NotBlockDevice { path: PathBuf },
    #[error("read {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("write {path}: {source}")]
    Write { path: PathBuf, source: io::Error },
    #[error("remove {path}: {source}")]
    Remove { path: PathBuf, source: io::Error },
    #[error("serialize {what}: {source}")]
    Serialize {
        what: &'static str,
        source: serde_json::Error,
    },
    #[error("spawn monitor {exe}: {source}")]
    SpawnMonitor { exe: PathBuf, source: io::Error },
    #[error("monitor of container {id}: {message}")]
    Monitor { id: String, message: String },
    #[error("start container {id}: {message}")]
    StartFailed {
        id: String,
        code: i32,
        message: String,
    },
    #[error("{what}: {source}")]
    Sys { what: String, source: io::Error },
    #[error("console socket {path}: {source}")]
    ConsoleSocket { path: PathBuf, source: io::Error },
    #[error("build OCI {what}: {source}")]
    Spec {
        what: &'static str,
        source: oci_spec::OciSpecError,
    },
    #[error("{path} was not made for the container's user namespace (made by an older berth?); recreate the container, or use --userns host")]
    IdmapUnsupported { path: PathBuf },
    #[error("hardening defaults: {0}")]
    Defaults(#[from] berth_container::defaults::Error),
    #[error("runtime: {0}")]
    Runtime(#[from] berth_container::Error),
    #[error("storage: {0}")]
    Storage(#[from] berth_storage::Error),
    /// Transparent: the net crate's messages name the network or address already, and a
    /// prefix with `#[from]` would print the message twice in an `{:#}` chain.
    #[error(transparent)]
    Net(#[from] berth_net::Error),
    #[error("image: {0}")]
    Image(#[from] berth_image::Error),
    #[error("timed out after {secs}s waiting for {what}")]
    Timeout { what: String, secs: u64 },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A closure turning an `io::Error` (or anything convertible) into `Error::Sys` naming `what`.
pub(crate) fn sys<E: Into<io::Error>>(what: impl Into<String>) -> impl FnOnce(E) -> Error {
    let what = what.into();
    move |e| Error::Sys {
        what,
        source: e.into(),
    }
}

impl Error {
    /// docker's exit code for an error before or while starting the container: 127 when
    /// the command was not found, 126 when it could not be executed, 125 otherwise.
    pub fn exit_code(&self) -> i32 {
        if let Error::StartFailed { code, .. } = self {
            return *code;
        }
        let text = self.to_string();
        let exec_failed = text.contains("exec \"");
        if exec_failed
            && (text.contains("not found in $PATH") || text.contains("No such file or directory"))
        {
            127
        } else if exec_failed
            && (text.contains("ermission denied") || text.contains("Exec format error"))
        {
            126
        } else {
            125
        }
    }
}
