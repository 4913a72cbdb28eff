//! Records on disk: JSON files written atomically (temp file, fsync, rename, fsync dir)
//! and an exclusive lock over the whole store.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::Error;

/// Held while a store operation runs; released on drop.
pub struct StoreLock {
    _lock: Flock<File>,
}

pub fn lock(path: &Path) -> Result<StoreLock, Error> {
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(|source| Error::OpenLock {
            path: path.into(),
            source,
        })?;
    let lock = Flock::lock(file, FlockArg::LockExclusive).map_err(|(_, source)| Error::Lock {
        path: path.into(),
        source,
    })?;
    Ok(StoreLock { _lock: lock })
}

pub fn create_dir(path: &Path) -> Result<(), Error> {
    fs::create_dir_all(path).map_err(|source| Error::CreateDir {
        path: path.into(),
        source,
    })
}

pub fn write<T: Serialize>(path: &Path, value: &T) -> Result<(), Error> {
    let data = serde_json::to_vec_pretty(value).map_err(|source| Error::EncodeRecord {
        path: path.into(),
        source,
    })?;
    let tmp = path.with_extension("json.tmp");
    let werr = |source| Error::WriteRecord {
        path: tmp.clone(),
        source,
    };
    let mut file = File::create(&tmp).map_err(werr)?;
    file.write_all(&data).map_err(werr)?;
    file.sync_all().map_err(werr)?;
    drop(file);
    fs::rename(&tmp, path).map_err(|source| Error::WriteRecord {
        path: path.into(),
        source,
    })?;
    if let Some(dir) = path.parent() {
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|source| Error::WriteRecord {
                path: dir.into(),
                source,
            })?;
    }
    Ok(())
}

pub fn read<T: DeserializeOwned>(path: &Path) -> Result<Option<T>, Error> {
    let data = match fs::read(path) {
        Ok(d) => d,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(Error::ReadRecord {
                path: path.into(),
                source,
            })
        }
    };
    serde_json::from_slice(&data)
        .map(Some)
        .map_err(|source| Error::ParseRecord {
            path: path.into(),
            source,
        })
}

pub fn remove(path: &Path) -> Result<(), Error> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(Error::RemoveRecord {
            path: path.into(),
            source,
        }),
    }
}

/// Every `*.json` record in `dir`, sorted by file name.
pub fn read_all<T: DeserializeOwned>(dir: &Path) -> Result<Vec<T>, Error> {
    let entries = fs::read_dir(dir).map_err(|source| Error::ListRecords {
        path: dir.into(),
        source,
    })?;
    let mut paths: Vec<PathBuf> = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|source| Error::ListRecords {
            path: dir.into(),
            source,
        })?;
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "json") {
            paths.push(path);
        }
    }
    paths.sort();
    let mut out = Vec::new();
    for path in paths {
        if let Some(v) = read(&path)? {
            out.push(v);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_read_remove_round_trip() {
        let dir = std::env::temp_dir().join(format!("berth-test-records-{}", std::process::id()));
        create_dir(&dir).unwrap();
        let path = dir.join("a.json");
        write(&path, &vec![1u32, 2]).unwrap();
        assert_eq!(read::<Vec<u32>>(&path).unwrap(), Some(vec![1, 2]));
        assert_eq!(read_all::<Vec<u32>>(&dir).unwrap(), vec![vec![1, 2]]);
        assert!(!path.with_extension("json.tmp").exists());
        remove(&path).unwrap();
        remove(&path).unwrap();
        assert_eq!(read::<Vec<u32>>(&path).unwrap(), None);
        let _l = lock(&dir.join("lock")).unwrap();
        fs::remove_dir_all(&dir).unwrap();
    }
}
