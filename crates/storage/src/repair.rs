//! After a crash: remove mounts, loop devices and directories of containers the manager
//! no longer knows.

use std::collections::BTreeSet;
use std::path::Path;

use crate::backend::QuotaBackend;
use crate::driver::StorageDriver;
use crate::error::Error;
use crate::layout::META_DIR;
use crate::record::{self, ContainerRecord};
use crate::{id, loopdev, mount, mountinfo, pending, teardown};

impl StorageDriver {
    /// Remove everything in the store that belongs to none of the `known` container ids:
    /// overlay and image mounts (lazily detached if still busy), loop devices backed by
    /// the store's images, btrfs subvolumes and qgroups, directories. Returns the ids
    /// removed, sorted.
    pub fn repair(&self, known: &[&str]) -> Result<Vec<String>, Error> {
        let _lock = self.lock_store()?;
        let layout = self.layout();
        let root = layout.root();
        let is_stale = |name: &str| name != META_DIR && !known.contains(&name);
        let mut stale = BTreeSet::new();

        // Mounts first: a directory may be gone while something is still mounted on it.
        for path in mountinfo::under(&mountinfo::read()?, root) {
            if let Some(name) = child_name(root, &path) {
                if is_stale(&name) {
                    mount::detach_path(&path)?;
                    stale.insert(name);
                }
            }
        }
        // Loop devices whose image is (or was: deleted) in a stale container directory.
        for (device, file) in loopdev::attached()? {
            if let Some(name) = child_name(root, &file) {
                if is_stale(&name) {
                    loopdev::detach(&device)?;
                    stale.insert(name);
                }
            }
        }
        let err = |source| Error::ReadFile {
            path: root.to_owned(),
            source,
        };
        for entry in std::fs::read_dir(root).map_err(err)? {
            let name = entry.map_err(err)?.file_name();
            if let Some(name) = name.to_str() {
                // Only names we could have made: never delete what someone else put here.
                if is_stale(name) && id::validate(name).is_ok() {
                    stale.insert(name.to_owned());
                }
            }
        }
        // One stuck leftover (its file system still used by a live process) must not keep
        // the others: try all, report the first failure.
        let mut first_error = None;
        for name in &stale {
            let rec = record::read::<ContainerRecord>(&layout.record(name)).ok();
            if let Err(e) = teardown::teardown(layout, self.backend(), name, rec.as_ref(), true) {
                first_error.get_or_insert(e);
            }
        }
        // Qgroups of subvolumes that were still in use when their container was removed.
        if self.backend() == QuotaBackend::Btrfs {
            if let Err(e) = pending::retry(layout) {
                first_error.get_or_insert(e);
            }
        }
        // Lock files of containers that no longer exist (nobody holds them: the store lock
        // is exclusive).
        if let Ok(entries) = std::fs::read_dir(layout.locks()) {
            for entry in entries.flatten() {
                let name = entry.file_name();
                let name = name.to_string_lossy();
                if !known.contains(&name.as_ref()) && !layout.container(&name).exists() {
                    let _ = std::fs::remove_file(entry.path());
                }
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(stale.into_iter().collect()),
        }
    }
}

/// The first component of `path` below `root` (the container id a path belongs to).
fn child_name(root: &Path, path: &Path) -> Option<String> {
    let rest = path.strip_prefix(root).ok()?;
    let first = rest.components().next()?;
    Some(first.as_os_str().to_str()?.to_owned())
}

#[cfg(test)]
mod tests {
    use super::child_name;
    use std::path::Path;

    #[test]
    fn finds_the_owning_container() {
        let root = Path::new("/s");
        assert_eq!(child_name(root, Path::new("/s/a/fs")).as_deref(), Some("a"));
        assert_eq!(child_name(root, Path::new("/s")), None);
        assert_eq!(child_name(root, Path::new("/t/a")), None);
    }
}
