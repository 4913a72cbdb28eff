//! Switching the process's root to the rootfs.

use std::os::fd::AsFd;
use std::path::Path;

use berth_sys::mount as sm;
use berth_sys::path::open_dir;

use super::{Error, RootfsContext};

fn step<'a>(rootfs: &'a Path, step: &'static str) -> impl Fn(std::io::Error) -> Error + 'a {
    move |source| Error::PivotRoot {
        rootfs: rootfs.to_path_buf(),
        step,
        source,
    }
}

/// `pivot_root(".", ".")` inside the rootfs (no temporary directory in the container), then
/// the old root, stacked on top of the new one, is made `rslave` (so the unmount does not
/// propagate to the host) and detached; or, with `no_pivot`, `MS_MOVE` of the rootfs onto
/// `/` and `chroot(".")`. Ends with `chdir("/")`.
pub fn pivot(ctx: &RootfsContext) -> Result<(), Error> {
    let rootfs = ctx.rootfs;
    let new_root = open_dir(rootfs).map_err(step(rootfs, "open new root"))?;
    if ctx.no_pivot {
        sm::fchdir(new_root.as_fd()).map_err(step(rootfs, "chdir to rootfs"))?;
        sm::move_path(rootfs, Path::new("/")).map_err(step(rootfs, "move rootfs onto /"))?;
        sm::chroot(Path::new(".")).map_err(step(rootfs, "chroot"))?;
    } else {
        let old_root = open_dir(Path::new("/")).map_err(step(rootfs, "open old root"))?;
        sm::fchdir(new_root.as_fd()).map_err(step(rootfs, "chdir to rootfs"))?;
        sm::pivot_root(Path::new("."), Path::new(".")).map_err(step(rootfs, "pivot_root"))?;
        sm::fchdir(old_root.as_fd()).map_err(step(rootfs, "chdir to old root"))?;
        sm::set_propagation_path(Path::new("."), sm::propagation::SLAVE, true)
            .map_err(step(rootfs, "make old root rslave"))?;
        sm::unmount_detach(Path::new(".")).map_err(step(rootfs, "unmount old root"))?;
    }
    rustix::process::chdir("/").map_err(|e| step(rootfs, "chdir /")(e.into()))
}
