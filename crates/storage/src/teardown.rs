//! Taking a container's storage apart: mounts, loop device, subvolume/qgroup or project
//! quota, files. Idempotent, and usable without a record (leftovers found by `repair`).

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::backend::QuotaBackend;
use crate::error::Error;
use crate::layout::Layout;
use crate::record::{ContainerRecord, Disk};
use crate::{btrfs, loopdev, mount, mountinfo, pending, projquota};

/// How long `remove` waits for a deleted subvolume's qgroup to become removable.
const QGROUP_WAIT: Duration = Duration::from_secs(2);

/// How long an auto-clearing loop device may take to go away after its last unmount.
const LOOP_CLEAR_WAIT: Duration = Duration::from_secs(5);

/// Unmount everything below the container directory (merged, then the image), deepest
/// first. `detach` (repair) lazily detaches mounts that are still busy.
pub fn unmount_all(layout: &Layout, id: &str, detach: bool) -> Result<(), Error> {
    let dir = layout.container(id);
    for path in mountinfo::under(&mountinfo::read()?, &dir) {
        if detach {
            mount::detach_path(&path)?;
        } else {
            mount::unmount_path(&path)?;
        }
    }
    Ok(())
}

/// Remove everything of container `id`. `record` is `None` for leftovers without one.
pub fn teardown(
    layout: &Layout,
    backend: QuotaBackend,
    id: &str,
    record: Option<&ContainerRecord>,
    detach: bool,
) -> Result<(), Error> {
    let dir = layout.container(id);
    unmount_all(layout, id, detach)?;
    release_loop(&layout.image(id))?;
    match record.map(|r| r.disk) {
        Some(Disk::Btrfs { subvol }) => delete_subvolume(layout, id, subvol)?,
        Some(Disk::ProjectQuota { project }) => projquota::set_limit(layout.root(), project, 0)?,
        Some(Disk::Plain | Disk::LoopImage { .. }) => {}
        None if backend == QuotaBackend::Btrfs => delete_orphan_subvolume(layout, id)?,
        None => {}
    }
    // Never delete through a mount point: that would delete inside the mounted file system.
    if let Some(path) = mountinfo::under(&mountinfo::read()?, &dir)
        .into_iter()
        .next()
    {
        return Err(Error::StillMounted { path });
    }
    match std::fs::remove_dir_all(&dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(Error::Remove { path: dir, source }),
    }
}

/// Wait for the auto-clearing loop devices of `image` to detach after the last unmount;
/// clear any that are attached but no longer mounted (a crash between attach and mount
/// leaves none: the attaching process's fd was the last reference).
pub fn release_loop(image: &Path) -> Result<(), Error> {
    let start = Instant::now();
    loop {
        let devices = loopdev::find(image)?;
        let Some(device) = devices.first() else {
            return Ok(());
        };
        if start.elapsed() > LOOP_CLEAR_WAIT {
            for device in &devices {
                loopdev::detach(device)?;
            }
            if loopdev::find(image)?.is_empty() {
                return Ok(());
            }
            return Err(Error::LoopBusy {
                device: device.clone(),
                image: image.to_owned(),
            });
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Delete container `id`'s subvolume; a qgroup that cannot go yet is left to `repair`.
fn delete_subvolume(layout: &Layout, id: &str, subvol: u64) -> Result<(), Error> {
    if !btrfs::delete_subvolume(layout.root(), &layout.fs(id), subvol, QGROUP_WAIT)? {
        pending::add(layout, subvol)?;
    }
    Ok(())
}

/// A btrfs store's container directory without a record may still hold its subvolume
/// (a crash during create): subvolume roots are inode 256.
fn delete_orphan_subvolume(layout: &Layout, id: &str) -> Result<(), Error> {
    let fs_dir = layout.fs(id);
    match std::fs::symlink_metadata(&fs_dir) {
        Ok(meta) if meta.is_dir() && meta.ino() == 256 => {
            let subvol = btrfs::subvolume_id(&fs_dir)?;
            delete_subvolume(layout, id, subvol)
        }
        _ => Ok(()),
    }
}
