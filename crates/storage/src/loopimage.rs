//! The LoopImage backend: a sparse ext4 image per container, loop-attached and mounted on
//! `fs/`, its quota held by ext4's reserved clusters (see `ext4`).

use std::fs::{self, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use crate::error::Error;
use crate::ext4::{self, Space};
use crate::layout::Layout;
use crate::loopdev::LoopDevice;
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
    // Auto-clearing: once the mount holds the device, dropping our handle is fine, and if
    // the mount fails the device detaches right away.
    let device = LoopDevice::attach(&layout.image(id))?;
    mount::ext4(device.path(), &fs_dir)?;
    if let Err(e) = limit(&fs_dir, device.path(), quota) {
        // Never leave a container file system mounted without its quota.
        let _ = mount::unmount_path(&fs_dir);
        return Err(e);
    }
    Ok(true)
}

fn limit(fs_dir: &Path, device: &Path, quota: u64) -> Result<(), Error> {
    let space = ext4::statfs(fs_dir)?;
    ext4::apply_quota(device, space.usable, space.cluster, quota)
}

/// Space of container `id`'s file system, mounted or not.
pub fn space(layout: &Layout, id: &str) -> Result<Space, Error> {
    let fs_dir = layout.fs(id);
    if mountpoint::is_mount_root(&fs_dir)? {
        ext4::statfs(&fs_dir)
    } else {
        ext4::statfs_offline(&layout.image(id))
    }
}

/// Set container `id`'s quota to `quota` bytes (the caller checked it is not below the
/// usage). Grows the image first if the quota does not fit; returns the image size.
pub fn resize(layout: &Layout, id: &str, size: u64, quota: u64) -> Result<u64, Error> {
    let fs_dir = layout.fs(id);
    let image = layout.image(id);
    let device = match mountpoint::is_mount_root(&fs_dir)? {
        true => Some(mountpoint::device_of(&fs_dir)?),
        false => None,
    };
    let space = match &device {
        Some(_) => ext4::statfs(&fs_dir)?,
        None => ext4::statfs_offline(&image)?,
    };
    let mut new_size = size;
    if !ext4::fits(space.usable * space.cluster, space.cluster, quota) {
        new_size = ext4::image_size(quota);
        if device.is_some() && !can_resize_online()? {
            return Err(Error::GrowNeedsCapability {
                id: id.to_owned(),
                requested: quota,
            });
        }
        OpenOptions::new()
            .write(true)
            .open(&image)
            .and_then(|f| f.set_len(new_size))
            .map_err(|source| Error::SizeImage {
                path: image.clone(),
                size: new_size,
                source,
            })?;
        match &device {
            Some(device) => {
                LoopDevice::open(device)?.set_capacity()?;
                ext4::grow_online(device)?;
            }
            None => ext4::grow_offline(&image, new_size)?,
        }
    }
    if let Some(device) = &device {
        limit(&fs_dir, device, quota)?;
    }
    Ok(new_size)
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
