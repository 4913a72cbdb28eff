//! Errors of the rootfs set-up: one variant per failing step, naming the path involved.

use std::io;
use std::path::PathBuf;

/// The kernel's reason in lower case without the `(os error N)` suffix, so messages read
/// like `mount proc on /proc: permission denied`.
pub(crate) fn reason(err: &io::Error) -> String {
    // Errors with extra text (the file system's own messages) carry it in their payload.
    let text = match (err.raw_os_error(), err.get_ref()) {
        (Some(code), _) => rustix::io::Errno::from_raw_os_error(code).to_string(),
        (None, Some(inner)) => inner.to_string(),
        (None, None) => err.to_string(),
    };
    let text = strip_os_error(&text);
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => text,
    }
}

/// Removes every ` (os error N)` from `text`.
fn strip_os_error(text: &str) -> String {
    const MARK: &str = " (os error ";
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(MARK) {
        out.push_str(&rest[..at]);
        let after = &rest[at + MARK.len()..];
        let digits = after.bytes().take_while(u8::is_ascii_digit).count();
        if digits > 0 && after[digits..].starts_with(')') {
            rest = &after[digits + 1..];
        } else {
            out.push_str(MARK);
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// What is mounted, for messages: `proc`, `/host/dir` (bind), `tmpfs shm`.
fn mount_what(fstype: &str, src: &str) -> String {
    if fstype.is_empty() || fstype == src || fstype == "bind" || fstype == "none" {
        src.to_owned()
    } else {
        format!("{fstype} {src}")
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
    /// A non-procfs mount below `/proc` that is not one of the allowed emulated files.
    #[error("mount on {dst}: only procfs may be mounted there")]
    ProcDestination { dst: PathBuf },
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
    #[error("mount {} on {dst}: {}", mount_what(fstype, src), reason(source))]
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_read_like_the_kernel_reason() {
        let e = Error::Mount {
            src: "proc".into(),
            dst: "/proc".into(),
            fstype: "proc".into(),
            source: io::Error::from_raw_os_error(libc::EACCES),
        };
        assert_eq!(e.to_string(), "mount proc on /proc: permission denied");
        let e = Error::Mount {
            src: "shm".into(),
            dst: "/dev/shm".into(),
            fstype: "tmpfs".into(),
            source: io::Error::from_raw_os_error(libc::ENOENT),
        };
        assert_eq!(
            e.to_string(),
            "mount tmpfs shm on /dev/shm: no such file or directory"
        );
        let e = Error::Mknod {
            path: "/dev/null".into(),
            source: io::Error::other("Custom text"),
        };
        assert_eq!(e.to_string(), "mknod /dev/null: custom text");
        assert_eq!(
            strip_os_error("Invalid argument (os error 22) (overlay: bad (os error x)"),
            "Invalid argument (overlay: bad (os error x)"
        );
    }
}
