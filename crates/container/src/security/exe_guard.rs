//! Refuse to `execve` the runtime's own binary (the CVE-2019-5736 class).
//!
//! The attack: a container's program is `/proc/self/exe` (or a script whose `#!` line names
//! it). At `execve` time "self" is still the runtime's process, so the kernel runs the host's
//! runtime binary inside the container; that process is dumpable again and its
//! `/proc/<pid>/exe` is a handle on the host file, which a container process can reopen for
//! writing once the binary is no longer running.
//!
//! runc answers by running from a sealed memfd copy of itself on every start (megabytes of
//! memory and a copy per container). We instead compare the program that is about to be
//! executed, and each `#!` interpreter in its chain, by device and inode against our own
//! `/proc/self/exe`, and refuse a match: one `stat` and one `open` per level, microseconds.
//! The other routes stay closed by `PR_SET_DUMPABLE=0` (set in the init and exec children
//! before a container process can see them): `/proc/<pid>/exe`, `/proc/<pid>/fd`, `ptrace`
//! and `process_vm_*` of a runtime process need `CAP_SYS_PTRACE` in the host's user
//! namespace, where the runtime's memory was created.
//!
//! The program is checked through one descriptor ([`check_fd`]); in `exec` into a running
//! container (and an init joining an existing mount namespace) it is also run through it
//! (`execveat(fd, "", AT_EMPTY_PATH)` in `process::init`): another container process
//! swapping the path between the check and the exec changes nothing, the file checked is
//! the file run. (Such a process's `comm` is the file's own name: `busybox` for an applet
//! symlink.) An init in the mount namespace it made runs by path: nothing else runs there
//! yet, and `/proc/1/comm` stays the name it was started as. For a `#!` script run by
//! descriptor the interpreter gets `/dev/fd/N`, so that one descriptor (the script, read
//! only) stays open in it; without `/dev/fd` in the container the script runs by path.
//! What this guarantees, and what it does not:
//! - the program itself (an ELF binary, or the script file) is never the runtime binary;
//! - a `#!` script's first interpreter is read from the checked file, but the kernel reads
//!   the `#!` line again at exec and resolves the interpreter (and its own `#!` chain, and
//!   an ELF's `PT_INTERP` loader, which is not checked at all) by path: a container process
//!   that can write the script or replace a file on the interpreter chain during the exec
//!   can still win that race. The chain check stops a plain `#!/proc/self/exe` script and
//!   every case where nothing runs alongside (the init: nothing else runs in the container
//!   before it execs). Closing the rest needs the runtime to run from a sealed copy of
//!   itself (runc's memfd) or the kernel to refuse it; `PR_SET_DUMPABLE=0` still keeps the
//!   container from the runtime's own `/proc/<pid>/exe` and memory.

use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// binfmt_script's nesting limit (BINPRM_MAX_RECURSION in fs/exec.c) and header size.
const MAX_SCRIPT_DEPTH: usize = 5;
const HEADER_LEN: usize = 256;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("stat the runtime's own binary (/proc/self/exe): {0}")]
    SelfExe(std::io::Error),
    #[error("stat program {path} to check it is not the runtime binary: {source}")]
    StatProgram {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("read the #! line of {path}: {source}")]
    ReadHeader {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("refusing to execute {path}: it is the runtime's own binary")]
    RuntimeBinary { path: PathBuf },
    #[error(
        "refusing to execute {path}: its #! interpreter {interpreter} is the runtime's own binary"
    )]
    RuntimeInterpreter { path: PathBuf, interpreter: PathBuf },
}

/// A file's identity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileId {
    pub dev: u64,
    pub ino: u64,
}

impl FileId {
    fn of(m: &std::fs::Metadata) -> FileId {
        FileId {
            dev: m.dev(),
            ino: m.ino(),
        }
    }
}

