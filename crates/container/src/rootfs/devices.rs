//! `/dev` content: the default devices plus `linux.devices`, the standard symlinks, and the
//! console target.
//!
//! Nodes are made with `mknodat` relative to the descriptor of their parent directory. In a
//! new user namespace (or when `mknod` is refused with `EPERM`) the host's node of the same
//! path is bind-mounted onto an empty file instead, as runc does.

use std::os::fd::{AsFd, BorrowedFd};
use std::path::{Path, PathBuf};

use berth_sys::mount as sm;
use berth_sys::path::NodeKind;
use oci_spec::runtime::{LinuxDevice, LinuxDeviceType};
use rustix::fs::{AtFlags, FileType, Mode};

use super::resolve::Root;
use super::{Error, RootfsContext};

/// A device node to create.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceNode {
    /// Path inside the container (absolute).
    pub path: PathBuf,
    /// Character, block or FIFO.
    pub kind: FileType,
    /// Major number.
    pub major: u32,
    /// Minor number.
    pub minor: u32,
    /// Permission bits.
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
}

fn char_dev(path: &str, major: u32, minor: u32) -> DeviceNode {
    DeviceNode {
        path: PathBuf::from(path),
        kind: FileType::CharacterDevice,
        major,
        minor,
        mode: 0o666,
        uid: 0,
        gid: 0,
    }
}

/// The devices every container gets (as in runc and the OCI runtime spec).
pub fn default_devices() -> Vec<DeviceNode> {
    vec![
        char_dev("/dev/null", 1, 3),
        char_dev("/dev/zero", 1, 5),
        char_dev("/dev/full", 1, 7),
        char_dev("/dev/random", 1, 8),
        char_dev("/dev/urandom", 1, 9),
        char_dev("/dev/tty", 5, 0),
    ]
}

/// Converts a config device; `None` for types that are not nodes (`a`).
pub fn from_spec(dev: &LinuxDevice) -> Option<DeviceNode> {
    let kind = match dev.typ() {
        LinuxDeviceType::C | LinuxDeviceType::U => FileType::CharacterDevice,
        LinuxDeviceType::B => FileType::BlockDevice,
        LinuxDeviceType::P => FileType::Fifo,
        LinuxDeviceType::A => return None,
    };
    Some(DeviceNode {
        path: dev.path().clone(),
        kind,
        major: u32::try_from(dev.major()).unwrap_or(0),
        minor: u32::try_from(dev.minor()).unwrap_or(0),
        mode: dev.file_mode().unwrap_or(0o666) & 0o7777,
        uid: dev.uid().unwrap_or(0),
        gid: dev.gid().unwrap_or(0),
    })
}

/// The default devices merged with the config's (a config entry for the same path wins).
pub fn all_devices(spec_devices: &[LinuxDevice]) -> Vec<DeviceNode> {
    let configured: Vec<DeviceNode> = spec_devices.iter().filter_map(from_spec).collect();
    let mut out: Vec<DeviceNode> = default_devices()
        .into_iter()
        .filter(|d| !configured.iter().any(|c| c.path == d.path))
        .collect();
    out.extend(configured);
    out
}

/// Creates all device nodes of the container.
pub fn create_devices(ctx: &RootfsContext, root: &Root) -> Result<(), Error> {
    let spec_devices = ctx
        .spec
        .linux()
        .as_ref()
        .and_then(|l| l.devices().as_ref())
        .map(|d| d.as_slice())
        .unwrap_or_default();
    for dev in all_devices(spec_devices) {
        let path = super::dest::clean_destination(&dev.path)?;
        create_device(ctx, root, &DeviceNode { path, ..dev })?;
    }
    Ok(())
}

fn split(path: &Path) -> (&Path, &std::ffi::OsStr) {
    let parent = path.parent().unwrap_or(Path::new("/"));
    let name = path.file_name().unwrap_or(path.as_os_str());
    (parent, name)
}

fn create_device(ctx: &RootfsContext, root: &Root, dev: &DeviceNode) -> Result<(), Error> {
    if ctx.in_user_ns {
        return bind_device(root, dev);
    }
    let (parent_path, name) = split(&dev.path);
    let parent = root.mkdir_all(parent_path)?;
    match mknod(parent.as_fd(), name, dev) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::EPERM) => return bind_device(root, dev),
        Err(source) => {
            return Err(Error::Mknod {
                path: dev.path.clone(),
                source,
            })
        }
    }
    rustix::fs::chownat(
        &parent,
        name,
        Some(rustix::fs::Uid::from_raw(dev.uid)),
        Some(rustix::fs::Gid::from_raw(dev.gid)),
        AtFlags::SYMLINK_NOFOLLOW,
    )
    .map_err(|e| Error::Chown {
        path: dev.path.clone(),
        source: e.into(),
    })
}

