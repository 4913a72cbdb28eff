//! Small file helpers for cgroup file systems: every failure carries the path (and the
//! value, for writes).

use std::fs;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::thread::sleep;
use std::time::{Duration, Instant};

use crate::Error;

/// Writes `value` to an existing cgroup file with one `write(2)` (cgroup files take a
/// whole value per write).
pub(crate) fn write(path: &Path, value: &str) -> Result<(), Error> {
    write_raw(path, value).map_err(|source| Error::Write {
        path: path.to_path_buf(),
        value: value.to_string(),
        source,
    })
}

/// Like [`write`] but returns the bare `io::Error` so callers can branch on its kind.
pub(crate) fn write_raw(path: &Path, value: &str) -> io::Result<()> {
    let mut file = fs::OpenOptions::new().write(true).open(path)?;
    file.write_all(value.as_bytes())
}

pub(crate) fn read(path: &Path) -> Result<String, Error> {
    fs::read_to_string(path).map_err(|source| Error::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// Reads a file that may legitimately be absent (a controller file the kernel lacks).
pub(crate) fn read_optional(path: &Path) -> Result<Option<String>, Error> {
    match fs::read_to_string(path) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(Error::Read {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Parses a single number; "max" (v2) reads as `u64::MAX`, negative numbers (v1 "-1") as 0.
pub(crate) fn parse_u64(path: &Path, content: &str) -> Result<u64, Error> {
    let s = content.trim();
    if s == "max" {
        return Ok(u64::MAX);
    }
    if let Ok(v) = s.parse::<u64>() {
        return Ok(v);
    }
    match s.parse::<i64>() {
        Ok(v) if v < 0 => Ok(0),
        _ => Err(Error::Parse {
            path: path.to_path_buf(),
            content: s.to_string(),
        }),
    }
}

/// Reads a single-number file; `Ok(None)` when the file does not exist.
pub(crate) fn read_u64_optional(path: &Path) -> Result<Option<u64>, Error> {
    match read_optional(path)? {
        Some(s) => parse_u64(path, &s).map(Some),
        None => Ok(None),
    }
}

/// Value of `key` in a flat keyed file ("key value" per line), e.g. memory.events.
pub(crate) fn keyed_value(content: &str, key: &str) -> Option<u64> {
    content.lines().find_map(|line| {
        let mut it = line.split_whitespace();
        if it.next()? == key {
            it.next()?.parse().ok()
        } else {
            None
        }
    })
}

/// `mkdir -p`, returning the directories it created (outermost first).
pub(crate) fn mkdir_all(path: &Path) -> Result<Vec<PathBuf>, Error> {
    let mut missing = Vec::new();
    let mut cur = Some(path);
    while let Some(p) = cur {
        if p.is_dir() {
            break;
        }
        missing.push(p.to_path_buf());
        cur = p.parent();
    }
    missing.reverse();
    let mut created = Vec::new();
    for dir in missing {
        match fs::create_dir(&dir) {
            Ok(()) => created.push(dir),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(source) => return Err(Error::Mkdir { path: dir, source }),
        }
    }
    Ok(created)
}

/// Removes a cgroup directory and any child cgroups below it. Missing is success; EBUSY
/// (processes still exiting) is retried for a short while, as runc does.
pub(crate) fn remove_cgroup_dir(path: &Path) -> Result<(), Error> {
    // The common case, a container's cgroup without children, is one rmdir; the directory
    // is listed for child cgroups only when the kernel says it is not empty (EBUSY).
    match fs::remove_dir(path) {
        Ok(()) => return Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(_) => {}
    }
    let entries = match fs::read_dir(path) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(source) => {
            return Err(Error::ReadDir {
                path: path.to_path_buf(),
                source,
            })
        }
    };
    for entry in entries.flatten() {
        if entry.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            remove_cgroup_dir(&entry.path())?;
        }
    }
    let deadline = Instant::now() + Duration::from_millis(500);
    let mut delay = Duration::from_millis(1);
    loop {
        match fs::remove_dir(path) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) && Instant::now() < deadline => {
                sleep(delay);
                delay = (delay * 2).min(Duration::from_millis(50));
            }
            Err(source) => {
                return Err(Error::Rmdir {
                    path: path.to_path_buf(),
                    source,
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyed_value_finds_key() {
        let c = "low 0\nhigh 3\nmax 7\noom 1\noom_kill 2\n";
        assert_eq!(keyed_value(c, "oom_kill"), Some(2));
        assert_eq!(keyed_value(c, "oom"), Some(1));
        assert_eq!(keyed_value(c, "nope"), None);
    }

    #[test]
    fn parse_u64_handles_max_and_negative() {
        let p = Path::new("/x");
        assert_eq!(parse_u64(p, "max\n").unwrap(), u64::MAX);
        assert_eq!(parse_u64(p, "-1").unwrap(), 0);
        assert_eq!(parse_u64(p, "42\n").unwrap(), 42);
        assert!(parse_u64(p, "abc").is_err());
    }
}
