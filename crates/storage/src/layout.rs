//! Where everything of a store lives on disk.
//!
//! ```text
//! <root>/.berth-store/store.json      backend chosen for the store
//! <root>/.berth-store/lock            store flock (shared per operation, exclusive: repair)
//! <root>/.berth-store/locks/<id>      per-container flock
//! <root>/<id>/config.json             the container's record
//! <root>/<id>/berth-<id>.img          LoopImage: ext4 image (its name shows in `losetup -a`)
//! <root>/<id>/fs/                     the quota'd file system: mount point of the image,
//!                                     btrfs subvolume, or plain directory
//! <root>/<id>/fs/upper, fs/work       overlay upperdir and workdir (both inside the quota)
//! <root>/<id>/merged/                 overlay mount point
//! <root>/<id>/lower/<n>               idmapped lower layers, attached only while mounting
//! ```

use std::path::{Path, PathBuf};

/// Name of the store's own directory; never a valid container id (ids start alphanumeric).
pub const META_DIR: &str = ".berth-store";

#[derive(Debug, Clone)]
pub struct Layout {
    root: PathBuf,
}

impl Layout {
    pub fn new(root: PathBuf) -> Self {
        Self { root }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn meta(&self) -> PathBuf {
        self.root.join(META_DIR)
    }

    pub fn store_record(&self) -> PathBuf {
        self.meta().join("store.json")
    }

    pub fn lock(&self) -> PathBuf {
        self.meta().join("lock")
    }

    pub fn locks(&self) -> PathBuf {
        self.meta().join("locks")
    }

    pub fn container_lock(&self, id: &str) -> PathBuf {
        self.locks().join(id)
    }

    pub fn container(&self, id: &str) -> PathBuf {
        self.root.join(id)
    }

    pub fn record(&self, id: &str) -> PathBuf {
        self.container(id).join("config.json")
    }

    pub fn image(&self, id: &str) -> PathBuf {
        self.container(id).join(format!("berth-{id}.img"))
    }

    pub fn fs(&self, id: &str) -> PathBuf {
        self.container(id).join("fs")
    }

    pub fn upper(&self, id: &str) -> PathBuf {
        self.fs(id).join("upper")
    }

    pub fn work(&self, id: &str) -> PathBuf {
        self.fs(id).join("work")
    }

    pub fn merged(&self, id: &str) -> PathBuf {
        self.container(id).join("merged")
    }

    /// Scratch directory used while creating a container (the mkfs template).
    pub fn scratch(&self, id: &str) -> PathBuf {
        self.container(id).join(".template")
    }
}
