//! Where everything lives under the data root (`/var/lib/berth` by default).
//!
//! ```text
//! lock                 flock(2) serialising every metadata transaction
//! meta.redb            the metadata store (containers)
//! containers/<id>/     per container: config.json (the OCI bundle), container.log, console.sock
//! runtime/             berth_container's state directories (one per running container)
//! storage/             berth_storage: writable layers and quota images
//! images/              berth_image: blobs, unpacked layers, image records
//! net/                 berth_net: networks and endpoints (IP leases)
//! ```

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

pub const DEFAULT_ROOT: &str = "/var/lib/berth";
pub const LOG_FILE: &str = "container.log";

#[derive(Clone, Debug)]
pub struct Layout {
    root: PathBuf,
}

impl Layout {
    /// Create the data root's directories (0700: they hold tenants' files and logs).
    pub fn init(root: &Path) -> Result<Layout> {
        use std::os::unix::fs::DirBuilderExt;
        let root = std::path::absolute(root).map_err(|source| Error::CreateDir {
            path: root.to_path_buf(),
            source,
        })?;
        let l = Layout { root };
        for dir in [l.root.clone(), l.containers(), l.runtime()] {
            if let Err(source) = std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&dir)
            {
                return Err(Error::CreateDir { path: dir, source });
            }
        }
        Ok(l)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }
    pub fn lock(&self) -> PathBuf {
        self.root.join("lock")
    }
    pub fn db(&self) -> PathBuf {
        self.root.join("meta.redb")
    }
    pub fn containers(&self) -> PathBuf {
        self.root.join("containers")
    }
    pub fn container(&self, id: &str) -> PathBuf {
        self.containers().join(id)
    }
    pub fn log(&self, id: &str) -> PathBuf {
        self.container(id).join(LOG_FILE)
    }
    /// A fresh path for a console socket. Not under the data root: a unix socket path
    /// must fit in 108 bytes, and the root may be long. `/run/berth` is root-only (0700).
    pub fn console_socket(&self, id: &str) -> Result<PathBuf> {
        use std::os::unix::fs::DirBuilderExt;
        let dir = PathBuf::from("/run/berth");
        if let Err(source) = std::fs::DirBuilder::new().mode(0o700).create(&dir) {
            if source.kind() != std::io::ErrorKind::AlreadyExists {
                return Err(Error::CreateDir { path: dir, source });
            }
        }
        let nonce = crate::names::new_id()?;
        Ok(dir.join(format!("{}-{}.sock", &id[..12.min(id.len())], &nonce[..12])))
    }
    pub fn runtime(&self) -> PathBuf {
        self.root.join("runtime")
    }
    pub fn storage(&self) -> PathBuf {
        self.root.join("storage")
    }
    pub fn net(&self) -> PathBuf {
        self.root.join("net")
    }
    pub fn images(&self) -> PathBuf {
        self.root.join("images")
    }
}
