//! The container's root file system: mounts, `/dev`, `pivot_root`, masking.
//!
//! Runs in the container's child process (single-threaded, in its new mount namespace and, if
//! configured, its user namespace) in three steps: [`prepare`] before `pivot_root`, [`pivot`],
//! and [`finalize`] in the container's view.
//!
//! The rootfs content is attacker-controlled. Every target is resolved inside the rootfs with
//! `openat2(RESOLVE_IN_ROOT)` from a descriptor, missing components are created relative to
//! descriptors, and mounts are attached onto descriptors (`move_mount`), so symlinks and
//! concurrent symlink swaps (CVE-2021-30465) cannot redirect a mount to the host.

mod cgroup;
mod dest;
mod devices;
mod error;
mod idmap;
mod mask;
mod mounts;
mod options;
mod pivot;
mod procguard;
mod resolve;

use std::collections::BTreeMap;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use berth_sys::mount as sm;

pub use dest::clean_destination;
pub use devices::{all_devices, default_devices, DeviceNode};
pub use error::Error;
pub use idmap::{open_idmapped_mounts, IdmappedMounts};
pub use options::{parse_propagation, split_data, MountOptions, Propagation};

use mounts::Entry;
use resolve::Root;

/// Everything the rootfs set-up needs from the runtime.
pub struct RootfsContext<'a> {
    /// The container's config.
    pub spec: &'a oci_spec::runtime::Spec,
    /// Absolute, canonical host path of the bundle's `root.path`.
    pub rootfs: &'a Path,
    /// The bundle directory, for relative bind sources.
    pub bundle: &'a Path,
    /// The container has a new user namespace: device nodes are bind-mounted from the host.
    pub in_user_ns: bool,
    /// Controller -> host cgroup directory of this container (`""` or `unified` for v2).
    pub cgroup_paths: &'a BTreeMap<String, PathBuf>,
    /// The container has its own cgroup namespace.
    pub cgroup_ns: bool,
    /// `--no-pivot`: `MS_MOVE` + `chroot` instead of `pivot_root`.
    pub no_pivot: bool,
}

impl RootfsContext<'_> {
    fn mounts(&self) -> &[oci_spec::runtime::Mount] {
        self.spec.mounts().as_deref().unwrap_or_default()
    }

    fn root_propagation(&self) -> Option<&str> {
        self.spec
            .linux()
            .as_ref()
            .and_then(|l| l.rootfs_propagation().as_deref())
    }

    /// `/dev` is set up by us unless the config bind-mounts a `/dev` from elsewhere.
    fn sets_up_dev(&self) -> Result<bool, Error> {
        for m in self.mounts() {
            let e = Entry::new(m)?;
            if e.dst == Path::new("/dev") && e.is_bind() {
                return Ok(false);
            }
        }
        Ok(true)
    }
}

fn propagation_of(ctx: &RootfsContext) -> Result<Propagation, Error> {
    match ctx.root_propagation() {
        None | Some("") => Ok(Propagation {
            kind: sm::propagation::SLAVE,
            recursive: true,
        }),
        Some(name) => parse_propagation(name).ok_or_else(|| Error::InvalidPropagation {
            value: name.to_owned(),
        }),
    }
}

/// Everything before `pivot_root`: `/` to rslave (or `rootfsPropagation`), the rootfs's parent
/// mount private if needed and the rootfs bind-mounted onto itself, all `mounts` in order,
/// `/dev` (devices and symlinks) unless `/dev` is a bind mount, and the console target if
/// `process.terminal`. Idmapped bind mounts are made here too, which needs privilege over
/// their source: with a user namespace use [`prepare_with`].
pub fn prepare(ctx: &RootfsContext) -> Result<(), Error> {
    prepare_with(ctx, &IdmappedMounts::none())
}

