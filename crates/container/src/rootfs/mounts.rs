//! One `mounts[]` entry of the config, performed inside the rootfs.
//!
//! Every mount is created detached (`fsopen`+`fsmount` for a new file system, `open_tree`
//! for a bind), gets its flags while detached (`fsmount` attributes or `mount_setattr`,
//! which also does idmapping), and is attached with `move_mount` onto an `O_PATH`
//! descriptor of the target resolved inside the rootfs. Propagation is set once attached.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use berth_sys::mount::{self as sm, attr, FsParam, MountAttr};
use berth_sys::path::NodeKind;
use oci_spec::runtime::Mount;
use rustix::fs::FileType;

use super::cgroup;
use super::dest::clean_destination;
use super::idmap;
use super::options::MountOptions;
use super::procguard::{check_proc_destination, check_resolved_target};
use super::resolve::Root;
use super::{Error, RootfsContext};

/// A mount entry with its destination validated and its options parsed.
pub struct Entry<'m> {
    /// The config entry.
    pub mount: &'m Mount,
    /// Cleaned absolute destination inside the container.
    pub dst: PathBuf,
    /// `type`, or `""`.
    pub fstype: String,
    /// Parsed options.
    pub opts: MountOptions,
}

impl<'m> Entry<'m> {
    /// Validates and parses `mount`.
    pub fn new(mount: &'m Mount) -> Result<Self, Error> {
        let dst = clean_destination(mount.destination())?;
        let opts = MountOptions::parse(mount.options().as_deref().unwrap_or_default());
        let fstype = mount.typ().clone().unwrap_or_default();
        Ok(Entry {
            mount,
            dst,
            fstype,
            opts,
        })
    }

    /// A bind mount: `bind`/`rbind` option or type `bind`.
    pub fn is_bind(&self) -> bool {
        self.opts.bind.is_some() || self.fstype == "bind"
    }

    /// The `/dev` mount whose `ro` is applied only after the device nodes are created.
    pub fn is_dev_deferred_ro(&self) -> bool {
        self.dst == Path::new("/dev") && !self.is_bind() && self.opts.read_only()
    }

    /// The source as the user wrote it, for messages.
    pub fn source_display(&self) -> String {
        match self.mount.source() {
            Some(s) => s.display().to_string(),
            None => self.fstype.clone(),
        }
    }

    pub(crate) fn mount_err(&self, source: std::io::Error) -> Error {
        Error::Mount {
            src: self.source_display(),
            dst: self.dst.clone(),
            fstype: self.fstype.clone(),
            source,
        }
    }

    pub(crate) fn attr_err(&self, what: &str, source: std::io::Error) -> Error {
        Error::SetAttr {
            path: self.dst.clone(),
            what: what.to_owned(),
            source,
        }
    }
}

/// Performs one mount entry; `premade` is its detached bind made on the host side, if any.
pub fn mount_entry(
    ctx: &RootfsContext,
    root: &Root,
    entry: &Entry,
    premade: Option<&(OwnedFd, NodeKind)>,
) -> Result<(), Error> {
    check_proc_destination(entry)?;
    if entry.is_bind() {
        return bind(ctx, root, entry, premade);
    }
    if entry.fstype == "cgroup" {
        return cgroup::mount_cgroup(ctx, root, entry);
    }
    // procfs and sysfs must sit on real directories: a rootfs symlink `/proc -> /x` would
    // otherwise move them where the masking does not look.
    let target = if entry.fstype == "proc" || entry.fstype == "sysfs" {
        root.mkdir_nofollow(&entry.dst)?
    } else {
        root.mkdir_all(&entry.dst)?
    };
    check_resolved_target(ctx, entry, target.as_fd())?;
    let mut attrs = entry.opts.fsmount_attrs();
    if entry.is_dev_deferred_ro() {
        attrs &= !attr::RDONLY;
    }
    let mnt = match new_fs(entry, attrs) {
        Ok(mnt) => mnt,
        Err(Error::Mount { source, .. })
            if source.raw_os_error() == Some(libc::EPERM) && host_fallback(entry).is_some() =>
        {
            bind_host_fallback(entry)?
        }
        Err(e) => return Err(e),
    };
    sm::attach(mnt.as_fd(), target.as_fd()).map_err(|e| entry.mount_err(e))?;
    apply_propagation(entry, mnt.as_fd())
}

/// The host directory to bind when a new instance of the entry's file system is refused:
/// in a user namespace, sysfs needs a network namespace and mqueue an IPC namespace owned by
/// it; like runc we then show the host's (read-only if asked) instead of failing.
fn host_fallback(entry: &Entry) -> Option<&'static Path> {
    match entry.fstype.as_str() {
        "sysfs" => Some(Path::new("/sys")),
        "mqueue" => Some(Path::new("/dev/mqueue")),
        _ => None,
    }
}

