//! Crash-safe file helpers: write to a temp name, fsync, rename, fsync the directory.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::Error;

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A name unique in this store: pid, a process-wide counter and the clock.
pub(crate) fn unique_name(prefix: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{prefix}-{}-{n}-{nanos:x}", std::process::id())
}

pub(crate) fn create_dir_all(path: &Path) -> Result<(), Error> {
    fs::create_dir_all(path).map_err(|source| Error::CreateDir {
        path: path.to_owned(),
        source,
    })
}

/// Creates a fresh file (mode 0600) for writing.
pub(crate) fn create_new(path: &Path) -> Result<File, Error> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|source| Error::Open {
            path: path.to_owned(),
            source,
        })
}

pub(crate) fn open(path: &Path) -> Result<File, Error> {
    File::open(path).map_err(|source| Error::Open {
        path: path.to_owned(),
        source,
    })
}

pub(crate) fn read(path: &Path) -> Result<Vec<u8>, Error> {
    fs::read(path).map_err(|source| Error::Read {
        path: path.to_owned(),
        source,
    })
}

pub(crate) fn sync_file(file: &File, path: &Path) -> Result<(), Error> {
    file.sync_all().map_err(|source| Error::Sync {
        path: path.to_owned(),
        source,
    })
}

pub(crate) fn sync_dir(dir: &Path) -> Result<(), Error> {
    let f = open(dir)?;
    sync_file(&f, dir)
}

/// Renames `from` to `to` and makes the rename durable.
pub(crate) fn rename(from: &Path, to: &Path) -> Result<(), Error> {
    fs::rename(from, to).map_err(|source| Error::Rename {
        from: from.to_owned(),
        to: to.to_owned(),
        source,
    })?;
    if let Some(parent) = to.parent() {
        sync_dir(parent)?;
    }
    Ok(())
}

/// Atomically replaces `path` with `data`: temp file in `tmp_dir`, fsync, rename.
pub(crate) fn write_atomic(tmp_dir: &Path, path: &Path, data: &[u8]) -> Result<(), Error> {
    let tmp = tmp_dir.join(unique_name("file"));
    let mut f = create_new(&tmp)?;
    let res = f
        .write_all(data)
        .map_err(|source| Error::Write {
            path: tmp.clone(),
            source,
        })
        .and_then(|()| sync_file(&f, &tmp))
        .and_then(|()| rename(&tmp, path));
    if res.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    res
}

/// Removes a file or a whole directory tree; a missing path is not an error.
pub(crate) fn remove_any(path: &Path) -> Result<(), Error> {
    let res = match fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => Err(e),
        Ok(m) if m.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
    };
    res.map_err(|source| Error::Remove {
        path: path.to_owned(),
        source,
    })
}

/// Sum of the sizes of the regular files under `path` (not following symlinks).
pub(crate) fn disk_usage(path: &Path) -> u64 {
    let Ok(meta) = fs::symlink_metadata(path) else {
        return 0;
    };
    if !meta.is_dir() {
        return meta.len();
    }
    let Ok(rd) = fs::read_dir(path) else {
        return 0;
    };
    rd.flatten().map(|e| disk_usage(&e.path())).sum()
}

/// A temporary path that is removed on drop unless `keep` was called.
pub(crate) struct TempPath {
    path: PathBuf,
    keep: bool,
}

impl TempPath {
    pub(crate) fn new(path: PathBuf) -> TempPath {
        TempPath { path, keep: false }
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn keep(mut self) -> PathBuf {
        self.keep = true;
        std::mem::take(&mut self.path)
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        if !self.keep {
            let _ = remove_any(&self.path);
        }
    }
}