/// [`prepare`], attaching the idmapped bind mounts that [`open_idmapped_mounts`] made on the
/// host side instead of making them (required when the child is in a user namespace).
pub fn prepare_with(ctx: &RootfsContext, idmapped: &IdmappedMounts) -> Result<(), Error> {
    let prop = propagation_of(ctx)?;
    sm::set_propagation_path(Path::new("/"), prop.kind, prop.recursive).map_err(|source| {
        Error::SetAttr {
            path: PathBuf::from("/"),
            what: "root propagation".to_owned(),
            source,
        }
    })?;
    bind_rootfs(ctx.rootfs, prop)?;
    let root = Root::open(ctx.rootfs)?;
    let entries = ctx
        .mounts()
        .iter()
        .map(Entry::new)
        .collect::<Result<Vec<_>, _>>()?;
    for (index, entry) in entries.iter().enumerate() {
        mounts::mount_entry(ctx, &root, entry, idmapped.get(index))?;
    }
    if ctx.sets_up_dev()? {
        devices::create_devices(ctx, &root)?;
        devices::create_symlinks(&root)?;
    }
    let terminal = ctx
        .spec
        .process()
        .as_ref()
        .and_then(|p| p.terminal())
        .unwrap_or(false);
    if terminal {
        devices::create_console_target(&root)?;
    }
    Ok(())
}

/// Bind-mounts the rootfs onto itself, recursively, so it is a mount point for
/// `pivot_root`. Unless `/` was just made recursively slave or private, the mount holding the
/// rootfs may still be shared: it is made private first, so the bind does not propagate to
/// the host and `pivot_root` (which refuses a shared parent) works.
fn bind_rootfs(rootfs: &Path, prop: Propagation) -> Result<(), Error> {
    let parent_safe = prop.recursive
        && (prop.kind == sm::propagation::SLAVE || prop.kind == sm::propagation::PRIVATE);
    if !parent_safe {
        let parent_err = |source| Error::SetAttr {
            path: rootfs.to_path_buf(),
            what: "private parent mount".to_owned(),
            source,
        };
        let point = berth_sys::path::mount_point_of(rootfs).map_err(parent_err)?;
        sm::set_propagation_path(&point, sm::propagation::PRIVATE, false).map_err(parent_err)?;
    }
    let below = Root::open(rootfs)?;
    let mount_err = |source| Error::Mount {
        src: rootfs.display().to_string(),
        dst: rootfs.to_path_buf(),
        fstype: "bind".to_owned(),
        source,
    };
    let mnt = sm::clone_tree(below.fd(), Path::new(""), true).map_err(mount_err)?;
    sm::attach(mnt.as_fd(), below.fd()).map_err(mount_err)
}

/// Makes sure `/dev/console` exists in the rootfs (before `pivot_root`) as an empty file, the
/// target for the terminal code's bind mount of the pty. [`prepare`] calls it when
/// `process.terminal` is set.
pub fn create_console_target(ctx: &RootfsContext) -> Result<(), Error> {
    devices::create_console_target(&Root::open(ctx.rootfs)?)
}

/// `pivot_root` into the rootfs (or `MS_MOVE` + `chroot` with `no_pivot`); the old root is
/// detached; the working directory is `/`.
pub fn pivot(ctx: &RootfsContext) -> Result<(), Error> {
    pivot::pivot(ctx)
}

/// After [`pivot`], in the container's view: read-only paths, masked paths (after checking
/// that `/proc` and `/sys` are procfs and sysfs), `root.readonly`, a read-only `/dev` if its
/// mount asked for `ro`, and the final `rootfsPropagation`.
pub fn finalize(ctx: &RootfsContext) -> Result<(), Error> {
    let root = Root::open(Path::new("/"))?;
    let linux = ctx.spec.linux().as_ref();
    let readonly = linux
        .and_then(|l| l.readonly_paths().as_deref())
        .unwrap_or_default();
    let masked = linux
        .and_then(|l| l.masked_paths().as_deref())
        .unwrap_or_default();
    mask::apply(&root, readonly, masked)?;
    for m in ctx.mounts() {
        let e = Entry::new(m)?;
        if e.is_dev_deferred_ro() {
            mask::remount_ro(&root, &e.dst)?;
        }
    }
    let root_ro = ctx
        .spec
        .root()
        .as_ref()
        .and_then(|r| r.readonly())
        .unwrap_or(false);
    if root_ro {
        mask::remount_ro(&root, Path::new("/"))?;
    }
    if ctx.root_propagation().is_some_and(|p| !p.is_empty()) {
        let prop = propagation_of(ctx)?;
        sm::set_propagation_path(Path::new("/"), prop.kind, prop.recursive).map_err(|source| {
            Error::SetAttr {
                path: PathBuf::from("/"),
                what: "root propagation".to_owned(),
                source,
            }
        })?;
    }
    Ok(())
}
