//! Mounting the overlay and the per-container ext4 file system, through the new mount API
//! (`fsopen`/`fsconfig`/`fsmount`/`move_mount`) so each overlay layer is passed on its own
//! (`lowerdir+`, no 4 KiB option-string limit, no comma/colon escaping). Kernels before 6.8
//! lack `lowerdir+`; for them the overlay falls back to one `mount(2)` option string.

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use rustix::fs::{Mode, OFlags, CWD};
use rustix::mount::{
    fsconfig_create, fsconfig_set_fd, fsconfig_set_flag, fsconfig_set_string, fsmount, fsopen,
    mount, move_mount, unmount, FsMountFlags, FsOpenFlags, MountAttrFlags, MountFlags,
    MoveMountFlags, UnmountFlags,
};

use crate::error::Error;
use crate::idshift::IdShift;

/// What an overlay mount is made of.
pub struct Overlay<'a> {
    /// Mount source shown in mountinfo (`berth-<id>`).
    pub name: &'a str,
    /// Lower layers, top first.
    pub lowers: &'a [PathBuf],
    pub upper: &'a Path,
    pub work: &'a Path,
    /// Show the lower layers through idmapped mounts with this shift (see `idshift`),
    /// attached for the time of the mount below this directory.
    pub idmap: Option<(&'a IdShift, &'a Path)>,
}

/// Mount `overlay` on `target`.
pub fn overlay(overlay: &Overlay<'_>, target: &Path) -> Result<(), Error> {
    let err = |source| Error::Mount {
        fstype: "overlay",
        what: overlay.name.to_owned(),
        target: target.to_owned(),
        source,
    };
    let fs = fsopen("overlay", FsOpenFlags::FSOPEN_CLOEXEC).map_err(|e| err(e.into()))?;
    let config = |key: &str, value: &Path| {
        fsconfig_set_string(&fs, key, value).map_err(|e| err(with_log(&fs, e.into())))
    };
    fsconfig_set_string(&fs, "source", overlay.name).map_err(|e| err(with_log(&fs, e.into())))?;
    if let Some((shift, helpers)) = overlay.idmap {
        let attached = Helpers::new(helpers)?;
        idmapped_lowers(&fs, overlay.lowers, shift, &attached)?;
        config("upperdir", overlay.upper)?;
        config("workdir", overlay.work)?;
        let made = create_and_attach(&fs, target).map_err(err);
        // Overlay holds private clones of its layers: the helpers can go.
        return made.and(attached.remove());
    }
    for lower in overlay.lowers {
        match fsconfig_set_string(&fs, "lowerdir+", lower) {
            Ok(()) => {}
            // Kernels before 6.8 do not know `lowerdir+`.
            Err(rustix::io::Errno::INVAL) => return legacy_overlay(overlay, target).map_err(err),
            Err(e) => return Err(err(with_log(&fs, e.into()))),
        }
    }
    config("upperdir", overlay.upper)?;
    config("workdir", overlay.work)?;
    create_and_attach(&fs, target).map_err(err)
}

/// The directory where idmapped clones of the lower layers are attached while the overlay
/// is made (`<helpers>/<n>`), emptied again on drop: detached, directories removed. A
/// crash in between leaves mounts below the container's directory, which `unmount_all`
/// (teardown, repair, and the next `mount`) removes.
pub struct Helpers<'a> {
    dir: &'a Path,
}

impl<'a> Helpers<'a> {
    /// Clear leftovers of an earlier (crashed) mount and make `dir`.
    fn new(dir: &'a Path) -> Result<Self, Error> {
        let helpers = Self { dir };
        helpers.clear()?;
        std::fs::create_dir(dir).map_err(|source| Error::CreateDir {
            path: dir.to_owned(),
            source,
        })?;
        Ok(helpers)
    }

    fn slot(&self, n: usize) -> Result<PathBuf, Error> {
        let path = self.dir.join(n.to_string());
        std::fs::create_dir(&path).map_err(|source| Error::CreateDir {
            path: path.clone(),
            source,
        })?;
        Ok(path)
    }

    fn clear(&self) -> Result<(), Error> {
        if !self.dir.exists() {
            return Ok(());
        }
        for path in crate::mountinfo::under(&crate::mountinfo::read()?, self.dir) {
            detach_path(&path)?;
        }
        match std::fs::remove_dir_all(self.dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(Error::Remove {
                path: self.dir.to_owned(),
                source,
            }),
        }
    }

