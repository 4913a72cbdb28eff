//! `StorageDriver`: one store of container root file systems under one directory.

use std::fs;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use crate::backend::{self, QuotaBackend};
use crate::error::Error;
use crate::idshift::IdShift;
use crate::layout::{Layout, META_DIR};
use crate::lock::{ContainerLock, Lock};
use crate::lower::Lower;
use crate::mount::{self, Overlay};
use crate::provision::{self, mkdir};
use crate::record::{self, ContainerRecord, Disk, StoreRecord};
use crate::{btrfs, du, id, loopimage, mountpoint, projquota, teardown};

/// The paths of a container's root file system. With the LoopImage backend `upper` and
/// `work` are inside the image: they exist while the container is mounted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layer {
    pub id: String,
    /// Overlay upperdir: the container's own changes (inside the quota).
    pub upper: PathBuf,
    /// Overlay workdir (inside the quota, same file system as `upper`).
    pub work: PathBuf,
    /// Where [`StorageDriver::mount`] mounts the container's root file system.
    pub merged: PathBuf,
    pub quota: Option<u64>,
    /// The ids the container's files are shifted to, if it has a user namespace.
    pub ids: Option<IdShift>,
}

/// Bytes a container's changes take, and its quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiskUsage {
    pub used: u64,
    pub quota: Option<u64>,
}

/// A store of container root file systems rooted at one directory.
#[derive(Debug)]
pub struct StorageDriver {
    layout: Layout,
    backend: QuotaBackend,
    /// Host paths HostTree containers must not see; the store root always among them.
    host_masks: Vec<PathBuf>,
}

impl StorageDriver {
    /// Open (or initialise) the store at `root`. A new store takes `preferred` if it works
    /// there, else the best available backend (project quotas, btrfs qgroups, loop images);
    /// an existing store keeps the backend it was created with.
    pub fn open(root: &Path, preferred: Option<QuotaBackend>) -> Result<Self, Error> {
        fs::create_dir_all(root).map_err(|source| Error::CreateDir {
            path: root.to_owned(),
            source,
        })?;
        let root = fs::canonicalize(root).map_err(|source| Error::Canonicalize {
            path: root.to_owned(),
            source,
        })?;
        let layout = Layout::new(root);
        let meta = layout.meta();
        for dir in [meta, layout.locks()] {
            if let Err(source) = fs::DirBuilder::new().mode(0o700).create(&dir) {
                if source.kind() != std::io::ErrorKind::AlreadyExists {
                    return Err(Error::CreateDir { path: dir, source });
                }
            }
        }
        let _lock = Lock::exclusive(&layout.lock())?;
        let record_path = layout.store_record();
        let backend = if record_path.exists() {
            let found = record::read::<StoreRecord>(&record_path)?.backend;
            match preferred {
                Some(requested) if requested != found => {
                    return Err(Error::BackendMismatch {
                        root: layout.root().to_owned(),
                        found,
                        requested,
                    })
                }
                _ => found,
            }
        } else {
            let backend = backend::choose(layout.root(), preferred)?;
            record::write(&record_path, &StoreRecord { backend })?;
            backend
        };
        let host_masks = vec![layout.root().to_owned()];
        Ok(Self {
            layout,
            backend,
            host_masks,
        })
    }

    /// Hide `paths` of the host (besides the store itself, always hidden) from HostTree
    /// containers created from now on: directories appear empty, other files absent.
    /// Symlinks in the paths are resolved now; paths that do not exist are ignored.
    pub fn set_host_masks(&mut self, paths: &[PathBuf]) -> Result<(), Error> {
        let mut masks = vec![self.root().to_owned()];
        for path in paths {
            match fs::canonicalize(path) {
                Ok(resolved) => masks.push(resolved),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(source) => {
                    return Err(Error::HostMask {
                        path: path.clone(),
                        source,
                    })
                }
            }
        }
        self.host_masks = masks;
        Ok(())
    }

    pub fn backend(&self) -> QuotaBackend {
        self.backend
    }

    pub fn root(&self) -> &Path {
        self.layout.root()
    }

    /// Make container `id`'s upper and work directories (inside a file system limited to
    /// `quota` bytes when given). Does not mount.
    pub fn create(&self, id: &str, lower: &Lower, quota: Option<u64>) -> Result<Layer, Error> {
        self.create_shifted(id, lower, quota, None)
    }

