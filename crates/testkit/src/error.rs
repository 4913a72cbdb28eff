use std::io;
use std::path::PathBuf;

/// Failures of the test helpers, one variant per step, each naming the path or value involved.
#[derive(Debug, thiserror::Error)]
pub enum TestkitError {
    #[error("create directory {path}: {source}")]
    CreateDir { path: PathBuf, source: io::Error },
    #[error("write {path}: {source}")]
    Write { path: PathBuf, source: io::Error },
    #[error("read {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("build busybox rootfs in {path}: {source}")]
    Rootfs { path: PathBuf, source: io::Error },
    #[error("parse the default runc spec: {0}")]
    DefaultSpec(serde_json::Error),
    #[error("serialize config.json for {path}: {source}")]
    SerializeSpec {
        path: PathBuf,
        source: oci_spec::OciSpecError,
    },
    #[error("no cgroup of pid {pid} found for the {controller} hierarchy in /proc/{pid}/cgroup")]
    NoCgroupOf { pid: u32, controller: String },
    #[error("move pid {pid} into {path}: {source}")]
    MovePid {
        pid: u32,
        path: PathBuf,
        source: io::Error,
    },
}