/// The identity of the binary this process runs, through `/proc/self/exe`. `None` when the
/// container has no procfs at `/proc` (then `/proc/self/exe` cannot be named either).
pub fn runtime_identity() -> Result<Option<FileId>, Error> {
    match std::fs::metadata("/proc/self/exe") {
        Ok(m) => Ok(Some(FileId::of(&m))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::SelfExe(e)),
    }
}

/// Check that `program` (as `execve` will resolve it, relative to the current directory and
/// root, i.e. inside the container) and its `#!` interpreters are not the runtime binary.
pub fn check(program: &Path) -> Result<(), Error> {
    let Some(me) = runtime_identity()? else {
        return Ok(());
    };
    check_against(program, me)
}

/// [`check`] for the program open at `fd` (opened from `path`, named in errors): its
/// identity by `fstat`, its `#!` line read through the descriptor, the interpreters after
/// it by path. Returns whether the file is a `#!` script (then the descriptor must stay
/// open across `execveat` for the interpreter).
pub fn check_fd(fd: std::os::fd::BorrowedFd<'_>, path: &Path) -> Result<bool, Error> {
    let stat = rustix::fs::fstat(fd).map_err(|e| Error::StatProgram {
        path: path.to_path_buf(),
        source: e.into(),
    })?;
    let header = read_header(fd, path)?;
    let header = header.as_slice();
    let script = header.starts_with(b"#!");
    let Some(me) = runtime_identity()? else {
        return Ok(script);
    };
    if (FileId {
        dev: stat.st_dev,
        ino: stat.st_ino,
    }) == me
    {
        return Err(Error::RuntimeBinary {
            path: path.to_path_buf(),
        });
    }
    if let Some(interp) = parse_shebang(header) {
        check_chain(path, &interp, me, 1)?;
    }
    Ok(script)
}

/// [`check`] against an explicit identity (for tests and callers that know it).
pub fn check_against(program: &Path, me: FileId) -> Result<(), Error> {
    check_chain(program, program, me, 0)
}

/// Check `start` (level `first` of `program`'s chain) and the interpreters after it.
fn check_chain(program: &Path, start: &Path, me: FileId, first: usize) -> Result<(), Error> {
    let mut current = start.to_path_buf();
    for depth in first..MAX_SCRIPT_DEPTH {
        let meta = std::fs::metadata(&current).map_err(|source| Error::StatProgram {
            path: current.clone(),
            source,
        })?;
        if FileId::of(&meta) == me {
            return Err(if depth == 0 {
                Error::RuntimeBinary { path: current }
            } else {
                Error::RuntimeInterpreter {
                    path: program.to_path_buf(),
                    interpreter: current,
                }
            });
        }
        match interpreter(&current)? {
            Some(next) => current = next,
            None => return Ok(()),
        }
    }
    Ok(())
}

/// The interpreter named by a `#!` line, parsed as binfmt_script does (blanks after `#!`,
/// the name ends at a blank or newline). `None` for anything else, and for a file this
/// process cannot read (the kernel reads it regardless, so an unreadable script is checked
/// only at its own level).
fn interpreter(path: &Path) -> Result<Option<PathBuf>, Error> {
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => return Ok(None),
        Err(source) => {
            return Err(Error::ReadHeader {
                path: path.to_path_buf(),
                source,
            })
        }
    };
    Ok(parse_shebang(&read_header(file.as_fd(), path)?))
}

/// The first `HEADER_LEN` bytes of the file open at `fd` (fewer at its end); nothing for a
/// descriptor that cannot be read: an `O_PATH` one (an execute-only file, whose `#!` line
/// an interpreter running as the same user could not read either) or a directory (execve
/// fails on it anyway).
fn read_header(fd: std::os::fd::BorrowedFd<'_>, path: &Path) -> Result<Vec<u8>, Error> {
    let mut header = vec![0u8; HEADER_LEN];
    let mut len = 0;
    while len < header.len() {
        match rustix::io::pread(fd, &mut header[len..], len as u64) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(rustix::io::Errno::INTR) => continue,
            Err(rustix::io::Errno::BADF) | Err(rustix::io::Errno::ISDIR) => break,
            Err(e) => {
                return Err(Error::ReadHeader {
                    path: path.to_path_buf(),
                    source: e.into(),
                })
            }
        }
    }
    header.truncate(len);
    Ok(header)
}

