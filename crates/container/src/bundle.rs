//! An OCI bundle: `config.json` and the root file system it names, loaded and checked
//! before anything is created, so a bad bundle fails with nothing to clean up.

use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxNamespaceType, Spec};

use crate::error::{Error, Result};

pub struct Bundle {
    /// Absolute path of the bundle directory.
    pub dir: PathBuf,
    pub spec: Spec,
    /// Absolute, canonical path of the root file system.
    pub rootfs: PathBuf,
}

impl Bundle {
    pub fn load(dir: &Path) -> Result<Self> {
        let dir = std::path::absolute(dir).map_err(|source| Error::ConfigRead {
            path: dir.to_path_buf(),
            source,
        })?;
        let path = dir.join("config.json");
        let data = std::fs::read(&path).map_err(|source| Error::ConfigRead {
            path: path.clone(),
            source,
        })?;
        let spec: Spec =
            serde_json::from_slice(&data).map_err(|source| Error::ConfigParse { path, source })?;
        let root = spec
            .root()
            .as_ref()
            .ok_or_else(|| Error::ConfigInvalid("root is missing".into()))?;
        let rootfs = dir.join(root.path());
        let rootfs = rootfs.canonicalize().map_err(|source| Error::Rootfs {
            path: rootfs.clone(),
            source,
        })?;
        if !rootfs.is_dir() {
            return Err(Error::Rootfs {
                path: rootfs,
                source: std::io::Error::from_raw_os_error(libc::ENOTDIR),
            });
        }
        validate(&spec)?;
        Ok(Bundle { dir, spec, rootfs })
    }
}

/// Checks that need no kernel: the shape of the config.
pub fn validate(spec: &Spec) -> Result<()> {
    let invalid = |m: String| Err(Error::ConfigInvalid(m));
    let process = spec.process().as_ref();
    if let Some(p) = process {
        match p.args() {
            Some(args) if !args.is_empty() => {}
            _ => return invalid("process.args must not be empty".into()),
        }
        if !p.cwd().is_absolute() {
            return invalid(format!("process.cwd {:?} is not an absolute path", p.cwd()));
        }
        for e in p.env().iter().flatten() {
            if !e.contains('=') || e.starts_with('=') {
                return invalid(format!("process.env entry {e:?} is not KEY=value"));
            }
            if e.contains('\0') {
                return invalid(format!("process.env entry {e:?} contains a NUL byte"));
            }
        }
    }
    let Some(linux) = spec.linux() else {
        return invalid("linux section is missing".into());
    };
    let mut seen = Vec::new();
    for ns in linux.namespaces().iter().flatten() {
        if seen.contains(&ns.typ()) {
            return invalid(format!("namespace {} is listed twice", ns.typ()));
        }
        seen.push(ns.typ());
        if let Some(p) = ns.path() {
            if !p.is_absolute() {
                return invalid(format!("namespace {} path {p:?} is not absolute", ns.typ()));
            }
        }
    }
    let has_userns = seen.contains(&LinuxNamespaceType::User);
    let maps = linux.uid_mappings().as_ref().is_some_and(|m| !m.is_empty())
        || linux.gid_mappings().as_ref().is_some_and(|m| !m.is_empty());
    if maps && !has_userns {
        return invalid("uidMappings/gidMappings are set but there is no user namespace".into());
    }
    if linux.sysctl().as_ref().is_some_and(|s| !s.is_empty()) {
        for key in linux.sysctl().iter().flat_map(|s| s.keys()) {
            if key.contains('/') && key.contains("..") || key.contains('\0') {
                return invalid(format!("sysctl {key:?} is not a valid name"));
            }
        }
    }
    if spec.hostname().as_ref().is_some_and(|h| !h.is_empty())
        && !seen.contains(&LinuxNamespaceType::Uts)
    {
        return invalid("hostname is set but there is no new uts namespace".into());
    }
    for m in spec.mounts().iter().flatten() {
        let d = m.destination();
        if !d.is_absolute() {
            return invalid(format!("mount destination {d:?} is not absolute"));
        }
    }
    Ok(())
}
