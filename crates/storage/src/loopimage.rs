//! The LoopImage backend: a sparse ext4 image per container, loop-attached and mounted on
//! `fs/`, its quota held by ext4's reserved clusters (see `ext4`).

use std::fs::{self, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use crate::error::Error;
use crate::ext4::{self, Space};
use crate::layout::Layout;
use crate::loopdev::{self, LoopDevice};
use crate::mount;
use crate::mountpoint;
use crate::provision::mkdir;
use crate::record::Disk;

/// Make the image for container `id` with room for `quota` bytes, holding an ext4 file
/// system that already contains `upper/` and `work/` (mkfs populates it from a template
/// directory: no mount needed).
/// `make_upper` makes the upper directory (in the template).
pub fn create(
    layout: &Layout,
    id: &str,
    quota: u64,
    make_upper: &dyn Fn(&Path) -> Result<(), Error>,
) -> Result<Disk, Error> {
    let image = layout.image(id);
    let size = ext4::image_size(quota);
    // The image holds the tenant's data: readable by root only.
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&image)
        .map_err(|source| Error::OpenImage {
            path: image.clone(),
            source,
        })?;
    file.set_len(size).map_err(|source| Error::SizeImage {
        path: image.clone(),
        size,
        source,
    })?;
    drop(file);
    let template = layout.scratch(id);
    mkdir(&template)?;
    make_upper(&template.join("upper"))?;
    mkdir(&template.join("work"))?;
    let made = ext4::mkfs(&image, &template);
    fs::remove_dir_all(&template).map_err(|source| Error::Remove {
        path: template.clone(),
        source,
    })?;
    made?;
    mkdir(&layout.fs(id))?;
    Ok(Disk::LoopImage { size })
}

/// Attach and mount container `id`'s image on `fs/` unless it is mounted already, and
/// (re)apply its quota. Returns whether this call mounted it.
pub fn mount(layout: &Layout, id: &str, quota: u64) -> Result<bool, Error> {
    let fs_dir = layout.fs(id);
    if mountpoint::is_mount_root(&fs_dir)? {
        limit(&fs_dir, &mountpoint::device_of(&fs_dir)?, quota)?;
        return Ok(false);
    }
    let device = mount_image(layout, id)?;
    if let Err(e) = limit(&fs_dir, &device, quota) {
        // Never leave a container file system mounted without its quota.
        let _ = mount::unmount_path(&fs_dir);
        return Err(e);
    }
    Ok(true)
}

/// Mount the image on `fs/`; returns the loop device.
///
/// The image's file system may still be alive although not mounted here: a container
/// whose root it is keeps it in its own mount namespace after we unmount ours, and so
/// does, for a moment, every new mount namespace copied from ours. Its loop device is
/// then still attached, and must be mounted again: a second loop device on the same image
/// would be a second ext4 instance on the same blocks, i.e. corruption.
fn mount_image(layout: &Layout, id: &str) -> Result<PathBuf, Error> {
    let image = layout.image(id);
    let fs_dir = layout.fs(id);
    if let Some(device) = loopdev::find(&image)?.into_iter().next() {
        match mount::ext4(&device, &fs_dir) {
            Ok(()) => return Ok(device),
            // It auto-cleared in between: attach afresh.
            Err(_) if loopdev::find(&image)?.is_empty() => {}
            Err(e) => return Err(e),
        }
    }
    // Auto-clearing: once the mount holds the device, dropping our handle is fine, and if
    // the mount fails the device detaches right away.
    let device = LoopDevice::attach(&image)?;
    mount::ext4(device.path(), &fs_dir)?;
    Ok(device.path().to_owned())
}

fn limit(fs_dir: &Path, device: &Path, quota: u64) -> Result<(), Error> {
    let space = ext4::statfs(fs_dir)?;
    ext4::apply_quota(device, space.usable, space.cluster, quota)
}

/// Run `f` on container `id`'s live file system (mount point, loop device), mounting it
/// for the call if it is alive but not mounted here (see [`mount_image`]). `None` if the
/// file system is not alive anywhere: then the image may be worked on offline.
fn with_live_fs<T>(
    layout: &Layout,
    id: &str,
    f: impl FnOnce(&Path, &Path) -> Result<T, Error>,
) -> Result<Option<T>, Error> {
    let fs_dir = layout.fs(id);
    if mountpoint::is_mount_root(&fs_dir)? {
        return f(&fs_dir, &mountpoint::device_of(&fs_dir)?).map(Some);
    }
    if loopdev::find(&layout.image(id))?.is_empty() {
        return Ok(None);
    }
    let device = mount_image(layout, id)?;
    let result = f(&fs_dir, &device);
    mount::unmount_path(&fs_dir)?;
    result.map(Some)
}

/// Space of container `id`'s file system, mounted or not.
pub fn space(layout: &Layout, id: &str) -> Result<Space, Error> {
    match with_live_fs(layout, id, |fs_dir, _| ext4::statfs(fs_dir))? {
        Some(space) => Ok(space),
        None => ext4::statfs_offline(&layout.image(id)),
    }
}

/// Set container `id`'s quota to `quota` bytes (the caller checked it is not below the
/// usage). Grows the image first if the quota does not fit; returns the image size.
pub fn resize(layout: &Layout, id: &str, size: u64, quota: u64) -> Result<u64, Error> {
    let image = layout.image(id);
    let online = with_live_fs(layout, id, |fs_dir, device| {
        let space = ext4::statfs(fs_dir)?;
        let mut new_size = size;
        if !ext4::fits(space.usable * space.cluster, space.cluster, quota) {
            if !can_resize_online()? {
                return Err(Error::GrowNeedsCapability {
                    id: id.to_owned(),
                    requested: quota,
                });
            }
            new_size = ext4::image_size(quota);
            set_len(&image, new_size)?;
            LoopDevice::open(device)?.set_capacity()?;
            ext4::grow_online(device)?;
        }
        limit(fs_dir, device, quota)?;
        Ok(new_size)
    })?;
    if let Some(new_size) = online {
        return Ok(new_size);
    }
    // Offline: the reservation is applied at the next mount; only growth needs work now.
    let space = ext4::statfs_offline(&image)?;
    if ext4::fits(space.usable * space.cluster, space.cluster, quota) {
        return Ok(size);
    }
    let new_size = ext4::image_size(quota);
    set_len(&image, new_size)?;
    ext4::grow_offline(&image, new_size)?;
    Ok(new_size)
}

fn set_len(image: &Path, size: u64) -> Result<(), Error> {
    OpenOptions::new()
        .write(true)
        .open(image)
        .and_then(|f| f.set_len(size))
        .map_err(|source| Error::SizeImage {
            path: image.to_owned(),
            size,
            source,
        })
}

/// EXT4_IOC_RESIZE_FS checks CAP_SYS_RESOURCE.
fn can_resize_online() -> Result<bool, Error> {
    caps::has_cap(
        None,
        caps::CapSet::Effective,
        caps::Capability::CAP_SYS_RESOURCE,
    )
    .map_err(|e| Error::Capabilities(e.to_string()))
}
