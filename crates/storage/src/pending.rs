//! Btrfs qgroups of deleted subvolumes that could not be removed yet (see
//! `btrfs::destroy_qgroup`): remembered in `<root>/.berth-store/pending-qgroups.json` and
//! retried by `repair`, so `remove` waits for the btrfs cleaner only briefly.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::btrfs;
use crate::error::Error;
use crate::layout::Layout;
use crate::lock::Lock;
use crate::record;

#[derive(Debug, Default, Serialize, Deserialize)]
struct Pending {
    subvolumes: Vec<u64>,
}

fn path(layout: &Layout) -> PathBuf {
    layout.meta().join("pending-qgroups.json")
}

fn lock(layout: &Layout) -> Result<Lock, Error> {
    Lock::exclusive(&layout.meta().join("pending-qgroups.lock"))
}

fn load(layout: &Layout) -> Result<Pending, Error> {
    let path = path(layout);
    if !path.exists() {
        return Ok(Pending::default());
    }
    record::read(&path)
}

/// Remember that qgroup `0/<subvol>` is still to be removed.
pub fn add(layout: &Layout, subvol: u64) -> Result<(), Error> {
    let _lock = lock(layout)?;
    let mut pending = load(layout)?;
    if !pending.subvolumes.contains(&subvol) {
        pending.subvolumes.push(subvol);
    }
    record::write(&path(layout), &pending)
}

/// Try once more to remove every pending qgroup; returns the ones still pending.
pub fn retry(layout: &Layout) -> Result<Vec<u64>, Error> {
    let _lock = lock(layout)?;
    let mut pending = load(layout)?;
    if pending.subvolumes.is_empty() {
        return Ok(Vec::new());
    }
    let mut left = Vec::new();
    for subvol in pending.subvolumes {
        if !btrfs::destroy_qgroup(layout.root(), subvol, Duration::ZERO)? {
            left.push(subvol);
        }
    }
    pending.subvolumes = left.clone();
    record::write(&path(layout), &pending)?;
    Ok(left)
}
