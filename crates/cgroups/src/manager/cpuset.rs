//! v1 cpuset: a new cgroup starts with empty cpuset.cpus/mems and refuses processes
//! (ENOSPC) until they are set, so copy them down from the nearest populated ancestor.

use std::path::Path;

use crate::{fsutil, Error};

pub(super) fn ensure_populated(dir: &Path) -> Result<(), Error> {
    for file in ["cpuset.cpus", "cpuset.mems"] {
        let mut empty = Vec::new();
        let mut cur = Some(dir);
        let mut value = String::new();
        while let Some(d) = cur {
            let path = d.join(file);
            if !path.exists() {
                break;
            }
            let v = fsutil::read(&path)?;
            if !v.trim().is_empty() {
                value = v.trim().to_string();
                break;
            }
            empty.push(d);
            cur = d.parent();
        }
        if value.is_empty() {
            continue;
        }
        for d in empty.iter().rev() {
            fsutil::write(&d.join(file), &value)?;
        }
    }
    Ok(())
}
