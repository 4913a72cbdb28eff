//! Per-interface kernel settings under /proc/sys/net (of the calling thread's netns).

use std::path::{Path, PathBuf};

use crate::Error;

fn path(key: &str) -> PathBuf {
    Path::new("/proc/sys").join(key)
}

pub fn set(key: &str, value: &str) -> Result<(), Error> {
    let p = path(key);
    std::fs::write(&p, value).map_err(|source| Error::Sysctl {
        path: p,
        value: value.into(),
        source,
    })
}

/// Sets the key when this kernel has it (for settings newer than the oldest supported kernel).
pub fn set_if_present(key: &str, value: &str) -> Result<bool, Error> {
    if path(key).exists() {
        set(key, value)?;
        Ok(true)
    } else {
        Ok(false)
    }
}

pub fn get(key: &str) -> Result<String, Error> {
    let p = path(key);
    std::fs::read_to_string(&p)
        .map(|v| v.trim().to_string())
        .map_err(|source| Error::Sysctl {
            path: p,
            value: "(read)".into(),
            source,
        })
}
