//! Idmapped bind mounts (`uidMappings`/`gidMappings` on a mount, `idmap`/`ridmap`).
//!
//! `mount_setattr(MOUNT_ATTR_IDMAP)` needs privilege over the source's file system, which a
//! process inside the container's user namespace does not have. So for a container with a
//! user namespace the runtime calls [`open_idmapped_mounts`] on the host side, before the
//! child enters its namespaces, and hands the result to
//! [`prepare_with`](super::prepare_with); the child only attaches the ready-made detached
//! mounts (as runc does with its mount-source file descriptors). Without a user namespace,
//! [`prepare`](super::prepare) makes them itself.

use std::collections::BTreeMap;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

use berth_sys::mount::{self as sm, attr, IdMap, MountAttr};
use berth_sys::path::NodeKind;
use oci_spec::runtime::{LinuxIdMapping, Spec};

use super::mounts::{detached_bind, Entry};
use super::Error;

fn to_maps(maps: &[LinuxIdMapping]) -> Vec<IdMap> {
    maps.iter()
        .map(|m| IdMap {
            inside: m.container_id(),
            outside: m.host_id(),
            count: m.size(),
        })
        .collect()
}

/// Whether the entry is an idmapped bind mount.
pub fn wants_idmap(entry: &Entry) -> bool {
    let has_maps = entry
        .mount
        .uid_mappings()
        .as_ref()
        .is_some_and(|m| !m.is_empty())
        || entry
            .mount
            .gid_mappings()
            .as_ref()
            .is_some_and(|m| !m.is_empty());
    entry.is_bind() && (has_maps || entry.opts.idmap.is_some())
}

/// Idmaps a detached bind mount when the entry has `uidMappings`/`gidMappings` (with
/// `idmap`/`ridmap`, or neither: mappings alone mean `idmap`). A user namespace with the
/// mappings is made for the call and dropped after.
pub fn apply(entry: &Entry, mnt: BorrowedFd) -> Result<(), Error> {
    let uids = entry.mount.uid_mappings().as_deref().unwrap_or_default();
    let gids = entry.mount.gid_mappings().as_deref().unwrap_or_default();
    if uids.is_empty() && gids.is_empty() {
        if entry.opts.idmap.is_some() {
            return Err(entry.attr_err(
                "idmap",
                std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    "idmap option without uidMappings/gidMappings",
                ),
            ));
        }
        return Ok(());
    }
    if uids.is_empty() || gids.is_empty() {
        return Err(entry.attr_err(
            "idmap",
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "an idmapped mount needs both uidMappings and gidMappings",
            ),
        ));
    }
    let userns = sm::userns_with_maps(&to_maps(uids), &to_maps(gids)).map_err(|source| {
        Error::IdmapUserns {
            dst: entry.dst.clone(),
            source,
        }
    })?;
    let recursive = entry.opts.idmap == Some(true);
    let a = MountAttr {
        set: attr::IDMAP,
        clear: 0,
        propagation: 0,
    };
    sm::set_attr(mnt, &a, recursive, Some(userns.as_fd())).map_err(|e| entry.attr_err("idmap", e))
}

/// Detached idmapped bind mounts made on the host side, by index in `spec.mounts`.
#[derive(Debug, Default)]
pub struct IdmappedMounts {
    by_index: BTreeMap<usize, (OwnedFd, NodeKind)>,
}

impl IdmappedMounts {
    /// No premade mounts.
    pub fn none() -> Self {
        Self::default()
    }

    /// How many mounts were premade.
    pub fn len(&self) -> usize {
        self.by_index.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.by_index.is_empty()
    }

    pub(crate) fn get(&self, index: usize) -> Option<&(OwnedFd, NodeKind)> {
        self.by_index.get(&index)
    }
}

/// Makes every idmapped bind mount of `spec` as a detached, flagged, idmapped mount. Call it
/// on the host side (with the host's `/proc`) before the container's child enters its user
/// namespace; the descriptors are close-on-exec and survive `fork`/`clone`.
pub fn open_idmapped_mounts(spec: &Spec, bundle: &Path) -> Result<IdmappedMounts, Error> {
    let mut out = IdmappedMounts::default();
    for (index, mount) in spec
        .mounts()
        .as_deref()
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        let entry = Entry::new(mount)?;
        if wants_idmap(&entry) {
            out.by_index.insert(index, detached_bind(bundle, &entry)?);
        }
    }
    Ok(out)
}
