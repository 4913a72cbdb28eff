//! Errors of the rootfs set-up: one variant per failing step, naming the path involved.

use std::io;
use std::path::PathBuf;

/// The kernel's reason in lower case without the `(os error N)` suffix, so messages read
/// like `mount proc on /proc: permission denied`.
pub(crate) fn reason(err: &io::Error) -> String {
    let text = match err.raw_os_error() {
        Some(code) => rustix::io::Errno::from_raw_os_error(code).to_string(),
        None => err.to_string(),
    };
    let text = text.split(" (os error").next().unwrap_or(&text).to_owned();
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => text,
    }
}

/// A failed step of [`prepare`](super::prepare), [`pivot`](super::pivot) or
/// [`finalize`](super::finalize).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A path inside the container (mount destination, device, masked path) is malformed.
    #[error("invalid mount destination {path:?}: {why}")]
    InvalidDestination { path: PathBuf, why: &'static str },
    /// `linux.rootfsPropagation` is not a propagation type.
    #[error("invalid rootfsPropagation {value:?}")]
    InvalidPropagation { value: String },
    /// A mount needs a source and has none.
    #[error("mount {fstype} on {dst}: missing source")]
    MissingSource { dst: PathBuf, fstype: String },
    /// Opening the rootfs or a host path (bind source) failed.
    #[error("open {path}: {}", reason(source))]
    Open { path: PathBuf, source: io::Error },
    /// Resolving or creating a path inside the rootfs failed.
    #[error("resolve {path} in the rootfs: {}", reason(source))]
    Resolve { path: PathBuf, source: io::Error },
    /// A mount (or bind mount) failed.
    #[error("mount {fstype} {src} on {dst}: {}", reason(source))]
    Mount {
        src: String,
        dst: PathBuf,
        fstype: String,
        source: io::Error,
    },
    /// Changing flags, propagation or the idmapping of a mount failed.
    #[error("set mount attributes ({what}) on {path}: {}", reason(source))]
    SetAttr {
        path: PathBuf,
        what: String,
        source: io::Error,
    },
    /// Creating the user namespace for an idmapped mount failed.
    #[error(
        "create user namespace for idmapped mount on {dst}: {}",
        reason(source)
    )]
    IdmapUserns { dst: PathBuf, source: io::Error },
    /// Creating a device node failed.
    #[error("mknod {path}: {}", reason(source))]
    Mknod { path: PathBuf, source: io::Error },
    /// Changing owner or mode of a device node failed.
    #[error("chown/chmod {path}: {}", reason(source))]
    Chown { path: PathBuf, source: io::Error },
    /// Creating a symlink in `/dev` failed.
    #[error("symlink {path} -> {target}: {}", reason(source))]
    Symlink {
        path: PathBuf,
        target: PathBuf,
        source: io::Error,
    },
    /// `pivot_root` (or the `--no-pivot` move + chroot) failed.
    #[error("pivot_root to {rootfs}: {step}: {}", reason(source))]
    PivotRoot {
        rootfs: PathBuf,
        step: &'static str,
        source: io::Error,
    },
    /// `/proc` in the container is not procfs, so masking below it would be meaningless.
    #[error("{path} in the container is not procfs")]
    NotProcfs { path: PathBuf },
    /// `/sys` in the container is not sysfs.
    #[error("{path} in the container is not sysfs")]
    NotSysfs { path: PathBuf },
    /// `/dev/null` in the container is not the null device, so it cannot mask files.
    #[error("{path} in the container is not the null device")]
    NotDevNull { path: PathBuf },
    /// Checking the file system type of a path failed.
    #[error("statfs {path}: {}", reason(source))]
    Statfs { path: PathBuf, source: io::Error },
}
