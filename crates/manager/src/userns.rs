//! User namespaces (berth_container::defaults, `--userns private`): the container gets its
//! own range of 65536 host ids, and its root file system is shown with those ids through an
//! idmapped mount of the overlay (never a chown of the tree: on the host tree that would
//! copy every file up). Where the overlay cannot be idmapped the run fails with a clear
//! error.

use std::path::{Path, PathBuf};

use berth_container::defaults::{
    prepare_root, supports_idmap, unmount_root, IdRange, IdRangeAllocator, RootfsIds,
};

use crate::error::{Error, Result};
use crate::manager::Manager;
use crate::record::{ContainerRecord, NetworkMode};

impl Manager {
    fn id_ranges(&self) -> Result<IdRangeAllocator> {
        Ok(IdRangeAllocator::open(self.layout.root())?)
    }

    /// Whether the container runs in its own user namespace: with `--userns private`, and
    /// not with `--network host` or `container:ID` (sysfs can only be mounted by the owner
    /// of the netns).
    pub fn uses_userns(rec: &ContainerRecord) -> bool {
        rec.config.userns_private
            && matches!(
                rec.config.network,
                NetworkMode::None | NetworkMode::Bridge(_)
            )
    }

    /// Mount `merged` idmapped to the container's id range at `<container>/rootfs`; the
    /// range and the path to use as the container's root.
    pub(crate) fn idmap_root(
        &self,
        rec: &ContainerRecord,
        merged: &Path,
    ) -> Result<(IdRange, PathBuf)> {
        let range = self.id_ranges()?.allocate(&rec.id)?;
        let target = self.layout.container(&rec.id).join("rootfs");
        match std::fs::create_dir(&target) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                // A monitor killed before it could unmount: start from a clean directory.
                let _ = unmount_root(&target);
            }
            Err(source) => {
                return Err(Error::CreateDir {
                    path: target,
                    source,
                })
            }
        }
        if !supports_idmap(merged, &range) {
            return Err(Error::IdmapUnsupported {
                path: merged.to_path_buf(),
            });
        }
        match prepare_root(merged, &target, &range)? {
            RootfsIds::Idmapped(root) => Ok((range, root.keep())),
            RootfsIds::Chowned { dir, .. } => Err(Error::IdmapUnsupported { path: dir }),
        }
    }

    /// Undo `idmap_root` (not mounted is fine).
    pub(crate) fn unidmap_root(&self, id: &str) {
        let target = self.layout.container(id).join("rootfs");
        while crate::mounts::is_mounted(&target) {
            if unmount_root(&target).is_err() {
                break;
            }
        }
    }

    /// Give the container's id range back (on removal).
    pub(crate) fn release_ids(&self, id: &str) -> Result<()> {
        self.id_ranges()?.release(id)?;
        Ok(())
    }
}
