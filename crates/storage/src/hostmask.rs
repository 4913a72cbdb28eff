//! The mask layer that sits above the host's `/` in HostTree containers.
//!
//! Overlay does not see mounts stacked on a lower layer, so `/proc`, `/sys`, `/dev` and
//! the loop-mounted container file systems are absent from the host tree already, but the
//! store's own directory on the host file system (other containers' images and upper
//! directories) would be readable. The mask layer holds the store root's path with the
//! store root marked opaque (`trusted.overlay.opaque=y`), so it appears empty.

use std::path::{Path, PathBuf};

use crate::error::Error;

const OPAQUE: &str = "trusted.overlay.opaque";

/// Make sure the mask layer for a store rooted at `root` exists in `mask`; returns the
/// lower layers of a HostTree container, top first.
pub fn ensure(mask: &Path, root: &Path) -> Result<Vec<PathBuf>, Error> {
    let relative = root.strip_prefix("/").unwrap_or(root);
    let hidden = mask.join(relative);
    std::fs::create_dir_all(&hidden).map_err(|source| Error::CreateDir {
        path: hidden.clone(),
        source,
    })?;
    rustix::fs::setxattr(&hidden, OPAQUE, b"y", rustix::fs::XattrFlags::empty()).map_err(|e| {
        Error::Xattr {
            name: OPAQUE,
            path: hidden.clone(),
            source: e.into(),
        }
    })?;
    Ok(vec![mask.to_owned(), PathBuf::from("/")])
}

/// The lower layers of a HostTree container (the mask must exist: see [`ensure`]).
pub fn lowers(mask: &Path) -> Vec<PathBuf> {
    vec![mask.to_owned(), PathBuf::from("/")]
}