    /// [`create`](Self::create) for a container in a user namespace with the ids `ids`:
    /// its overlay shows the lower layers through idmapped mounts (host id `n` appears as
    /// `ids.uid + n`), and its upper directory stores shifted ids (see `idshift`).
    pub fn create_shifted(
        &self,
        id: &str,
        lower: &Lower,
        quota: Option<u64>,
        ids: Option<IdShift>,
    ) -> Result<Layer, Error> {
        id::validate(id)?;
        lower.validate()?;
        let _lock = ContainerLock::acquire(
            &self.layout.lock(),
            &self.layout.container_lock(id),
            self.backend == QuotaBackend::ProjectQuota,
        )?;
        let dir = self.layout.container(id);
        // 0711: other users may not list a container's files, but a runtime in a user
        // namespace can still reach `merged`.
        if let Err(source) = fs::DirBuilder::new().mode(0o711).create(&dir) {
            return Err(if source.kind() == std::io::ErrorKind::AlreadyExists {
                Error::Exists {
                    id: id.to_owned(),
                    root: self.root().to_owned(),
                }
            } else {
                Error::CreateDir { path: dir, source }
            });
        }
        match self.build(id, lower, quota, ids) {
            Ok(layer) => Ok(layer),
            Err(e) => {
                // Leave nothing half-made behind; the original error is the one to report.
                let _ = teardown::teardown(&self.layout, self.backend, id, None, false);
                Err(e)
            }
        }
    }

    fn build(
        &self,
        id: &str,
        lower: &Lower,
        quota: Option<u64>,
        ids: Option<IdShift>,
    ) -> Result<Layer, Error> {
        if let Some(shift) = &ids {
            // Only host root and the container's own root group (its runtime, in its user
            // namespace) may pass: other users cannot reach `merged` even knowing the id.
            use std::os::unix::fs::PermissionsExt;
            let dir = self.layout.container(id);
            let fail = |source| Error::Chown {
                path: dir.clone(),
                uid: 0,
                gid: shift.gid,
                source,
            };
            std::os::unix::fs::chown(&dir, Some(0), Some(shift.gid)).map_err(fail)?;
            fs::set_permissions(&dir, fs::Permissions::from_mode(0o710)).map_err(fail)?;
        }
        let disk = provision::provision(
            &self.layout,
            self.backend,
            id,
            quota,
            lower,
            &self.host_masks,
            ids.as_ref(),
        )?;
        let rec = ContainerRecord {
            id: id.to_owned(),
            lower: lower.clone(),
            quota,
            disk,
            ids,
        };
        // From here on teardown needs the record to find the subvolume / project.
        let result = (|| {
            mkdir(&self.layout.merged(id))?;
            record::write(&self.layout.record(id), &rec)
        })();
        if let Err(e) = result {
            let _ = teardown::teardown(&self.layout, self.backend, id, Some(&rec), false);
            return Err(e);
        }
        Ok(self.layer(&rec))
    }

    /// Mount container `id`'s root file system at `<root>/<id>/merged` (idempotent) and
    /// return that path. LoopImage: the image is loop-attached and mounted first.
    pub fn mount(&self, id: &str) -> Result<PathBuf, Error> {
        let _lock = self.lock(id)?;
        let rec = self.load(id)?;
        let merged = self.layout.merged(id);
        if mountpoint::is_mount_root(&merged)? {
            return Ok(merged);
        }
        let fs_dir = self.layout.fs(id);
        let mounted_fs = match (rec.disk, rec.quota) {
            (Disk::LoopImage { .. }, Some(quota)) => loopimage::mount(&self.layout, id, quota)?,
            _ => false,
        };
        let lowers = match &rec.lower {
            Lower::HostTree => vec![PathBuf::from("/")],
            Lower::Layers(layers) => layers.clone(),
        };
        let name = format!("berth-{id}");
        let helpers = self.layout.container(id).join("lower");
        let overlay = Overlay {
            name: &name,
            lowers: &lowers,
            upper: &self.layout.upper(id),
            work: &self.layout.work(id),
            idmap: rec.ids.as_ref().map(|s| (s, helpers.as_path())),
        };
        if let Err(e) = mount::overlay(&overlay, &merged) {
            if mounted_fs {
                let _ = mount::unmount_path(&fs_dir);
            }
            return Err(e);
        }
        Ok(merged)
    }

    /// Unmount container `id`'s root file system (and its image). Not mounted is fine.
    pub fn unmount(&self, id: &str) -> Result<(), Error> {
        let _lock = self.lock(id)?;
        self.load(id)?;
        teardown::unmount_all(&self.layout, id, false)
    }

    /// Unmount and delete everything of container `id`: mounts, loop device, image,
    /// subvolume and qgroup, directories. Removing a missing container is not an error.
    pub fn remove(&self, id: &str) -> Result<(), Error> {
        id::validate(id)?;
        let _lock = self.lock(id)?;
        let dir = self.layout.container(id);
        if !dir.exists() {
            return Ok(());
        }
        let rec = record::read::<ContainerRecord>(&self.layout.record(id)).ok();
        teardown::teardown(&self.layout, self.backend, id, rec.as_ref(), false)
    }