fn parse_shebang(header: &[u8]) -> Option<PathBuf> {
    use std::os::unix::ffi::OsStrExt;
    let rest = header.strip_prefix(b"#!")?;
    let start = rest.iter().position(|&c| c != b' ' && c != b'\t')?;
    let rest = &rest[start..];
    let end = rest
        .iter()
        .position(|&c| matches!(c, b' ' | b'\t' | b'\n' | b'\0'))
        .unwrap_or(rest.len());
    if end == 0 {
        return None;
    }
    Some(PathBuf::from(std::ffi::OsStr::from_bytes(&rest[..end])))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    struct TempDir(PathBuf);
    impl TempDir {
        fn new() -> TempDir {
            static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
            let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let p = std::env::temp_dir()
                .join(format!("berth-test-exeguard-{}-{n}", std::process::id()));
            std::fs::create_dir_all(&p).unwrap();
            TempDir(p)
        }
        fn path(&self) -> &Path {
            &self.0
        }
    }
    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// The guard is on every start path: one stat of /proc/self/exe, one stat and one
    /// 256-byte read per level. It must stay in the microseconds (runc's memfd copy of its
    /// binary costs milliseconds and megabytes per start).
    #[test]
    fn check_costs_microseconds() {
        let dir = TempDir::new();
        let script = dir.path().join("script");
        std::fs::write(&script, "#!/bin/sh\ntrue\n").unwrap();
        for p in [Path::new("/bin/sh"), script.as_path()] {
            check(p).unwrap();
            let n = 2000;
            let t = std::time::Instant::now();
            for _ in 0..n {
                check(p).unwrap();
            }
            let per = t.elapsed() / n;
            println!("exe_guard::check({}) = {per:?}", p.display());
            assert!(per < std::time::Duration::from_micros(500), "{per:?}");
        }
    }

    #[test]
    fn shebang_parsing_follows_binfmt_script() {
        assert_eq!(
            parse_shebang(b"#! \t/proc/self/exe arg\n"),
            Some(PathBuf::from("/proc/self/exe"))
        );
        assert_eq!(
            parse_shebang(b"#!/bin/sh\necho"),
            Some(PathBuf::from("/bin/sh"))
        );
        assert_eq!(parse_shebang(b"#!\n"), None);
        assert_eq!(parse_shebang(b"\x7fELF"), None);
    }

    #[test]
    fn refuses_own_binary_directly_via_symlink_and_via_script_chain() {
        let dir = TempDir::new();
        let me = runtime_identity().unwrap().unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink("/proc/self/exe", &link).unwrap();
        assert!(matches!(
            check(Path::new("/proc/self/exe")),
            Err(Error::RuntimeBinary { .. })
        ));
        assert!(matches!(check(&link), Err(Error::RuntimeBinary { .. })));

        let inner = dir.path().join("inner");
        std::fs::write(&inner, "#!/proc/self/exe\n").unwrap();
        let outer = dir.path().join("outer");
        std::fs::write(&outer, format!("#!{}\n", inner.display())).unwrap();
        for p in [&inner, &outer] {
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let err = check_against(&outer, me).unwrap_err();
        assert!(
            matches!(&err, Error::RuntimeInterpreter { interpreter, .. } if interpreter == Path::new("/proc/self/exe")),
            "{err}"
        );
        assert!(err.to_string().contains("outer"), "{err}");

        let sh = dir.path().join("ok");
        std::fs::write(&sh, "#!/bin/sh\ntrue\n").unwrap();
        check(&sh).unwrap();
        check(Path::new("/bin/sh")).unwrap();
        assert!(matches!(
            check(&dir.path().join("missing")),
            Err(Error::StatProgram { .. })
        ));
    }
}
