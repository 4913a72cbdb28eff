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
    /// Create the data root's directories (0700: they hold tenants' files and logs; the
    /// root and `containers/` 0711: a container's init, already in its user namespace,
    /// must reach its root file system and the files bind-mounted into it).
    pub fn init(root: &Path) -> Result<Layout> {
        use std::os::unix::fs::DirBuilderExt;
        let root = std::path::absolute(root).map_err(|source| Error::CreateDir {
            path: root.to_path_buf(),
            source,
        })?;
        let l = Layout { root };
        for (dir, mode) in [
            (l.root.clone(), 0o711),
            (l.containers(), 0o711),
            (l.runtime(), 0o700),
        ] {
            if let Err(source) = std::fs::DirBuilder::new()
                .recursive(true)
                .mode(mode)
                .create(&dir)
            {
                return Err(Error::CreateDir { path: dir, source });
            }
            // Data roots made by an older berth (0700).
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(mode));
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