    /// Change container `id`'s quota. Growing works while mounted and in use; shrinking
    /// below what is in use fails with [`Error::ShrinkBelowUsage`].
    pub fn resize(&self, id: &str, new_quota: u64) -> Result<(), Error> {
        let _lock = self.lock(id)?;
        let mut rec = self.load(id)?;
        let used = self.measure(&rec)?.used;
        let shrink_below_usage = || Error::ShrinkBelowUsage {
            id: id.to_owned(),
            requested: new_quota,
            used,
        };
        match rec.disk {
            Disk::Plain if self.backend == QuotaBackend::None => {
                return Err(Error::QuotaUnsupported {
                    id: id.to_owned(),
                    backend: self.backend,
                })
            }
            Disk::Plain => return Err(Error::NoQuota { id: id.to_owned() }),
            Disk::LoopImage { size } => {
                provision::check_min(id, new_quota)?;
                if new_quota < used {
                    return Err(shrink_below_usage());
                }
                let size = loopimage::resize(&self.layout, id, size, new_quota)?;
                rec.disk = Disk::LoopImage { size };
            }
            Disk::Btrfs { .. } => {
                if new_quota < used {
                    return Err(shrink_below_usage());
                }
                btrfs::limit(&self.layout.fs(id), new_quota)?;
            }
            Disk::ProjectQuota { project } => {
                if new_quota < used {
                    return Err(shrink_below_usage());
                }
                projquota::set_limit(self.root(), project, new_quota)?;
            }
        }
        rec.quota = Some(new_quota);
        record::write(&self.layout.record(id), &rec)
    }

    /// Bytes container `id`'s own changes take, and its quota.
    pub fn usage(&self, id: &str) -> Result<DiskUsage, Error> {
        let rec = self.load(id)?;
        self.measure(&rec)
    }

    fn measure(&self, rec: &ContainerRecord) -> Result<DiskUsage, Error> {
        let id = rec.id.as_str();
        let used = match rec.disk {
            Disk::Plain => du::disk_usage(&self.layout.fs(id))?,
            Disk::LoopImage { .. } => {
                let space = loopimage::space(&self.layout, id)?;
                space.used * space.cluster
            }
            Disk::Btrfs { subvol } => btrfs::usage(self.root(), subvol)?.0,
            Disk::ProjectQuota { project } => projquota::usage(self.root(), project)?.0,
        };
        Ok(DiskUsage {
            used,
            quota: rec.quota,
        })
    }

    /// The ids of all containers in the store, sorted.
    pub fn list(&self) -> Result<Vec<String>, Error> {
        let root = self.root();
        let err = |source| Error::ReadFile {
            path: root.to_owned(),
            source,
        };
        let mut ids = Vec::new();
        for entry in fs::read_dir(root).map_err(err)? {
            let name = entry.map_err(err)?.file_name();
            let Some(name) = name.to_str() else { continue };
            if name != META_DIR && id::validate(name).is_ok() && self.layout.record(name).exists() {
                ids.push(name.to_owned());
            }
        }
        ids.sort();
        Ok(ids)
    }

    /// The paths of container `id`.
    pub fn get(&self, id: &str) -> Result<Layer, Error> {
        Ok(self.layer(&self.load(id)?))
    }

    pub(crate) fn layout(&self) -> &Layout {
        &self.layout
    }

    /// The locks for an operation on container `id` (which must be a valid id).
    fn lock(&self, id: &str) -> Result<ContainerLock, Error> {
        id::validate(id)?;
        ContainerLock::acquire(&self.layout.lock(), &self.layout.container_lock(id), false)
    }

    /// The store lock, exclusive: no operation on any container runs meanwhile.
    pub(crate) fn lock_store(&self) -> Result<Lock, Error> {
        Lock::exclusive(&self.layout.lock())
    }

    fn load(&self, id: &str) -> Result<ContainerRecord, Error> {
        id::validate(id)?;
        let path = self.layout.record(id);
        if !path.exists() {
            return Err(Error::NotFound {
                id: id.to_owned(),
                root: self.root().to_owned(),
            });
        }
        record::read(&path)
    }

    fn layer(&self, rec: &ContainerRecord) -> Layer {
        let id = rec.id.as_str();
        Layer {
            id: id.to_owned(),
            upper: self.layout.upper(id),
            work: self.layout.work(id),
            merged: self.layout.merged(id),
            quota: rec.quota,
            ids: rec.ids,
        }
    }
}
