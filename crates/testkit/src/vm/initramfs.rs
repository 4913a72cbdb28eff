//! An initramfs (cpio "newc") writer over the `cpio` crate: directories are created before
//! their entries, and the first entry for a path wins.

use std::collections::BTreeSet;
use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use cpio::newc::{Builder, ModeFileType};

use super::VmError;

pub(crate) struct Initramfs<W: Write> {
    out: Option<W>,
    next_ino: u32,
    names: BTreeSet<String>,
}

/// `/usr/bin/x` -> `usr/bin/x`, the form cpio archives use.
fn archive_name(path: &str) -> Result<String, VmError> {
    let name = path
        .strip_prefix('/')
        .ok_or_else(|| VmError::RelativeGuestPath(path.to_string()))?;
    Ok(name.trim_end_matches('/').to_string())
}

fn entry_err(entry: &str) -> impl FnOnce(io::Error) -> VmError + '_ {
    move |source| VmError::Initramfs {
        entry: entry.to_string(),
        source,
    }
}

impl<W: Write> Initramfs<W> {
    pub(crate) fn new(out: W) -> Self {
        Initramfs {
            out: Some(out),
            next_ino: 1,
            names: BTreeSet::new(),
        }
    }

    /// Write one entry unless the name exists already. `name` is archive-relative.
    fn entry(
        &mut self,
        name: &str,
        kind: ModeFileType,
        perm: u32,
        data: &[u8],
        rdev: (u32, u32),
    ) -> Result<(), VmError> {
        if name.is_empty() || !self.names.insert(name.to_string()) {
            return Ok(());
        }
        let out = self.out.take().ok_or_else(|| VmError::Initramfs {
            entry: name.to_string(),
            source: io::Error::other("archive already finished"),
        })?;
        let size = u32::try_from(data.len()).map_err(|_| VmError::Initramfs {
            entry: name.to_string(),
            source: io::Error::other("larger than 4 GiB"),
        })?;
        let nlink = if matches!(kind, ModeFileType::Directory) {
            2
        } else {
            1
        };
        let mut writer = Builder::new(name)
            .ino(self.next_ino)
            .mode(perm & 0o7777)
            .set_mode_file_type(kind)
            .nlink(nlink)
            .rdev_major(rdev.0)
            .rdev_minor(rdev.1)
            .write(out, size);
        self.next_ino += 1;
        writer.write_all(data).map_err(entry_err(name))?;
        self.out = Some(writer.finish().map_err(entry_err(name))?);
        Ok(())
    }

    fn parents(&mut self, name: &str) -> Result<(), VmError> {
        let mut prefix = String::new();
        let parts: Vec<&str> = name.split('/').collect();
        for part in &parts[..parts.len().saturating_sub(1)] {
            if !prefix.is_empty() {
                prefix.push('/');
            }
            prefix.push_str(part);
            let dir = prefix.clone();
            self.entry(&dir, ModeFileType::Directory, 0o755, &[], (0, 0))?;
        }
        Ok(())
    }

    pub(crate) fn dir(&mut self, path: &str, perm: u32) -> Result<(), VmError> {
        let name = archive_name(path)?;
        self.parents(&name)?;
        self.entry(&name, ModeFileType::Directory, perm, &[], (0, 0))
    }

    pub(crate) fn file(&mut self, path: &str, perm: u32, data: &[u8]) -> Result<(), VmError> {
        let name = archive_name(path)?;
        self.parents(&name)?;
        self.entry(&name, ModeFileType::Regular, perm, data, (0, 0))
    }

    pub(crate) fn symlink(&mut self, path: &str, target: &str) -> Result<(), VmError> {
        let name = archive_name(path)?;
        self.parents(&name)?;
        self.entry(
            &name,
            ModeFileType::Symlink,
            0o777,
            target.as_bytes(),
            (0, 0),
        )
    }

    pub(crate) fn char_device(
        &mut self,
        path: &str,
        perm: u32,
        major: u32,
        minor: u32,
    ) -> Result<(), VmError> {
        let name = archive_name(path)?;
        self.parents(&name)?;
        self.entry(&name, ModeFileType::Char, perm, &[], (major, minor))
    }

    /// The content of host file `host` (symlinks followed) at `path`, with its permissions.
    pub(crate) fn host_file(&mut self, path: &str, host: &Path) -> Result<(), VmError> {
        let read_err = |source| VmError::Read {
            path: host.to_path_buf(),
            source,
        };
        let perm = fs::metadata(host).map_err(read_err)?.permissions().mode();
        let data = fs::read(host).map_err(|source| VmError::Read {
            path: host.to_path_buf(),
            source,
        })?;
        self.file(path, perm, &data)
    }

    /// The host directory `host` and everything below it at `path`; symlinks stay symlinks.
    pub(crate) fn host_tree(&mut self, path: &str, host: &Path) -> Result<(), VmError> {
        let read_err = |source| VmError::Read {
            path: host.to_path_buf(),
            source,
        };
        let meta = fs::symlink_metadata(host).map_err(read_err)?;
        let kind = meta.file_type();
        if kind.is_symlink() {
            let target = fs::read_link(host).map_err(|source| VmError::Read {
                path: host.to_path_buf(),
                source,
            })?;
            return self.symlink(path, &target.to_string_lossy());
        }
        if !kind.is_dir() {
            return self.host_file(path, host);
        }
        self.dir(path, meta.permissions().mode())?;
        let mut children: Vec<_> = fs::read_dir(host)
            .map_err(|source| VmError::Read {
                path: host.to_path_buf(),
                source,
            })?
            .flatten()
            .collect();
        children.sort_by_key(|c| c.file_name());
        for child in children {
            let child_path = format!(
                "{}/{}",
                path.trim_end_matches('/'),
                child.file_name().to_string_lossy()
            );
            self.host_tree(&child_path, &child.path())?;
        }
        Ok(())
    }

    pub(crate) fn finish(mut self) -> Result<W, VmError> {
        let out = self.out.take().ok_or_else(|| VmError::Initramfs {
            entry: "TRAILER!!!".into(),
            source: io::Error::other("archive already finished"),
        })?;
        cpio::newc::trailer(out).map_err(entry_err("TRAILER!!!"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cpio::newc::Reader;

    #[test]
    fn writes_parents_first_and_keeps_first_entry() {
        let mut archive = Initramfs::new(Vec::new());
        archive.file("/usr/bin/tool", 0o755, b"one").unwrap();
        archive.file("/usr/bin/tool", 0o755, b"two").unwrap();
        archive.symlink("/bin/sh", "busybox").unwrap();
        assert!(archive.file("relative", 0o644, b"").is_err());
        let bytes = archive.finish().unwrap();

        let mut names = Vec::new();
        let mut rest: &[u8] = &bytes;
        loop {
            let reader = Reader::new(rest).unwrap();
            if reader.entry().is_trailer() {
                break;
            }
            names.push((
                reader.entry().name().to_string(),
                reader.entry().file_size(),
            ));
            rest = reader.finish().unwrap();
        }
        assert_eq!(
            names,
            [
                ("usr".to_string(), 0),
                ("usr/bin".to_string(), 0),
                ("usr/bin/tool".to_string(), 3),
                ("bin".to_string(), 0),
                ("bin/sh".to_string(), 7),
            ]
        );
    }
}
