use std::io;
use std::path::PathBuf;
use std::time::Duration;

/// Failures of the VM harness, one per step.
#[derive(Debug, thiserror::Error)]
pub enum VmError {
    #[error(
        "guest kernel not prepared in {cache}: run vm/prepare.sh (scripts/setup.sh does): {source}"
    )]
    KernelMissing { cache: PathBuf, source: io::Error },
    #[error("no KVER= line in {path}")]
    KernelVersion { path: PathBuf },
    #[error("read {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("module {name} not found in {path}")]
    ModuleMissing { name: String, path: PathBuf },
    #[error("run ldd on {path}: {source}")]
    Ldd { path: PathBuf, source: io::Error },
    #[error("write initramfs entry {entry}: {source}")]
    Initramfs { entry: String, source: io::Error },
    #[error("guest path {0} must be absolute")]
    RelativeGuestPath(String),
    #[error("make a bundle for the guest: {0}")]
    Bundle(#[from] crate::TestkitError),
    #[error("edit config.json for the guest: {0}")]
    BundleJson(#[from] serde_json::Error),
    #[error("create work directory: {0}")]
    WorkDir(io::Error),
    #[error("start {qemu}: {source}")]
    Spawn { qemu: PathBuf, source: io::Error },
    #[error("guest printed nothing within {0:?}, twice")]
    Silent(Duration),
    #[error("guest gave no exit marker within {timeout:?}; console:\n{console}")]
    Timeout { timeout: Duration, console: String },
    #[error("qemu exited ({status}) before the exit marker; console:\n{console}")]
    NoMarker { status: String, console: String },
}
