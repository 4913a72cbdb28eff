//! Test support: a unique `berth-test-*` directory that takes everything below it away on
//! drop (mounts, loop devices, files), also when the test fails.
#![allow(dead_code)]

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

pub const MIB: u64 = 1 << 20;

pub struct TestDir {
    pub path: PathBuf,
}

impl TestDir {
    pub fn new(tag: &str) -> Self {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let path = std::env::temp_dir().join(format!(
            "berth-test-{tag}-{}-{}-{nanos}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&path).unwrap();
        Self { path }
    }

    pub fn join(&self, p: &str) -> PathBuf {
        self.path.join(p)
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        for m in mounts_under(&self.path) {
            let _ = rustix::mount::unmount(&m, rustix::mount::UnmountFlags::DETACH);
        }
        for dev in loops_under(&self.path) {
            let _ = Command::new("losetup").arg("-d").arg(&dev).status();
        }
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// Mount points at or below `dir`, deepest first.
pub fn mounts_under(dir: &Path) -> Vec<PathBuf> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let mut found: Vec<PathBuf> = text
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(|p| PathBuf::from(p.replace("\\040", " ")))
        .filter(|p| p.starts_with(dir))
        .collect();
    found.reverse();
    found
}

/// The mountinfo line of the mount at `path`, if mounted.
pub fn mount_line(path: &Path) -> Option<String> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    text.lines()
        .rev()
        .find(|l| l.split(' ').nth(4).map(Path::new) == Some(path))
        .map(str::to_owned)
}

/// Loop devices whose backing file is below `dir`.
pub fn loops_under(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/sys/block").unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let backing = entry.path().join("loop/backing_file");
        if let Ok(file) = std::fs::read_to_string(backing) {
            let file = file.trim_end().trim_end_matches(" (deleted)");
            if Path::new(file).starts_with(dir) {
                found.push(PathBuf::from(format!("/dev/{name}")));
            }
        }
    }
    found
}

/// Write `size` bytes of non-zero data to `path` and fsync: the error the file system
/// gives when it is full surfaces here.
pub fn write_file(path: &Path, size: u64) -> io::Result<()> {
    let mut f = OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .open(path)?;
    let chunk = vec![0x5au8; MIB as usize];
    let mut left = size;
    while left > 0 {
        let n = left.min(MIB) as usize;
        f.write_all(&chunk[..n])?;
        left -= n as u64;
    }
    f.sync_all()
}

/// Whether `e` is the "file system / quota full" error.
pub fn is_full(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::ENOSPC) | Some(libc::EDQUOT))
}

pub fn run(cmd: &str, args: &[&str]) -> String {
    let out = Command::new(cmd).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{cmd} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn create_file(path: &Path, content: &str) {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).unwrap();
    }
    File::create(path)
        .unwrap()
        .write_all(content.as_bytes())
        .unwrap();
}

/// A fresh 512 MiB btrfs file system, loop-mounted at `<test dir>/mnt` (taken away by the
/// TestDir guard); its mount point.
#[allow(dead_code)]
pub fn btrfs_mount(t: &TestDir) -> std::path::PathBuf {
    let image = t.join("btrfs.img");
    std::fs::File::create(&image)
        .unwrap()
        .set_len(512 * MIB)
        .unwrap();
    run("mkfs.btrfs", &["-q", "-f", image.to_str().unwrap()]);
    let mnt = t.join("mnt");
    std::fs::create_dir(&mnt).unwrap();
    run(
        "mount",
        &["-o", "loop", image.to_str().unwrap(), mnt.to_str().unwrap()],
    );
    mnt
}