/// `mknodat` with the exact mode (umask cleared for the call; the child is single-threaded).
/// Whatever the rootfs had at that name is replaced: a planted regular file must not pose as
/// `/dev/null`.
fn mknod(parent: BorrowedFd, name: &std::ffi::OsStr, dev: &DeviceNode) -> std::io::Result<()> {
    let rdev = rustix::fs::makedev(dev.major, dev.minor);
    let mode = Mode::from_raw_mode(dev.mode);
    let old = rustix::process::umask(Mode::empty());
    let mut res = rustix::fs::mknodat(parent, name, dev.kind, mode, rdev);
    if res == Err(rustix::io::Errno::EXIST) {
        res = rustix::fs::unlinkat(parent, name, AtFlags::empty())
            .and_then(|()| rustix::fs::mknodat(parent, name, dev.kind, mode, rdev));
    }
    rustix::process::umask(old);
    res.map_err(Into::into)
}

/// Bind-mounts the host's node at the same path onto an empty file in the container.
fn bind_device(root: &Root, dev: &DeviceNode) -> Result<(), Error> {
    let target = root.create(&dev.path, NodeKind::File)?;
    let mount_err = |source| Error::Mount {
        src: dev.path.display().to_string(),
        dst: dev.path.clone(),
        fstype: "bind".to_owned(),
        source,
    };
    let src = berth_sys::path::open_path(&dev.path).map_err(|source| Error::Open {
        path: dev.path.clone(),
        source,
    })?;
    let mnt = sm::clone_tree(src.as_fd(), Path::new(""), false).map_err(mount_err)?;
    sm::attach(mnt.as_fd(), target.as_fd()).map_err(mount_err)
}

/// The standard `/dev` symlinks: `fd`, `stdin`, `stdout`, `stderr`, `core` (when the host
/// has `/proc/kcore`) and `ptmx -> pts/ptmx` (replacing any existing `ptmx`).
pub fn create_symlinks(root: &Root) -> Result<(), Error> {
    let dev = root.mkdir_all(Path::new("/dev"))?;
    let mut links = vec![
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ];
    if Path::new("/proc/kcore").exists() {
        links.push(("core", "/proc/kcore"));
    }
    let link_err = |name: &str, target: &str, e: rustix::io::Errno| Error::Symlink {
        path: Path::new("/dev").join(name),
        target: PathBuf::from(target),
        source: e.into(),
    };
    for (name, target) in links {
        match rustix::fs::symlinkat(target, &dev, name) {
            Ok(()) | Err(rustix::io::Errno::EXIST) => {}
            Err(e) => return Err(link_err(name, target, e)),
        }
    }
    match rustix::fs::unlinkat(&dev, "ptmx", AtFlags::empty()) {
        Ok(()) | Err(rustix::io::Errno::NOENT) => {}
        Err(e) => return Err(link_err("ptmx", "pts/ptmx", e)),
    }
    rustix::fs::symlinkat("pts/ptmx", &dev, "ptmx").map_err(|e| link_err("ptmx", "pts/ptmx", e))
}

/// Makes sure `/dev/console` exists as a file, for the terminal code to bind the pty onto.
pub fn create_console_target(root: &Root) -> Result<(), Error> {
    root.create(Path::new("/dev/console"), NodeKind::File)
        .map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_standard_six() {
        let d = default_devices();
        let names: Vec<_> = d.iter().map(|d| d.path.display().to_string()).collect();
        assert_eq!(
            names,
            [
                "/dev/null",
                "/dev/zero",
                "/dev/full",
                "/dev/random",
                "/dev/urandom",
                "/dev/tty"
            ]
        );
        assert!(d
            .iter()
            .all(|d| d.mode == 0o666 && d.kind == FileType::CharacterDevice));
        assert_eq!((d[0].major, d[0].minor), (1, 3));
        assert_eq!((d[5].major, d[5].minor), (5, 0));
    }

    #[test]
    fn config_overrides_default_and_adds() {
        let json = r#"[{"path":"/dev/null","type":"c","major":1,"minor":3,"fileMode":432,"uid":5,"gid":6},
                      {"path":"/dev/loop-x","type":"b","major":7,"minor":9},
                      {"path":"/dev/fifo","type":"p"}]"#;
        let devs: Vec<LinuxDevice> = serde_json::from_str(json).unwrap();
        let all = all_devices(&devs);
        assert_eq!(all.len(), 8);
        let null = all
            .iter()
            .find(|d| d.path == Path::new("/dev/null"))
            .unwrap();
        assert_eq!((null.mode, null.uid, null.gid), (0o660, 5, 6));
        let blk = all
            .iter()
            .find(|d| d.path == Path::new("/dev/loop-x"))
            .unwrap();
        assert_eq!(
            (blk.kind, blk.major, blk.minor),
            (FileType::BlockDevice, 7, 9)
        );
        let fifo = all
            .iter()
            .find(|d| d.path == Path::new("/dev/fifo"))
            .unwrap();
        assert_eq!(fifo.kind, FileType::Fifo);
    }
}
