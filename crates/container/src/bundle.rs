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
    /// config.json as read (kept in the state directory without re-serialising it).
    pub raw: Vec<u8>,
}

impl Bundle {
    pub fn load(dir: &Path) -> Result<Self> {
        let dir = std::path::absolute(dir).map_err(|source| Error::ConfigRead {
            path: dir.to_path_buf(),
            source,
        })?;
        let path = dir.join("config.json");
        let data = read_limited(&path)?;
        // Every string of the config ends up as a C string (path, argument, option): a NUL
        // would silently cut it, so it is refused wherever it is. JSON can only carry one as
        // the escape `\u0000` (a raw control byte is a parse error), so the common case is a
        // byte scan, and only a config that has one is walked to name where it is.
        if data.windows(6).any(|w| w.eq_ignore_ascii_case(b"\\u0000")) {
            let value: serde_json::Value =
                serde_json::from_slice(&data).map_err(|source| Error::ConfigParse {
                    path: path.clone(),
                    source,
                })?;
            if let Some(at) = find_nul(&value, &mut String::new()) {
                return Err(Error::ConfigInvalid(format!("{at} contains a NUL byte")));
            }
        }
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
        Ok(Bundle {
            dir,
            spec,
            rootfs,
            raw: data,
        })
    }
}

/// Largest config.json accepted: far above any real one (thousands of mounts and
/// environment entries), low enough that a hostile bundle cannot make the runtime allocate
/// without bound.
pub const MAX_CONFIG_BYTES: u64 = 16 << 20;
/// Most mounts accepted: each one is several system calls on the start path, and the
/// kernel caps a mount namespace at fs.mount-max (100000) anyway.
pub const MAX_MOUNTS: usize = 4096;
/// The kernel's limits on what execve accepts: one string (MAX_ARG_STRLEN) and all of
/// argv + envp together (3/4 of the 8 MiB _STK_LIM: the most any stack rlimit allows).
const MAX_ARG_STRLEN: usize = 32 * 4096;
const MAX_EXEC_TOTAL: usize = 6 << 20;
/// PATH_MAX and NAME_MAX.
const PATH_MAX: usize = 4096;
const NAME_MAX: usize = 255;

fn read_limited(path: &Path) -> Result<Vec<u8>> {
    use std::io::Read;
    let io = |source| Error::ConfigRead {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let mut data = Vec::new();
    file.take(MAX_CONFIG_BYTES + 1)
        .read_to_end(&mut data)
        .map_err(io)?;
    if data.len() as u64 > MAX_CONFIG_BYTES {
        return Err(Error::ConfigInvalid(format!(
            "{} is larger than {} MiB",
            path.display(),
            MAX_CONFIG_BYTES >> 20
        )));
    }
    Ok(data)
}

/// The JSON path (`process.args[1]`) of the first string or key holding a NUL.
fn find_nul(v: &serde_json::Value, at: &mut String) -> Option<String> {
    use serde_json::Value;
    match v {
        Value::String(s) if s.contains('\0') => Some(at.clone()),
        Value::Array(items) => items.iter().enumerate().find_map(|(i, x)| {
            let len = at.len();
            at.push_str(&format!("[{i}]"));
            let r = find_nul(x, at);
            at.truncate(len);
            r
        }),
        Value::Object(map) => map.iter().find_map(|(k, x)| {
            let len = at.len();
            if !at.is_empty() {
                at.push('.');
            }
            at.push_str(&k.replace('\0', "\\0"));
            let r = if k.contains('\0') {
                Some(at.clone())
            } else {
                find_nul(x, at)
            };
            at.truncate(len);
            r
        }),
        _ => None,
    }
}

/// A path inside the container: at most PATH_MAX bytes, components at most NAME_MAX.
fn check_path(what: &str, p: &Path) -> Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let shown = || {
        let s = p.to_string_lossy();
        if s.len() > 80 {
            format!("{}...", &s[..s.floor_char_boundary(80)])
        } else {
            s.into_owned()
        }
    };
    if p.as_os_str().len() >= PATH_MAX {
        return Err(Error::ConfigInvalid(format!(
            "{what} {:?} is longer than {} bytes",
            shown(),
            PATH_MAX - 1
        )));
    }
    if p.iter().any(|c| c.as_bytes().len() > NAME_MAX) {
        return Err(Error::ConfigInvalid(format!(
            "{what} {:?} has a component longer than {NAME_MAX} bytes",
            shown()
        )));
    }
    Ok(())
}

/// argv and envp within what execve accepts.
fn check_exec_size(args: &[String], env: &[String]) -> Result<()> {
    let mut total = 0;
    for (what, list) in [("process.args", args), ("process.env", env)] {
        for (i, s) in list.iter().enumerate() {
            if s.len() + 1 > MAX_ARG_STRLEN {
                return Err(Error::ConfigInvalid(format!(
                    "{what}[{i}] is {} bytes, more than execve's {MAX_ARG_STRLEN}",
                    s.len()
                )));
            }
            total += s.len() + 1 + std::mem::size_of::<usize>();
        }
    }
    if total > MAX_EXEC_TOTAL {
        return Err(Error::ConfigInvalid(format!(
            "process.args and process.env together are {total} bytes, more than execve's {MAX_EXEC_TOTAL}"
        )));
    }
    Ok(())
}

/// Container-side ids of the process must be mapped, or setuid/setgid fails deep inside
/// the init.
fn check_ids_mapped(spec: &Spec) -> Result<()> {
    let (Some(p), Some(l)) = (spec.process(), spec.linux()) else {
        return Ok(());
    };
    let in_map = |maps: &Option<Vec<oci_spec::runtime::LinuxIdMapping>>, id: u32| {
        maps.iter()
            .flatten()
            .any(|m| id >= m.container_id() && (id - m.container_id()) < m.size())
    };
    let show = |maps: &Option<Vec<oci_spec::runtime::LinuxIdMapping>>| {
        maps.iter()
            .flatten()
            .map(|m| {
                format!(
                    "{}-{}",
                    m.container_id(),
                    m.container_id() as u64 + m.size() as u64 - 1
                )
            })
            .collect::<Vec<_>>()
            .join(",")
    };
    let u = p.user();
    let (um, gm) = (l.uid_mappings(), l.gid_mappings());
    if um.as_ref().is_some_and(|m| !m.is_empty()) && !in_map(um, u.uid()) {
        return Err(Error::ConfigInvalid(format!(
            "process.user uid {} is outside the uid mapping ({})",
            u.uid(),
            show(um)
        )));
    }
    if gm.as_ref().is_some_and(|m| !m.is_empty()) {
        for g in std::iter::once(u.gid()).chain(u.additional_gids().iter().flatten().copied()) {
            if !in_map(gm, g) {
                return Err(Error::ConfigInvalid(format!(
                    "process.user gid {g} is outside the gid mapping ({})",
                    show(gm)
                )));
            }
        }
    }
    Ok(())
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
        check_path("process.cwd", p.cwd())?;
        check_exec_size(
            p.args().as_deref().unwrap_or_default(),
            p.env().as_deref().unwrap_or_default(),
        )?;
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
    let mounts = spec.mounts().as_deref().unwrap_or_default();
    if mounts.len() > MAX_MOUNTS {
        return invalid(format!(
            "{} mounts are more than the {MAX_MOUNTS} allowed",
            mounts.len()
        ));
    }
    for m in mounts {
        let d = m.destination();
        if !d.is_absolute() {
            return invalid(format!("mount destination {d:?} is not absolute"));
        }
        check_path("mount destination", d)?;
    }
    check_ids_mapped(spec)?;
    Ok(())
}
