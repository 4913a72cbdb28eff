//! Path resolution that never leaves a root directory.
//!
//! The content of a container's root file system is attacker-controlled: a tenant can plant
//! symlinks (`/proc -> /`, `dev -> ../../..`) and swap them while we work (CVE-2021-30465).
//! Every lookup here therefore goes through `openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)`
//! from a file descriptor of the root, and missing components are created one by one relative
//! to the descriptor of their parent, never by path string. Callers get `O_PATH` descriptors
//! that they can mount onto (`move_mount` with an empty path), so a later swap of a path
//! component cannot redirect the operation.

use std::ffi::{OsStr, OsString};
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use rustix::fs::{self as rfs, FileType, Mode, OFlags, ResolveFlags};

/// `statfs` magic of procfs.
pub const PROC_SUPER_MAGIC: i64 = 0x9fa0;
/// `statfs` magic of sysfs.
pub const SYSFS_MAGIC: i64 = 0x6265_6572;
/// `statfs` magic of tmpfs.
pub const TMPFS_MAGIC: i64 = 0x0102_1994;

/// How often a lookup is retried when the kernel reports a concurrent rename (`EAGAIN`).
const RENAME_RETRIES: usize = 32;
/// Symlinks followed while creating a path before giving up with `ELOOP` (the kernel's limit).
const MAX_SYMLINKS: usize = 40;

/// What [`create_in_root`] creates when the final component is missing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeKind {
    /// A directory (mode given to `mkdirat`, subject to the umask).
    Directory,
    /// An empty regular file (a bind-mount target for a file source).
    File,
}

fn in_root_flags() -> ResolveFlags {
    ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS
}

fn beneath_flags() -> ResolveFlags {
    ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS
}

fn openat2_retry(
    dir: BorrowedFd<'_>,
    path: &Path,
    flags: OFlags,
    resolve: ResolveFlags,
) -> io::Result<OwnedFd> {
    let mut tries = 0;
    loop {
        match rfs::openat2(dir, path, flags | OFlags::CLOEXEC, Mode::empty(), resolve) {
            Err(rustix::io::Errno::AGAIN) if tries < RENAME_RETRIES => tries += 1,
            other => return other.map_err(io::Error::from),
        }
    }
}

