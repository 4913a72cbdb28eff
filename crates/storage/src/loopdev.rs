//! Loop devices through `/dev/loop-control` and the loop ioctls.
//!
//! Written here rather than taken from a crate: `loopdev` is unmaintained and its fork needs
//! bindgen/libclang at build time, while the three ioctls we need (GET_FREE, CONFIGURE,
//! SET_CAPACITY, plus CLR_FD for repair) are a few lines each with the kernel's own structs
//! from `linux-raw-sys`. Attaching is one `LOOP_CONFIGURE` (no SET_FD/SET_STATUS window).

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use linux_raw_sys::loop_device::{
    loop_config, LOOP_CLR_FD, LOOP_CONFIGURE, LOOP_CTL_GET_FREE, LOOP_SET_CAPACITY,
    LO_FLAGS_AUTOCLEAR, LO_FLAGS_DIRECT_IO,
};

use crate::error::Error;

const LOOP_CONTROL: &str = "/dev/loop-control";
const SYS_BLOCK: &str = "/sys/block";

/// An attached loop device. With `LO_FLAGS_AUTOCLEAR` the kernel detaches it when the last
/// user goes away: dropping this handle before anything mounted it detaches it again.
#[derive(Debug)]
pub struct LoopDevice {
    file: File,
    path: PathBuf,
}

impl LoopDevice {
    /// Attach `image` to a free loop device, auto-clearing, with direct I/O when the backing
    /// file system supports it (no second copy of the data in the page cache).
    pub fn attach(image: &Path) -> Result<Self, Error> {
        let control = OpenOptions::new()
            .read(true)
            .write(true)
            .open(LOOP_CONTROL)
            .map_err(Error::LoopControl)?;
        let backing = OpenOptions::new()
            .read(true)
            .write(true)
            .open(image)
            .map_err(|source| Error::OpenImage {
                path: image.to_owned(),
                source,
            })?;
        // Another process may take the device GET_FREE returned before we configure it.
        let mut attempts = 0;
        loop {
            attempts += 1;
            let number = get_free(&control).map_err(Error::LoopGetFree)?;
            let path = PathBuf::from(format!("/dev/loop{number}"));
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .open(&path)
                .map_err(|source| Error::LoopOpen {
                    path: path.clone(),
                    source,
                })?;
            let configured = match configure(&file, &backing, image, true) {
                // Backing file systems without O_DIRECT (tmpfs) may refuse direct I/O.
                Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
                    configure(&file, &backing, image, false)
                }
                other => other,
            };
            match configured {
                Ok(()) => return Ok(Self { file, path }),
                Err(e) if e.raw_os_error() == Some(libc::EBUSY) && attempts < 32 => continue,
                Err(source) => {
                    return Err(Error::LoopAttach {
                        image: image.to_owned(),
                        device: path,
                        source,
                    })
                }
            }
        }
    }

    /// Open an already attached device (to resize it).
    pub fn open(path: &Path) -> Result<Self, Error> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map_err(|source| Error::LoopOpen {
                path: path.to_owned(),
                source,
            })?;
        Ok(Self {
            file,
            path: path.to_owned(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Re-read the size of the backing file after it was extended.
    pub fn set_capacity(&self) -> Result<(), Error> {
        // SAFETY: LOOP_SET_CAPACITY takes no argument; the fd is a valid open loop device.
        let rc = unsafe { libc::ioctl(self.file.as_raw_fd(), LOOP_SET_CAPACITY as _, 0) };
        if rc < 0 {
            return Err(Error::LoopCapacity {
                device: self.path.clone(),
                source: io::Error::last_os_error(),
            });
        }
        Ok(())
    }
}

/// Detach `device` (or, if it is still in use, make it detach when its last user goes).
pub fn detach(device: &Path) -> Result<(), Error> {
    let dev = LoopDevice::open(device)?;
    // SAFETY: LOOP_CLR_FD takes no argument; the fd is a valid open loop device.
    let rc = unsafe { libc::ioctl(dev.file.as_raw_fd(), LOOP_CLR_FD as _, 0) };
    if rc < 0 {
        let source = io::Error::last_os_error();
        // ENXIO: not attached (any more).
        if source.raw_os_error() != Some(libc::ENXIO) {
            return Err(Error::LoopDetach {
                device: device.to_owned(),
                source,
            });
        }
    }
    Ok(())
}

/// Attached loop devices and their backing files, from sysfs.
pub fn attached() -> Result<Vec<(PathBuf, PathBuf)>, Error> {
    let err = |source| Error::LoopList {
        path: PathBuf::from(SYS_BLOCK),
        source,
    };
    let mut found = Vec::new();
    for entry in std::fs::read_dir(SYS_BLOCK).map_err(err)? {
        let name = entry.map_err(err)?.file_name();
        let name = name.to_string_lossy();
        if !name.starts_with("loop") {
            continue;
        }
        let backing = Path::new(SYS_BLOCK).join(&*name).join("loop/backing_file");
        // Detached devices have no `loop/` directory; races with detaching are fine.
        if let Ok(text) = std::fs::read_to_string(&backing) {
            let file = text.trim_end_matches('\n');
            // The kernel appends " (deleted)" when the backing file was unlinked.
            let file = file.strip_suffix(" (deleted)").unwrap_or(file);
            found.push((PathBuf::from(format!("/dev/{name}")), PathBuf::from(file)));
        }
    }
    Ok(found)
}

/// Loop devices whose backing file is `image`.
pub fn find(image: &Path) -> Result<Vec<PathBuf>, Error> {
    Ok(attached()?
        .into_iter()
        .filter(|(_, file)| file == image)
        .map(|(dev, _)| dev)
        .collect())
}

/// Whether loop devices can be used here.
pub fn probe() -> Result<(), String> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .open(LOOP_CONTROL)
        .map(drop)
        .map_err(|e| format!("{LOOP_CONTROL}: {e}"))
}

fn get_free(control: &File) -> io::Result<u32> {
    // SAFETY: LOOP_CTL_GET_FREE takes no argument and returns a device number or -1.
    let rc = unsafe { libc::ioctl(control.as_raw_fd(), LOOP_CTL_GET_FREE as _) };
    u32::try_from(rc).map_err(|_| io::Error::last_os_error())
}

fn configure(device: &File, backing: &File, image: &Path, direct_io: bool) -> io::Result<()> {
    let fd = u32::try_from(backing.as_raw_fd())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "negative fd"))?;
    // SAFETY: loop_config is a plain C struct of integers and byte arrays: all-zero is valid.
    let mut config: loop_config = unsafe { std::mem::zeroed() };
    config.fd = fd;
    config.info.lo_flags = LO_FLAGS_AUTOCLEAR as u32;
    if direct_io {
        config.info.lo_flags |= LO_FLAGS_DIRECT_IO as u32;
    }
    // The name `losetup` shows when sysfs is unavailable: the image path, truncated.
    let name = image.as_os_str().as_encoded_bytes();
    let len = name.len().min(config.info.lo_file_name.len() - 1);
    config.info.lo_file_name[..len].copy_from_slice(&name[..len]);
    // SAFETY: LOOP_CONFIGURE reads one `struct loop_config`, which `config` is and which
    // outlives the call.
    let rc = unsafe { libc::ioctl(device.as_raw_fd(), LOOP_CONFIGURE as _, &config) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