/// Recursive bind of [`host_fallback`] with the entry's flags, detached.
fn bind_host_fallback(entry: &Entry) -> Result<OwnedFd, Error> {
    let Some(host) = host_fallback(entry) else {
        return Err(entry.mount_err(std::io::Error::from_raw_os_error(libc::EPERM)));
    };
    let src = berth_sys::path::open_dir(host).map_err(|source| Error::Open {
        path: host.to_path_buf(),
        source,
    })?;
    let mnt = sm::clone_tree(src.as_fd(), Path::new(""), true).map_err(|e| entry.mount_err(e))?;
    // A new sysfs/mqueue would carry these flags from fsmount; the bind gets them here, on
    // the whole tree (sysfs has submounts such as /sys/fs/cgroup).
    let a = MountAttr {
        set: entry.opts.set | entry.opts.rec_set,
        clear: 0,
        propagation: 0,
    };
    if a.set != 0 {
        sm::set_attr(mnt.as_fd(), &a, true, None).map_err(|e| entry.attr_err("flags", e))?;
    }
    Ok(mnt)
}

/// `fsopen` + `fsconfig` + `fsmount` of the entry's file system.
pub fn new_fs(entry: &Entry, attrs: u64) -> Result<OwnedFd, Error> {
    let mut params: Vec<FsParam> = entry
        .opts
        .sb_flags
        .iter()
        .map(|f| FsParam::Flag(f.clone()))
        .collect();
    params.extend(entry.opts.data.iter().cloned());
    let source = entry
        .mount
        .source()
        .as_ref()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| entry.fstype.clone());
    sm::new_mount(&entry.fstype, Some(&source), &params, attrs).map_err(|e| entry.mount_err(e))
}

/// Host path of a bind source: relative sources are relative to the bundle.
fn bind_source(bundle: &Path, entry: &Entry) -> Result<PathBuf, Error> {
    let src = entry
        .mount
        .source()
        .as_ref()
        .ok_or_else(|| Error::MissingSource {
            dst: entry.dst.clone(),
            fstype: entry.fstype.clone(),
        })?;
    Ok(if src.is_absolute() {
        src.clone()
    } else {
        bundle.join(src)
    })
}

/// The detached, flagged (and idmapped) copy of a bind entry's source, and what kind of
/// target it needs. Runs wherever the source is visible: in the container's child, or on the
/// host side for idmapped mounts of a container with a user namespace.
pub fn detached_bind(bundle: &Path, entry: &Entry) -> Result<(OwnedFd, NodeKind), Error> {
    let src = bind_source(bundle, entry)?;
    let recursive = entry.opts.bind == Some(true);
    let src_fd = berth_sys::path::open_path(&src).map_err(|source| Error::Open {
        path: src.clone(),
        source,
    })?;
    let (ftype, _) = berth_sys::path::file_type(src_fd.as_fd()).map_err(|source| Error::Open {
        path: src.clone(),
        source,
    })?;
    let kind = if ftype == FileType::Directory {
        NodeKind::Directory
    } else {
        NodeKind::File
    };
    let mnt =
        sm::clone_tree(src_fd.as_fd(), Path::new(""), recursive).map_err(|e| entry.mount_err(e))?;
    idmap::apply(entry, mnt.as_fd())?;
    set_flags(entry, mnt.as_fd())?;
    Ok((mnt, kind))
}

fn bind(
    ctx: &RootfsContext,
    root: &Root,
    entry: &Entry,
    premade: Option<&(OwnedFd, NodeKind)>,
) -> Result<(), Error> {
    let made;
    let (mnt, kind) = match premade {
        Some((fd, kind)) => (fd, *kind),
        None => {
            made = detached_bind(ctx.bundle, entry)?;
            (&made.0, made.1)
        }
    };
    let target = root.create(&entry.dst, kind)?;
    check_resolved_target(ctx, entry, target.as_fd())?;
    sm::attach(mnt.as_fd(), target.as_fd()).map_err(|e| entry.mount_err(e))?;
    apply_propagation(entry, mnt.as_fd())
}

/// Applies the entry's own and recursive flags to a (detached) bind mount.
pub fn set_flags(entry: &Entry, mnt: BorrowedFd) -> Result<(), Error> {
    let (rset, rclear) = entry.opts.recursive_attrs();
    if rset != 0 || rclear != 0 {
        let a = MountAttr {
            set: rset,
            clear: rclear,
            propagation: 0,
        };
        sm::set_attr(mnt, &a, true, None).map_err(|e| entry.attr_err("recursive flags", e))?;
    }
    let (set, clear) = entry.opts.own_attrs();
    if set != 0 || clear != 0 {
        let a = MountAttr {
            set,
            clear,
            propagation: 0,
        };
        sm::set_attr(mnt, &a, false, None).map_err(|e| entry.attr_err("flags", e))?;
    }
    Ok(())
}

/// Applies the entry's propagation options, in order, to the attached mount.
pub fn apply_propagation(entry: &Entry, mnt: BorrowedFd) -> Result<(), Error> {
    for p in &entry.opts.propagation {
        let a = MountAttr {
            set: 0,
            clear: 0,
            propagation: p.kind,
        };
        sm::set_attr(mnt, &a, p.recursive, None).map_err(|e| entry.attr_err("propagation", e))?;
    }
    Ok(())
}
