//! Making a container's quota'd file system with its overlay `upper` and `work` directories.

use std::fs;
use std::path::{Path, PathBuf};

use crate::backend::QuotaBackend;
use crate::error::Error;
use crate::idshift::IdShift;
use crate::layout::Layout;
use crate::lower::Lower;
use crate::record::{self, ContainerRecord, Disk};
use crate::{btrfs, ext4, hostmask, loopimage, pending, projquota};

pub fn mkdir(path: &Path) -> Result<(), Error> {
    fs::create_dir(path).map_err(|source| Error::CreateDir {
        path: path.to_owned(),
        source,
    })
}

/// Make `fs/`, `fs/upper` and `fs/work` for container `id` with the store's `backend`.
/// HostTree containers get `host_masks` hidden through their upper (see `hostmask`).
pub fn provision(
    layout: &Layout,
    backend: QuotaBackend,
    id: &str,
    quota: Option<u64>,
    lower: &Lower,
    host_masks: &[PathBuf],
    ids: Option<&IdShift>,
) -> Result<Disk, Error> {
    let fs_dir = layout.fs(id);
    let upper = layout.upper(id);
    let make_upper = |upper: &Path| {
        mkdir(upper)?;
        if let Some(shift) = ids {
            shift_upper_root(upper, lower, shift)?;
        }
        if *lower == Lower::HostTree {
            hostmask::mask(upper, host_masks, ids)?;
        }
        Ok::<(), Error>(())
    };
    match (backend, quota) {
        (QuotaBackend::None, Some(_)) => Err(Error::QuotaUnsupported {
            id: id.to_owned(),
            backend,
        }),
        (QuotaBackend::Btrfs, quota) => {
            let subvol = btrfs::create_subvolume(&fs_dir)?;
            // Recorded by the caller only on success; undo here if the rest fails.
            let rest = (|| {
                make_upper(&upper)?;
                mkdir(&layout.work(id))?;
                if let Some(bytes) = quota {
                    btrfs::limit(&fs_dir, bytes)?;
                }
                Ok(())
            })();
            if let Err(e) = rest {
                let wait = std::time::Duration::from_secs(2);
                if let Ok(false) = btrfs::delete_subvolume(layout.root(), &fs_dir, subvol, wait) {
                    let _ = pending::add(layout, subvol);
                }
                return Err(e);
            }
            Ok(Disk::Btrfs { subvol })
        }
        (_, None) => {
            mkdir(&fs_dir)?;
            make_upper(&upper)?;
            mkdir(&layout.work(id))?;
            Ok(Disk::Plain)
        }
        (QuotaBackend::LoopImage, Some(quota)) => {
            check_min(id, quota)?;
            loopimage::create(layout, id, quota, &make_upper)
        }
        (QuotaBackend::ProjectQuota, Some(bytes)) => {
            let project = next_project(layout)?;
            mkdir(&fs_dir)?;
            projquota::assign(&fs_dir, project)?;
            projquota::set_limit(layout.root(), project, bytes)?;
            make_upper(&upper)?;
            mkdir(&layout.work(id))?;
            Ok(Disk::ProjectQuota { project })
        }
    }
}

/// The upper's root directory is the overlay's root: give it the owner the top lower's root
/// shows through the idmapped mount (e.g. host `/`, 0:0, appears as `shift.uid:shift.gid`).
fn shift_upper_root(upper: &Path, lower: &Lower, shift: &IdShift) -> Result<(), Error> {
    use std::os::unix::fs::MetadataExt;
    let top = match lower {
        Lower::HostTree => Path::new("/"),
        Lower::Layers(layers) => layers.first().map_or(Path::new("/"), |p| p.as_path()),
    };
    let meta = fs::metadata(top).map_err(|source| Error::Lower {
        path: top.to_owned(),
        source,
    })?;
    let (uid, gid) = (shift.uid_of(meta.uid()), shift.gid_of(meta.gid()));
    std::os::unix::fs::chown(upper, Some(uid), Some(gid)).map_err(|source| Error::Chown {
        path: upper.to_owned(),
        uid,
        gid,
        source,
    })
}

pub fn check_min(id: &str, size: u64) -> Result<(), Error> {
    if size < ext4::MIN_QUOTA {
        return Err(Error::QuotaTooSmall {
            id: id.to_owned(),
            requested: size,
            min: ext4::MIN_QUOTA,
        });
    }
    Ok(())
}

/// One more than the highest project id in use in this store.
fn next_project(layout: &Layout) -> Result<u32, Error> {
    let mut next = projquota::FIRST_PROJECT;
    let root = layout.root();
    let entries = fs::read_dir(root).map_err(|source| Error::ReadFile {
        path: root.to_owned(),
        source,
    })?;
    for entry in entries.flatten() {
        let path = entry.path().join("config.json");
        if let Ok(rec) = record::read::<ContainerRecord>(&path) {
            if let Disk::ProjectQuota { project } = rec.disk {
                next = next.max(project + 1);
            }
        }
    }
    Ok(next)
}
