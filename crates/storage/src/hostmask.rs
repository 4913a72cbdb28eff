//! Hiding the store from HostTree containers.
//!
//! Overlay does not see mounts stacked on a lower layer, so `/proc`, `/sys`, `/dev` and the
//! loop-mounted container file systems are absent from the host tree already, but the
//! store's own directory on the host file system (other containers' images and upper
//! directories) would be readable. So each HostTree container's upper directory starts
//! with the store root's path in it, the store root marked opaque
//! (`trusted.overlay.opaque=y`): inside the container it is an empty directory. The mask
//! cannot be a separate lower layer on the host file system: overlay refuses lower layers
//! nested in each other ("overlapping lowerdir path"). The container cannot lift it:
//! overlay refuses `trusted.overlay.*` xattrs from above, and a removed opaque directory
//! becomes a whiteout.
//!
//! The directories leading to it copy the host directories' mode and owner, as overlay's
//! own copy-up would (a 0755 `/tmp` in the upper would hide the host's 1777 one).

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::error::Error;

const OPAQUE: &str = "trusted.overlay.opaque";

/// Create `store_root`'s path in `upper` (an upper directory, or the template of one), the
/// store root itself opaque.
pub fn mask(upper: &Path, store_root: &Path) -> Result<(), Error> {
    let mut host = PathBuf::from("/");
    let mut inside = upper.to_owned();
    for part in store_root
        .strip_prefix("/")
        .unwrap_or(store_root)
        .components()
    {
        host.push(part);
        inside.push(part);
        copy_dir(&host, &inside)?;
    }
    rustix::fs::setxattr(&inside, OPAQUE, b"y", rustix::fs::XattrFlags::empty()).map_err(|e| {
        Error::Xattr {
            name: OPAQUE,
            path: inside.clone(),
            source: e.into(),
        }
    })
}

/// Make directory `inside` with the mode and owner of the host directory `host`.
fn copy_dir(host: &Path, inside: &Path) -> Result<(), Error> {
    let err = |path: &Path, source| Error::CreateDir {
        path: path.to_owned(),
        source,
    };
    let meta = std::fs::metadata(host).map_err(|e| err(host, e))?;
    match std::fs::create_dir(inside) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(err(inside, e)),
    }
    std::os::unix::fs::chown(inside, Some(meta.uid()), Some(meta.gid()))
        .map_err(|e| err(inside, e))?;
    std::fs::set_permissions(
        inside,
        std::fs::Permissions::from_mode(meta.mode() & 0o7777),
    )
    .map_err(|e| err(inside, e))
}
