//! The records a store keeps on disk, written atomically (temp file, fsync, rename).

use std::fs::{self, File};
use std::io::Write;
use std::path::Path;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::backend::QuotaBackend;
use crate::error::Error;
use crate::idshift::IdShift;
use crate::lower::Lower;

/// `<root>/.berth-store/store.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoreRecord {
    pub backend: QuotaBackend,
}

/// Where a container's upper and work directories live.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum Disk {
    /// A plain directory on the store's file system (no quota).
    Plain,
    /// An ext4 image of `size` bytes, loop-mounted on `fs/`.
    LoopImage { size: u64 },
    /// A btrfs subvolume at `fs/`, limited by qgroup `0/<subvol>`.
    Btrfs { subvol: u64 },
    /// A directory at `fs/` with project id `project`, limited by that project's quota.
    ProjectQuota { project: u32 },
}

/// `<root>/<id>/config.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ContainerRecord {
    pub id: String,
    pub lower: Lower,
    pub quota: Option<u64>,
    pub disk: Disk,
    /// The container runs in a user namespace with these ids (see `idshift`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ids: Option<IdShift>,
}

pub fn read<T: DeserializeOwned>(path: &Path) -> Result<T, Error> {
    let bytes = fs::read(path).map_err(|source| Error::ReadFile {
        path: path.to_owned(),
        source,
    })?;
    serde_json::from_slice(&bytes).map_err(|source| Error::ParseRecord {
        path: path.to_owned(),
        source,
    })
}

/// Replace `path` with `value` so that a crash leaves either the old or the new content.
pub fn write<T: Serialize>(path: &Path, value: &T) -> Result<(), Error> {
    let bytes = serde_json::to_vec_pretty(value).map_err(|source| Error::EncodeRecord {
        path: path.to_owned(),
        source,
    })?;
    let tmp = path.with_extension("json.tmp");
    let werr = |source| Error::WriteFile {
        path: tmp.clone(),
        source,
    };
    let mut file = File::create(&tmp).map_err(werr)?;
    file.write_all(&bytes).map_err(werr)?;
    file.sync_all().map_err(werr)?;
    fs::rename(&tmp, path).map_err(|source| Error::WriteFile {
        path: path.to_owned(),
        source,
    })?;
    if let Some(dir) = path.parent() {
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|source| Error::WriteFile {
                path: dir.to_owned(),
                source,
            })?;
    }
    Ok(())
}