/// Opens a directory by host path as an `O_PATH` descriptor (the trusted starting point).
pub fn open_dir(path: &Path) -> io::Result<OwnedFd> {
    rfs::open(
        path,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(io::Error::from)
}

/// Opens a host path as an `O_PATH` descriptor (following symlinks: host paths are trusted).
pub fn open_path(path: &Path) -> io::Result<OwnedFd> {
    rfs::open(path, OFlags::PATH | OFlags::CLOEXEC, Mode::empty()).map_err(io::Error::from)
}

/// Resolves `path` (relative or absolute, interpreted inside `root`) with
/// `RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS`: symlinks are followed but `/` and `..` are
/// clamped to `root`. `flags` are added to `O_CLOEXEC` (pass `O_PATH` for a mount target).
pub fn open_in_root(root: BorrowedFd<'_>, path: &Path, flags: OFlags) -> io::Result<OwnedFd> {
    let rel = relative(path);
    openat2_retry(root, &rel, flags, in_root_flags())
}

/// Opens the single component `name` below `dir`, refusing any symlink.
pub fn open_beneath_nofollow(
    dir: BorrowedFd<'_>,
    name: &OsStr,
    flags: OFlags,
) -> io::Result<OwnedFd> {
    openat2_retry(dir, Path::new(name), flags, beneath_flags())
}

/// `fstatfs(fd).f_type`: which file system the object behind `fd` lives on.
pub fn fs_magic(fd: BorrowedFd<'_>) -> io::Result<i64> {
    let st = rfs::fstatfs(fd)?;
    Ok(st.f_type as i64)
}

/// `fstat(fd)`: file type and, for device nodes, the device number.
pub fn file_type(fd: BorrowedFd<'_>) -> io::Result<(FileType, u64)> {
    let st = rfs::fstat(fd)?;
    Ok((FileType::from_raw_mode(st.st_mode), st.st_rdev))
}

/// Whether `path` (a trusted host path) is the root of a mount (`STATX_ATTR_MOUNT_ROOT`).
pub fn is_mount_root(path: &Path) -> io::Result<bool> {
    let st = rfs::statx(
        rfs::CWD,
        path,
        rfs::AtFlags::SYMLINK_NOFOLLOW,
        rfs::StatxFlags::BASIC_STATS,
    )?;
    let mask = rfs::StatxAttributes::MOUNT_ROOT;
    if !st.stx_attributes_mask.contains(mask) {
        return Err(io::Error::from_raw_os_error(libc::EOPNOTSUPP));
    }
    Ok(st.stx_attributes.contains(mask))
}

/// The mount point of the mount holding `path` (a trusted, canonical host path): the nearest
/// ancestor (or `path` itself) that is a mount root.
pub fn mount_point_of(path: &Path) -> io::Result<PathBuf> {
    for dir in path.ancestors() {
        if dir.as_os_str().is_empty() || is_mount_root(dir)? {
            return Ok(dir.to_path_buf());
        }
    }
    Ok(PathBuf::from("/"))
}

/// The path the kernel reports for `fd` (`readlink /proc/self/fd/N`), as seen from the
/// caller's root. Needs procfs at `/proc`.
pub fn fd_path(fd: BorrowedFd<'_>) -> io::Result<PathBuf> {
    use std::os::fd::AsRawFd;
    let link = format!("/proc/self/fd/{}", fd.as_raw_fd());
    let target = rfs::readlinkat(rfs::CWD, link.as_str(), Vec::new())?;
    Ok(PathBuf::from(OsStr::from_bytes(target.as_bytes())))
}

/// Makes `path` relative (drops a leading `/`), so it is interpreted below a directory fd.
fn relative(path: &Path) -> PathBuf {
    let rel: PathBuf = path
        .components()
        .filter(|c| !matches!(c, Component::RootDir | Component::CurDir))
        .collect();
    if rel.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        rel
    }
}

