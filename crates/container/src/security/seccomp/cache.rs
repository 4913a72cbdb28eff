//! A disk cache of compiled seccomp programs, so the start path skips libseccomp: a
//! Docker-sized profile for three architectures takes ~12 ms to compile (release build,
//! this machine), while reading a cached program takes microseconds. crun keeps a
//! similar cache.
//!
//! An entry holds the profile it was compiled from, byte for byte, and is used only when
//! that matches exactly (the file name is just a fast, non-cryptographic index, so a
//! crafted profile that collides with another tenant's only causes a recompile). The
//! libseccomp version is part of the entry too. The directory must belong to the caller
//! and not be writable by group or others, since a program from it is loaded into
//! containers unchecked.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use berth_sys::process as sys;
use oci_spec::runtime::LinuxSeccomp;

use super::{compile_seccomp, CompiledSeccomp, Error};

const MAGIC: &[u8; 8] = b"BERTHSC1";

/// 64-bit FNV-1a: only names the file, see the module documentation.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

fn libseccomp_version() -> [u32; 3] {
    libseccomp::ScmpVersion::current()
        .map(|v| [v.major, v.minor, v.micro])
        .unwrap_or([0; 3])
}

fn encode(profile: &[u8], c: &CompiledSeccomp) -> Vec<u8> {
    let mut out = Vec::with_capacity(41 + profile.len() + c.program.len() * 8);
    out.extend_from_slice(MAGIC);
    for v in libseccomp_version() {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out.extend_from_slice(&c.flags.to_le_bytes());
    out.push(u8::from(c.notify));
    out.extend_from_slice(&(profile.len() as u64).to_le_bytes());
    out.extend_from_slice(profile);
    for i in &c.program {
        out.extend_from_slice(&i.code.to_ne_bytes());
        out.push(i.jt);
        out.push(i.jf);
        out.extend_from_slice(&i.k.to_ne_bytes());
    }
    out
}

fn take<'a>(buf: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
    if buf.len() < n {
        return None;
    }
    let (head, rest) = buf.split_at(n);
    *buf = rest;
    Some(head)
}

fn take_u64(buf: &mut &[u8]) -> Option<u64> {
    Some(u64::from_le_bytes(take(buf, 8)?.try_into().ok()?))
}

/// The entry in `bytes` if it was compiled from exactly `profile` by this libseccomp.
fn decode(mut bytes: &[u8], profile: &[u8]) -> Option<CompiledSeccomp> {
    let buf = &mut bytes;
    if take(buf, 8)? != MAGIC {
        return None;
    }
    for v in libseccomp_version() {
        if take(buf, 4)? != v.to_le_bytes() {
            return None;
        }
    }
    let flags = take_u64(buf)?;
    let notify = take(buf, 1)?[0] != 0;
    let len = usize::try_from(take_u64(buf)?).ok()?;
    if take(buf, len)? != profile {
        return None;
    }
    let program = sys::bpf_from_bytes(buf)?;
    if program.is_empty() {
        return None;
    }
    Some(CompiledSeccomp {
        program,
        flags,
        notify,
    })
}

/// Create `dir` (mode 0700) if needed and check that only its owner, the caller, can
/// write to it.
fn check_dir(dir: &Path) -> Result<(), Error> {
    let bad = |reason: String| Error::CacheDir {
        path: dir.to_path_buf(),
        reason,
    };
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| bad(format!("create: {e}")))?;
    let meta = std::fs::symlink_metadata(dir).map_err(|e| bad(format!("stat: {e}")))?;
    if !meta.is_dir() {
        return Err(bad("not a directory".into()));
    }
    let euid = rustix::process::geteuid().as_raw();
    if meta.uid() != euid {
        return Err(bad(format!("owned by uid {}, not {euid}", meta.uid())));
    }
    if meta.mode() & 0o022 != 0 {
        return Err(bad(format!(
            "mode {:o} lets others write to it",
            meta.mode() & 0o777
        )));
    }
    Ok(())
}