    fn remove(self) -> Result<(), Error> {
        let result = self.clear();
        std::mem::forget(self);
        result
    }
}

impl Drop for Helpers<'_> {
    fn drop(&mut self) {
        let _ = self.clear();
    }
}

/// Give overlay context `fs` each of `lowers` as an idmapped, non-recursive clone
/// (`open_tree` + `mount_setattr(MOUNT_ATTR_IDMAP)`), attached below `helpers` (overlay
/// refuses detached mounts as layers here: "failed to clone lowerpath") and passed by
/// descriptor (`lowerdir+` with `FSCONFIG_SET_FD`, Linux 6.13+; no path escaping).
/// Non-recursive: mounts on top of a lower (the host's `/proc`, `/sys`, the store's loop
/// mounts) stay out, as with a path.
fn idmapped_lowers(
    fs: &OwnedFd,
    lowers: &[PathBuf],
    shift: &IdShift,
    helpers: &Helpers<'_>,
) -> Result<(), Error> {
    use berth_sys::mount as sm;
    let maps = |start| {
        [sm::IdMap {
            inside: 0,
            outside: start,
            count: shift.count,
        }]
    };
    let userns = sm::userns_with_maps(&maps(shift.uid), &maps(shift.gid))
        .map_err(|source| Error::IdmapUserns { source })?;
    // Private: a clone of a shared mount (the host's /) would otherwise be a peer of it and
    // receive a copy of every mount made below / meanwhile (other containers' file
    // systems), keeping them alive after their owners unmount them.
    let idmap = sm::MountAttr {
        set: sm::attr::IDMAP,
        clear: 0,
        propagation: sm::propagation::PRIVATE,
    };
    for (n, lower) in lowers.iter().enumerate() {
        let err = |step: &'static str, source: io::Error| Error::IdmapLower {
            step,
            path: lower.clone(),
            source,
        };
        let dir = rustix::fs::open(
            lower,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| err("open", e.into()))?;
        let mnt = sm::clone_tree(dir.as_fd(), Path::new(""), false)
            .map_err(|e| err("clone (open_tree)", e))?;
        sm::set_attr(mnt.as_fd(), &idmap, false, Some(userns.as_fd()))
            .map_err(|e| err("idmap (mount_setattr)", e))?;
        let slot = helpers.slot(n)?;
        let at = rustix::fs::open(
            &slot,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| err("open helper", e.into()))?;
        sm::attach(mnt.as_fd(), at.as_fd()).map_err(|e| err("attach (move_mount)", e))?;
        fsconfig_set_fd(fs, "lowerdir+", &mnt).map_err(|e| {
            err(
                "pass to overlay (lowerdir+ by fd, Linux 6.13+)",
                with_log(fs, e.into()),
            )
        })?;
    }
    Ok(())
}

/// Mount the ext4 file system on `device` at `target`, with online discard.
pub fn ext4(device: &Path, target: &Path) -> Result<(), Error> {
    let err = |source| Error::Mount {
        fstype: "ext4",
        what: device.display().to_string(),
        target: target.to_owned(),
        source,
    };
    let fs = fsopen("ext4", FsOpenFlags::FSOPEN_CLOEXEC).map_err(|e| err(e.into()))?;
    fsconfig_set_string(&fs, "source", device).map_err(|e| err(with_log(&fs, e.into())))?;
    // Blocks the container frees go back to the host: the loop device punches holes.
    fsconfig_set_flag(&fs, "discard").map_err(|e| err(with_log(&fs, e.into())))?;
    create_and_attach(&fs, target).map_err(err)
}

/// Unmount `path`; a path that is not mounted is not an error.
///
/// EBUSY is retried for a while: in a multi-threaded process, a child forked by another
/// thread holds copies of our (close-on-exec) descriptors until it calls exec, which can
/// keep a just-closed file on the mount open for a moment (containerd retries too).
pub fn unmount_path(path: &Path) -> Result<(), Error> {
    let mut attempts = 0;
    loop {
        attempts += 1;
        match unmount(path, UnmountFlags::NOFOLLOW) {
            Ok(()) | Err(rustix::io::Errno::INVAL) | Err(rustix::io::Errno::NOENT) => return Ok(()),
            Err(rustix::io::Errno::BUSY) if attempts < UNMOUNT_ATTEMPTS => {
                std::thread::sleep(UNMOUNT_RETRY_DELAY);
            }
            Err(e) => {
                return Err(Error::Unmount {
                    path: path.to_owned(),
                    source: e.into(),
                })
            }
        }
    }
}

