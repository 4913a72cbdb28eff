//! A container's state on disk: `<root>/<id>/state.json`, written atomically (temp file,
//! rename) under an exclusive `flock` on `<root>/<id>/lock`, so two commands on one
//! container never race and a crash leaves either the old or the new state.
//!
//! The status is never stored: it is derived from the kernel each time it is read, as runc
//! does (a dead or replaced init means `stopped`, an exec fifo means `created`, a frozen
//! cgroup means `paused`).

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

pub const STATE_FILE: &str = "state.json";
pub const CONFIG_FILE: &str = "config.json";
pub const EXEC_FIFO: &str = "exec.fifo";

/// The status runc reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Creating,
    Created,
    Running,
    Paused,
    Stopped,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        })
    }
}

/// What berth keeps about a container between commands.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Saved {
    pub id: String,
    /// Host pid of the container's init; 0 while it does not exist yet.
    pub pid: i32,
    /// Start time of `pid` (field 22 of /proc/<pid>/stat), to detect pid reuse.
    pub pid_start: u64,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    /// RFC 3339 creation time.
    pub created: String,
    pub owner: String,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    pub cgroup: Option<berth_cgroups::SavedCgroup>,
    /// True once `create` finished; a state left with `false` is a crashed create.
    pub init_done: bool,
    /// `/proc/<pid>/ns/*` files the container was created with, by type name.
    #[serde(default)]
    pub namespaces: BTreeMap<String, PathBuf>,
    #[serde(default)]
    pub rootless: bool,
}

/// The `state` command's JSON, as runc prints it.
#[derive(Debug, Serialize, Deserialize)]
pub struct RuncState {
    #[serde(rename = "ociVersion")]
    pub oci_version: String,
    pub id: String,
    pub pid: i32,
    pub status: Status,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    pub created: String,
    pub owner: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty", default)]
    pub annotations: BTreeMap<String, String>,
}

/// The OCI state given to hooks on stdin.
#[derive(Debug, Serialize)]
pub struct OciState<'a> {
    #[serde(rename = "ociVersion")]
    pub oci_version: &'static str,
    pub id: &'a str,
    pub status: Status,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid: Option<i32>,
    pub bundle: &'a Path,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: &'a BTreeMap<String, String>,
}

pub const OCI_VERSION: &str = "1.2.0";

/// Container ids name directories and cgroups: keep them to runc's alphabet.
pub fn validate_id(id: &str) -> Result<()> {
    let bad = |reason| {
        Err(Error::InvalidId {
            id: id.to_string(),
            reason,
        })
    };
    if id.is_empty() {
        return bad("empty");
    }
    if id.len() > 1024 {
        return bad("longer than 1024 bytes");
    }
    if id == "." || id == ".." {
        return bad("is a relative path component");
    }
    if !id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'+' | b'-' | b'.'))
    {
        return bad("may only contain letters, digits, '_', '+', '-' and '.'");
    }
    Ok(())
}

/// The directory of one container's state, with its lock held while this value lives.
pub struct StateDir {
    pub dir: PathBuf,
    _lock: Option<File>,
}