/// The compiled program for `s`: from the cache in `dir` when it holds one compiled from
/// the same profile, else compiled and stored there (atomically: written aside, renamed).
pub fn load_or_compile(dir: &Path, s: &LinuxSeccomp) -> Result<CompiledSeccomp, Error> {
    check_dir(dir)?;
    let profile = cache_key(s)?;
    let path = dir.join(format!("{:016x}.bpf", fnv1a(&profile)));
    match std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&path)
    {
        Ok(mut f) => {
            let mut bytes = Vec::new();
            std::io::Read::read_to_end(&mut f, &mut bytes).map_err(|source| Error::CacheRead {
                path: path.clone(),
                source,
            })?;
            if let Some(c) = decode(&bytes, &profile) {
                return Ok(c);
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(source) => return Err(Error::CacheRead { path, source }),
    }

    let compiled = compile_seccomp(s)?;
    store(dir, &path, &encode(&profile, &compiled))?;
    Ok(compiled)
}

/// What an entry is looked up by and must match exactly: the compiler's identity and the
/// profile, so a program compiled by another build of berth (whose translation may
/// differ) is never reused.
fn cache_key(s: &LinuxSeccomp) -> Result<Vec<u8>, Error> {
    let mut key = compiler_identity();
    serde_json::to_writer(&mut key, s).map_err(Error::CacheKey)?;
    Ok(key)
}

/// The running binary's identity (device, inode, size and modification time of
/// /proc/self/exe) and version, as the first bytes of every cache key.
fn compiler_identity() -> Vec<u8> {
    let mut id = format!("berth {}\n", env!("CARGO_PKG_VERSION")).into_bytes();
    if let Ok(m) = std::fs::metadata("/proc/self/exe") {
        id.extend_from_slice(
            format!(
                "{} {} {} {}.{}\n",
                m.dev(),
                m.ino(),
                m.size(),
                m.mtime(),
                m.mtime_nsec()
            )
            .as_bytes(),
        );
    }
    id
}

/// The compiled program for `s`, through the cache in `dir` when there is one. The cache is
/// only a shortcut: when it cannot be used (a directory owned by someone else, a full
/// disk), the profile is compiled as if there were none.
pub fn prepare(dir: Option<&Path>, s: &LinuxSeccomp) -> Result<CompiledSeccomp, Error> {
    if let Some(dir) = dir {
        match load_or_compile(dir, s) {
            Ok(c) => return Ok(c),
            Err(
                Error::CacheDir { .. }
                | Error::CacheRead { .. }
                | Error::CacheWrite { .. }
                | Error::CacheKey(_),
            ) => {}
            Err(e) => return Err(e),
        }
    }
    compile_seccomp(s)
}

fn store(dir: &Path, path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let tmp: PathBuf = dir.join(format!(
        ".tmp-{}-{:x}",
        std::process::id(),
        fnv1a(
            &std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0)
                .to_le_bytes()
        )
    ));
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_data()?;
        std::fs::rename(&tmp, path)
    };
    write().map_err(|source| {
        let _ = std::fs::remove_file(&tmp);
        Error::CacheWrite {
            path: path.to_path_buf(),
            source,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(errno: u32) -> LinuxSeccomp {
        serde_json::from_value(serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno}]
        }))
        .unwrap()
    }

    struct Dir(PathBuf);
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
    fn dir() -> Dir {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        Dir(std::env::temp_dir().join(format!(
            "berth-test-seccomp-cache-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        )))
    }

    #[test]
    fn round_trips_and_only_for_the_same_profile() {
        let d = dir();
        let a = load_or_compile(&d.0, &profile(1)).unwrap();
        let entries: Vec<_> = std::fs::read_dir(&d.0).unwrap().collect();
        assert_eq!(entries.len(), 1);
        let again = load_or_compile(&d.0, &profile(1)).unwrap();
        assert_eq!(again.program(), a.program());
        assert_eq!(again.flags(), a.flags());

        // A different profile never decodes from another's entry.
        let p1 = serde_json::to_vec(&profile(1)).unwrap();
        let p2 = serde_json::to_vec(&profile(2)).unwrap();
        let bytes = encode(&p1, &a);
        assert!(decode(&bytes, &p1).is_some());
        assert!(decode(&bytes, &p2).is_none());
        assert!(decode(&bytes[..bytes.len() - 3], &p1).is_none());
        let b = load_or_compile(&d.0, &profile(2)).unwrap();
        assert_ne!(b.program(), a.program());
    }

    #[test]
    fn corrupt_entry_is_recompiled_and_replaced() {
        let d = dir();
        let a = load_or_compile(&d.0, &profile(3)).unwrap();
        let entry = std::fs::read_dir(&d.0)
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        std::fs::write(&entry, b"BERTHSC1garbage").unwrap();
        let b = load_or_compile(&d.0, &profile(3)).unwrap();
        assert_eq!(a.program(), b.program());
        let key = cache_key(&profile(3)).unwrap();
        assert!(decode(&std::fs::read(&entry).unwrap(), &key).is_some());
    }

    #[test]
    fn refuses_a_directory_others_can_write() {
        let d = dir();
        std::fs::create_dir(&d.0).unwrap();
        std::fs::set_permissions(&d.0, std::os::unix::fs::PermissionsExt::from_mode(0o777))
            .unwrap();
        let e = load_or_compile(&d.0, &profile(4)).unwrap_err().to_string();
        assert!(
            e.contains("777") && e.contains(&d.0.display().to_string()),
            "{e}"
        );
    }
}