const UNMOUNT_ATTEMPTS: u32 = 50;
const UNMOUNT_RETRY_DELAY: std::time::Duration = std::time::Duration::from_millis(10);

/// Detach `path` from the tree even if busy (used by `repair` only).
pub fn detach_path(path: &Path) -> Result<(), Error> {
    match unmount(path, UnmountFlags::NOFOLLOW | UnmountFlags::DETACH) {
        Ok(()) | Err(rustix::io::Errno::INVAL) | Err(rustix::io::Errno::NOENT) => Ok(()),
        Err(e) => Err(Error::Unmount {
            path: path.to_owned(),
            source: e.into(),
        }),
    }
}

fn create_and_attach(fs: &OwnedFd, target: &Path) -> io::Result<()> {
    fsconfig_create(fs).map_err(|e| with_log(fs, e.into()))?;
    let mnt = fsmount(fs, FsMountFlags::FSMOUNT_CLOEXEC, MountAttrFlags::empty())
        .map_err(|e| with_log(fs, e.into()))?;
    move_mount(
        mnt.as_fd(),
        "",
        CWD,
        target,
        MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH,
    )?;
    Ok(())
}

fn legacy_overlay(overlay: &Overlay<'_>, target: &Path) -> io::Result<()> {
    let lowers: Vec<String> = overlay.lowers.iter().map(|p| escape(p)).collect();
    let data = format!(
        "lowerdir={},upperdir={},workdir={}",
        lowers.join(":"),
        escape(overlay.upper),
        escape(overlay.work)
    );
    let data = std::ffi::CString::new(data)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL byte in a layer path"))?;
    mount(
        overlay.name,
        target,
        "overlay",
        MountFlags::empty(),
        Some(data.as_c_str()),
    )?;
    Ok(())
}

/// Overlay's option parser splits on ',' and ':' unless they are escaped with '\'.
fn escape(path: &Path) -> String {
    let mut out = String::new();
    for c in path.to_string_lossy().chars() {
        if matches!(c, ',' | ':' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Messages the file system left in the context's log (e.g. "overlayfs: failed to ...").
fn read_log(fs: &OwnedFd) -> Vec<String> {
    let mut messages = Vec::new();
    let mut buf = [0u8; 512];
    while let Ok(n) = rustix::io::read(fs, &mut buf) {
        if n == 0 {
            break;
        }
        messages.push(String::from_utf8_lossy(&buf[..n]).trim().to_owned());
    }
    messages
}

fn with_log(fs: &OwnedFd, error: io::Error) -> io::Error {
    let log = read_log(fs);
    if log.is_empty() {
        return error;
    }
    io::Error::new(error.kind(), format!("{error} ({})", log.join("; ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Unmounts and deletes a scratch directory, also when the test fails.
    struct Scratch(PathBuf);

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = detach_path(&self.0.join("merged"));
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// The `mount(2)` fallback for kernels without `lowerdir+` (not taken on this kernel by
    /// `overlay`, so exercised directly), with a layer path that needs escaping.
    #[test]
    fn legacy_overlay_mounts_escaped_paths() {
        let dir = std::env::temp_dir().join(format!("berth-test-legacy-{}", std::process::id()));
        let scratch = Scratch(dir.clone());
        let lower = dir.join("low,er:1");
        for d in [
            &lower,
            &dir.join("upper"),
            &dir.join("work"),
            &dir.join("merged"),
        ] {
            std::fs::create_dir_all(d).unwrap();
        }
        std::fs::write(lower.join("f"), b"lower").unwrap();
        let lowers = [lower];
        let overlay = Overlay {
            name: "berth-test-legacy",
            lowers: &lowers,
            upper: &dir.join("upper"),
            work: &dir.join("work"),
            idmap: None,
        };
        legacy_overlay(&overlay, &dir.join("merged")).unwrap();
        assert_eq!(std::fs::read(dir.join("merged/f")).unwrap(), b"lower");
        std::fs::write(dir.join("merged/g"), b"upper").unwrap();
        assert!(dir.join("upper/g").exists());
        unmount_path(&dir.join("merged")).unwrap();
        assert!(!dir.join("merged/f").exists());
        drop(scratch);
    }

    #[test]
    fn escapes_option_separators() {
        assert_eq!(escape(Path::new("/a,b:c\\d")), "/a\\,b\\:c\\\\d");
    }
}