impl StateDir {
    /// Create a new state directory; fails with `Exists` if the id is taken.
    pub fn create(root: &Path, id: &str) -> Result<Self> {
        validate_id(id)?;
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o711)
            .create(root)
            .map_err(|source| Error::StateDir {
                path: root.to_path_buf(),
                source,
            })?;
        let dir = root.join(id);
        match fs::DirBuilder::new().mode(0o711).create(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(Error::Exists(id.to_string()))
            }
            Err(source) => return Err(Error::StateDir { path: dir, source }),
        }
        let lock = lock(&dir)?;
        Ok(StateDir {
            dir,
            _lock: Some(lock),
        })
    }

    /// Open an existing container's state directory for reading only, without its lock:
    /// state files are replaced atomically, so a reader sees a whole old or new state, and
    /// `state`/`list` never wait for a long-running `run` or `exec`.
    pub fn open_unlocked(root: &Path, id: &str) -> Result<Self> {
        validate_id(id)?;
        let dir = root.join(id);
        if !dir.is_dir() {
            return Err(Error::NotExist(id.to_string()));
        }
        Ok(StateDir { dir, _lock: None })
    }

    /// The lock's descriptor. A forked child shares the lock (flock locks belong to the open
    /// file description): the container init closes it so it never holds its own state
    /// locked while it waits for `start`.
    pub fn lock_fd(&self) -> Option<std::os::fd::RawFd> {
        self._lock.as_ref().map(|f| f.as_raw_fd())
    }

    /// Release the lock early (a foreground `run` waiting for its container).
    pub fn unlock(&mut self) {
        self._lock = None;
    }

    /// Open and lock an existing container's state directory.
    pub fn open(root: &Path, id: &str) -> Result<Self> {
        validate_id(id)?;
        let dir = root.join(id);
        if !dir.is_dir() {
            return Err(Error::NotExist(id.to_string()));
        }
        let lock = lock(&dir)?;
        Ok(StateDir {
            dir,
            _lock: Some(lock),
        })
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    pub fn load(&self) -> Result<Saved> {
        let path = self.path(STATE_FILE);
        let data = fs::read(&path).map_err(|source| Error::StateDir {
            path: path.clone(),
            source,
        })?;
        serde_json::from_slice(&data).map_err(|e| Error::StateCorrupt {
            id: self.id(),
            reason: format!("{}: {e}", path.display()),
        })
    }

    pub fn save(&self, saved: &Saved) -> Result<()> {
        let data = serde_json::to_vec(saved).map_err(|e| Error::StateCorrupt {
            id: saved.id.clone(),
            reason: e.to_string(),
        })?;
        write_atomic(&self.path(STATE_FILE), &data)
    }

    pub fn id(&self) -> String {
        self.dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    }

    /// Remove the directory and everything in it. The lock goes with it.
    pub fn remove(self) -> Result<()> {
        match fs::remove_dir_all(&self.dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(Error::StateDir {
                path: self.dir.clone(),
                source,
            }),
        }
    }
}

/// The cache of compiled seccomp programs under a state root (security::seccomp::cache). Its
/// name is not a valid container id (`~`), so it can never be taken for a container.
pub fn seccomp_cache_dir(root: &Path) -> PathBuf {
    root.join("~seccomp-cache")
}

/// Lock the state directory itself (flock works on a directory's descriptor): no lock file
/// to create, and the lock goes away with the directory.
fn lock(dir: &Path) -> Result<File> {
    let fail = |source| Error::Lock {
        path: dir.to_path_buf(),
        source,
    };
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_CLOEXEC | libc::O_DIRECTORY)
        .open(dir)
        .map_err(fail)?;
    rustix::fs::flock(&file, rustix::fs::FlockOperation::LockExclusive)
        .map_err(|e| fail(e.into()))?;
    Ok(file)
}

/// Write `data` to `path` so that readers see either the old or the new content.
pub fn write_atomic(path: &Path, data: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    let fail = |source| Error::StateDir {
        path: path.to_path_buf(),
        source,
    };
    let mut f = OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .mode(0o600)
        .custom_flags(libc::O_CLOEXEC)
        .open(&tmp)
        .map_err(fail)?;
    f.write_all(data).map_err(fail)?;
    // No fsync: this is the state of live processes, which a machine crash ends anyway. What
    // must hold is that a killed command leaves the old or the new file, never a torn one,
    // and the rename gives that. (An fsync here cost ~1 ms per write on this disk.)
    fs::rename(&tmp, path).map_err(fail)?;
    Ok(())
}

/// Start time of a process in clock ticks since boot, or None if it does not exist.
pub fn process_start_time(pid: i32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may contain spaces and parentheses: fields start after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let mut fields = rest.split(' ');
    let state = fields.next()?;
    if state == "Z" || state == "X" {
        return None;
    }
    // `rest` starts at field 3 (state); start time is field 22.
    fields.nth(18)?.parse().ok()
}

/// Time as RFC 3339 with nanoseconds, UTC, as runc prints `created`.
pub fn now_rfc3339() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:09}Z",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60,
        now.subsec_nanos()
    )
}

/// Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids() {
        assert!(validate_id("abc-1.2_x+y").is_ok());
        assert!(validate_id("").is_err());
        assert!(validate_id("..").is_err());
        assert!(validate_id("a/b").is_err());
        assert!(validate_id("a\0b").is_err());
    }

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_723), (2024, 1, 1));
        assert_eq!(civil_from_days(20_417), (2025, 11, 25));
    }

    #[test]
    fn own_start_time() {
        assert!(process_start_time(std::process::id() as i32).is_some());
    }
}
