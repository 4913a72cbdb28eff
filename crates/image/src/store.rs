//! The store handle: paths, opening (layout creation and crash clean-up) and the writer lock.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::fsutil;
use crate::lock::FileLock;
use crate::unpack::UnpackOptions;
use crate::{Error, ImageId};

type InUseFn = dyn Fn(&ImageId) -> bool + Send + Sync;

/// An image store rooted at one directory (e.g. `<data-root>/image`).
pub struct Store {
    pub(crate) root: PathBuf,
    pub(crate) unpack: UnpackOptions,
    pub(crate) docker_config: Option<PathBuf>,
    in_use: Option<Box<InUseFn>>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("root", &self.root).finish()
    }
}

impl Store {
    /// Opens (creating if needed) the store at `root`. If no other writer is active, removes
    /// what a killed writer left in `tmp/`.
    pub fn open(root: &Path) -> Result<Store, Error> {
        let store = Store {
            root: root.to_owned(),
            unpack: UnpackOptions::default(),
            docker_config: None,
            in_use: None,
        };
        fsutil::create_dir_all(root)?;
        fs::set_permissions(root, fs::Permissions::from_mode(0o700)).map_err(|source| {
            Error::CreateDir {
                path: root.to_owned(),
                source,
            }
        })?;
        for dir in [
            store.blobs_dir(),
            store.layers_dir(),
            store.images_dir(),
            store.tmp_dir(),
        ] {
            fsutil::create_dir_all(&dir)?;
        }
        if let Some(_lock) = FileLock::try_acquire(&store.lock_path())? {
            store.clean_tmp()?;
        }
        Ok(store)
    }

    /// Sets the limits used when unpacking layers.
    pub fn with_unpack_options(mut self, opts: UnpackOptions) -> Store {
        self.unpack = opts;
        self
    }

    /// Reads registry credentials from this docker config file instead of
    /// `$DOCKER_CONFIG/config.json` (else `~/.docker/config.json`).
    pub fn with_docker_config(mut self, path: &Path) -> Store {
        self.docker_config = Some(path.to_owned());
        self
    }

    /// Registers the manager's "is this image used by a container" check, consulted by
    /// [`Store::remove`] and [`Store::prune`].
    pub fn with_in_use(mut self, f: impl Fn(&ImageId) -> bool + Send + Sync + 'static) -> Store {
        self.in_use = Some(Box::new(f));
        self
    }

    /// The store root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    pub(crate) fn is_in_use(&self, id: &ImageId) -> bool {
        self.in_use.as_ref().is_some_and(|f| f(id))
    }

    pub(crate) fn lock(&self) -> Result<FileLock, Error> {
        FileLock::acquire(&self.lock_path())
    }

    /// Removes everything in `tmp/`. Only call with the writer lock held.
    pub(crate) fn clean_tmp(&self) -> Result<(), Error> {
        let tmp = self.tmp_dir();
        let rd = fs::read_dir(&tmp).map_err(|source| Error::Read {
            path: tmp.clone(),
            source,
        })?;
        for entry in rd {
            let entry = entry.map_err(|source| Error::Read {
                path: tmp.clone(),
                source,
            })?;
            fsutil::remove_any(&entry.path())?;
        }
        Ok(())
    }

    pub(crate) fn lock_path(&self) -> PathBuf {
        self.root.join("lock")
    }
    pub(crate) fn refs_lock_path(&self) -> PathBuf {
        self.root.join("refs.lock")
    }
    pub(crate) fn blobs_dir(&self) -> PathBuf {
        self.root.join("blobs").join("sha256")
    }
    pub(crate) fn layers_dir(&self) -> PathBuf {
        self.root.join("layers")
    }
    pub(crate) fn images_dir(&self) -> PathBuf {
        self.root.join("images")
    }
    pub(crate) fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }
    pub(crate) fn refs_path(&self) -> PathBuf {
        self.root.join("refs.json")
    }
    /// A fresh path in `tmp/`, removed on drop unless kept.
    pub(crate) fn temp_path(&self, prefix: &str) -> fsutil::TempPath {
        fsutil::TempPath::new(self.tmp_dir().join(fsutil::unique_name(prefix)))
    }
}