/// Lexically normalises `path` as if `/` were the root: `.` is dropped and `..` at the top
/// stays at the top (the `RESOLVE_IN_ROOT` rule). The result has only normal components.
pub fn clamp_in_root(path: &Path) -> Vec<OsString> {
    let mut out: Vec<OsString> = Vec::new();
    for c in path.components() {
        match c {
            Component::Normal(n) => out.push(n.to_os_string()),
            Component::ParentDir => {
                out.pop();
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    out
}

fn join(parts: &[OsString]) -> PathBuf {
    let mut p = PathBuf::new();
    for part in parts {
        p.push(part);
    }
    p
}

/// Opens `path` inside `root`, creating what is missing: every missing parent as a directory
/// (`dir_mode`) and the last component as `kind`. Symlinks met on the way are followed inside
/// the root (also dangling ones: their target is created, like `securejoin.MkdirAll`); new
/// components are created with `mkdirat`/`mknodat` relative to their parent's descriptor and
/// reopened with `RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS`, so a concurrent symlink swap makes
/// the call fail instead of escaping. Returns an `O_PATH` descriptor of the final object
/// (which may be of another type than `kind` when it already existed).
pub fn create_in_root(
    root: BorrowedFd<'_>,
    path: &Path,
    kind: NodeKind,
    dir_mode: u32,
) -> io::Result<OwnedFd> {
    let mut parts = clamp_in_root(path);
    let mut followed = 0;
    'restart: loop {
        if parts.is_empty() {
            return open_in_root(root, Path::new("."), OFlags::PATH | OFlags::DIRECTORY);
        }
        match open_in_root(root, &join(&parts), OFlags::PATH) {
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
            other => return other,
        }
        // Find the longest existing prefix, from the end: usually only the last component
        // is missing, and one open finds its parent (a prefix of a missing path is missing
        // too, so the first prefix that opens is the longest). `cur` is its descriptor and
        // parts[i] the first missing component. A component created concurrently meets
        // EEXIST below and is opened like an existing one.
        let mut i = parts.len();
        let mut cur = loop {
            if i == 0 {
                break open_in_root(root, Path::new("."), OFlags::PATH | OFlags::DIRECTORY)?;
            }
            i -= 1;
            if i == 0 {
                continue;
            }
            match open_in_root(root, &join(&parts[..i]), OFlags::PATH) {
                Ok(fd) => break fd,
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
                Err(e) => return Err(e),
            }
        };
        // parts[i] is missing, or is a dangling symlink: follow it inside the root.
        if let Some(target) = read_link(cur.as_fd(), &parts[i])? {
            followed += 1;
            if followed > MAX_SYMLINKS {
                return Err(io::Error::from_raw_os_error(libc::ELOOP));
            }
            let mut joined = if Path::new(&target).is_absolute() {
                PathBuf::from("/")
            } else {
                join(&parts[..i])
            };
            joined.push(&target);
            joined.push(join(&parts[i + 1..]));
            parts = clamp_in_root(&joined);
            continue 'restart;
        }
        // Create the rest step by step below `cur`.
        for (j, name) in parts.iter().enumerate().skip(i) {
            let last = j + 1 == parts.len();
            let res = if last && kind == NodeKind::File {
                rfs::mknodat(
                    &cur,
                    name.as_os_str(),
                    FileType::RegularFile,
                    Mode::from_raw_mode(0o644),
                    0,
                )
            } else {
                rfs::mkdirat(&cur, name.as_os_str(), Mode::from_raw_mode(dir_mode))
            };
            match res {
                Ok(()) | Err(rustix::io::Errno::EXIST) => {}
                Err(e) => return Err(e.into()),
            }
            let flags = if last {
                OFlags::PATH
            } else {
                OFlags::PATH | OFlags::DIRECTORY
            };
            cur = open_beneath_nofollow(cur.as_fd(), name, flags)?;
        }
        return Ok(cur);
    }
}

/// Opens directory `path` below `root` refusing symlinks in every component, creating missing
/// components with `mkdirat` (`dir_mode`). For targets that must be real directories of the
/// root, such as `/proc` and `/sys`: a symlink there fails with `ELOOP`.
pub fn create_dir_nofollow(
    root: BorrowedFd<'_>,
    path: &Path,
    dir_mode: u32,
) -> io::Result<OwnedFd> {
    let mut cur = open_in_root(root, Path::new("."), OFlags::PATH | OFlags::DIRECTORY)?;
    for name in clamp_in_root(path) {
        let flags = OFlags::PATH | OFlags::DIRECTORY;
        cur = match open_beneath_nofollow(cur.as_fd(), &name, flags) {
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
                match rfs::mkdirat(&cur, name.as_os_str(), Mode::from_raw_mode(dir_mode)) {
                    Ok(()) | Err(rustix::io::Errno::EXIST) => {}
                    Err(e) => return Err(e.into()),
                }
                open_beneath_nofollow(cur.as_fd(), &name, flags)?
            }
            other => other?,
        };
    }
    Ok(cur)
}

/// `readlinkat(dir, name)`: `Some(target)` when `name` is a symlink, `None` when it is missing
/// or not a symlink.
fn read_link(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<Option<OsString>> {
    match rfs::readlinkat(dir, name, Vec::new()) {
        Ok(target) => Ok(Some(OsStr::from_bytes(target.as_bytes()).to_os_string())),
        Err(rustix::io::Errno::NOENT) | Err(rustix::io::Errno::INVAL) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    /// A scratch directory `berth-test-path-<pid>-<n>` under the temp dir, removed on drop.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new() -> Self {
            use std::sync::atomic::{AtomicU32, Ordering};
            static N: AtomicU32 = AtomicU32::new(0);
            let n = N.fetch_add(1, Ordering::Relaxed);
            let dir = std::env::temp_dir().join(format!(
                "berth-test-path-{}-{n}-{:x}",
                std::process::id(),
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.subsec_nanos())
                    .unwrap_or(0)
            ));
            std::fs::create_dir_all(dir.join("root")).unwrap();
            Scratch(dir)
        }
        fn root(&self) -> PathBuf {
            self.0.join("root")
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn clamp_keeps_dotdot_at_top() {
        let p = clamp_in_root(Path::new("/../a/./b/../../../c"));
        assert_eq!(p, vec![OsString::from("c")]);
    }

    #[test]
    fn relative_of_root_is_dot() {
        assert_eq!(relative(Path::new("/")), PathBuf::from("."));
        assert_eq!(relative(Path::new("/a/b")), PathBuf::from("a/b"));
    }

    #[test]
    fn creates_missing_directories_and_files() {
        let s = Scratch::new();
        let root = open_dir(&s.root()).unwrap();
        create_in_root(
            root.as_fd(),
            Path::new("/a/b/c"),
            NodeKind::Directory,
            0o755,
        )
        .unwrap();
        assert!(s.root().join("a/b/c").is_dir());
        create_in_root(root.as_fd(), Path::new("/x/y/file"), NodeKind::File, 0o755).unwrap();
        let meta = std::fs::metadata(s.root().join("x/y/file")).unwrap();
        assert!(meta.is_file() && meta.len() == 0);
    }

    #[test]
    fn symlinks_out_of_the_root_are_clamped() {
        let s = Scratch::new();
        symlink("/", s.root().join("abs")).unwrap();
        symlink("../../../../../..", s.root().join("rel")).unwrap();
        std::fs::create_dir(s.0.join("outside")).unwrap();
        let root = open_dir(&s.root()).unwrap();
        for p in ["/abs/outside/new", "/rel/outside/new"] {
            create_in_root(root.as_fd(), Path::new(p), NodeKind::Directory, 0o755).unwrap();
        }
        assert!(s.root().join("outside/new").is_dir());
        assert!(!s.0.join("outside/new").exists(), "escaped the root");
        let fd = open_in_root(root.as_fd(), Path::new("/rel/outside"), OFlags::PATH).unwrap();
        let (ft, _) = file_type(fd.as_fd()).unwrap();
        assert_eq!(ft, FileType::Directory);
    }

    #[test]
    fn dangling_symlinks_are_created_inside() {
        let s = Scratch::new();
        symlink("/../../target/dir", s.root().join("dangling")).unwrap();
        let root = open_dir(&s.root()).unwrap();
        create_in_root(
            root.as_fd(),
            Path::new("/dangling/sub"),
            NodeKind::File,
            0o755,
        )
        .unwrap();
        assert!(s.root().join("target/dir/sub").is_file());
        assert!(!s.0.join("target").exists());
    }

    #[test]
    fn symlink_loops_fail_with_eloop() {
        let s = Scratch::new();
        symlink("/b", s.root().join("a")).unwrap();
        symlink("/a", s.root().join("b")).unwrap();
        let root = open_dir(&s.root()).unwrap();
        let err = create_in_root(root.as_fd(), Path::new("/a/x"), NodeKind::Directory, 0o755)
            .unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ELOOP), "{err}");
    }

    #[test]
    fn nofollow_creation_refuses_symlinks() {
        let s = Scratch::new();
        symlink("/elsewhere", s.root().join("proc")).unwrap();
        let root = open_dir(&s.root()).unwrap();
        let err = create_dir_nofollow(root.as_fd(), Path::new("/proc"), 0o755).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ELOOP));
        assert!(!s.root().join("elsewhere").exists());
        create_dir_nofollow(root.as_fd(), Path::new("/sys/fs"), 0o755).unwrap();
        assert!(s.root().join("sys/fs").is_dir());
    }
}
