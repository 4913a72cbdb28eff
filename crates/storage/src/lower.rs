//! What a container's root file system is layered on.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::error::Error;

/// The read-only part of a container's root file system.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Lower {
    /// The host's own `/` (the shared file system model). Mounts on top of `/` (`/proc`,
    /// `/sys`, `/dev`, ...) are not part of it: they appear as empty directories. The store
    /// itself is hidden (see `hostmask`).
    HostTree,
    /// Unpacked image layers in overlay format, top first.
    Layers(Vec<PathBuf>),
}

impl Lower {
    /// Check that every layer directory exists.
    pub fn validate(&self) -> Result<(), Error> {
        let Lower::Layers(layers) = self else {
            return Ok(());
        };
        if layers.is_empty() {
            return Err(Error::NoLayers);
        }
        for path in layers {
            // Overlay would resolve a relative path against the mounting process's cwd.
            if !path.is_absolute() {
                return Err(Error::LowerNotAbsolute { path: path.clone() });
            }
            let meta = std::fs::metadata(path).map_err(|source| Error::Lower {
                path: path.clone(),
                source,
            })?;
            if !meta.is_dir() {
                return Err(Error::LowerNotDir { path: path.clone() });
            }
        }
        Ok(())
    }
}
