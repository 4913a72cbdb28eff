//! Test support: a private data root and cgroup parent per test, the `berth` binary, and a
//! guard that removes every container, mount, cgroup and file the test made.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

static COUNTER: AtomicU32 = AtomicU32::new(0);

pub fn unique(tag: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("berth-test-{tag}-{}-{n}-{nanos:x}", std::process::id())
}

pub fn require_root() {
    assert!(
        rustix::process::geteuid().is_root(),
        "this test needs root (real namespaces, cgroups and mounts)"
    );
}

/// One test's berth world.
pub struct Env {
    pub root: PathBuf,
    pub cgroup_parent: String,
}

impl Env {
    pub fn new(tag: &str) -> Env {
        require_root();
        let name = unique(tag);
        let root = std::env::temp_dir().join(&name);
        std::fs::create_dir_all(&root).unwrap();
        Env {
            root,
            cgroup_parent: name,
        }
    }

    pub fn cmd(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_berth"));
        c.arg("--root")
            .arg(&self.root)
            .arg("--cgroup-parent")
            .arg(&self.cgroup_parent)
            .stdin(Stdio::null());
        c
    }

    /// Run berth with `args`; output captured.
    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().unwrap()
    }

    /// Run berth with `args`, assert success, return stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "berth {args:?} failed ({:?}):\nstdout: {}\nstderr: {}",
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn inspect(&self, name: &str) -> serde_json::Value {
        let v: serde_json::Value = serde_json::from_str(&self.ok(&["inspect", name])).unwrap();
        v[0].clone()
    }

    /// The container's cgroup directory in a v1 hierarchy (`memory`, `pids`, ...).
    pub fn cgroup_dir(&self, controller: &str, id: &str) -> PathBuf {
        Path::new("/sys/fs/cgroup")
            .join(controller)
            .join(&self.cgroup_parent)
            .join(id)
    }

    pub fn id(&self, name: &str) -> String {
        self.inspect(name)["id"].as_str().unwrap().to_string()
    }
}

/// Mount points at or under `dir`, deepest first.
pub fn mounts_under(dir: &Path) -> Vec<PathBuf> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut v: Vec<PathBuf> = info
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(PathBuf::from)
        .filter(|p| p.starts_with(dir))
        .collect();
    v.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    v
}

impl Drop for Env {
    fn drop(&mut self) {
        // Everything through berth itself first (kills, unmounts, removes layers).
        if let Ok(out) = self.cmd().args(["ps", "-aq"]).output() {
            for id in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                let _ = self.cmd().args(["rm", "-f", id]).output();
            }
        }
        let _ = self.cmd().args(["system", "prune", "-f"]).output();
        if let Ok(out) = self.cmd().args(["network", "ls"]).output() {
            for line in String::from_utf8_lossy(&out.stdout).lines().skip(1) {
                if let Some(name) = line.split_whitespace().next() {
                    let _ = self.cmd().args(["network", "rm", name]).output();
                }
            }
        }
        // Then whatever a broken test left: never delete through a mount.
        for m in mounts_under(&self.root) {
            let _ = rustix::mount::unmount(&m, rustix::mount::UnmountFlags::DETACH);
        }
        if mounts_under(&self.root).is_empty() {
            let _ = std::fs::remove_dir_all(&self.root);
        }
        for c in [
            "blkio", "cpu", "cpuacct", "cpuset", "devices", "freezer", "memory", "pids", "systemd",
            "unified",
        ] {
            let dir = Path::new("/sys/fs/cgroup")
                .join(c)
                .join(&self.cgroup_parent);
            if let Ok(entries) = std::fs::read_dir(&dir) {
                for e in entries.flatten() {
                    if e.path().is_dir() {
                        let _ = std::fs::remove_dir(e.path());
                    }
                }
            }
            let _ = std::fs::remove_dir(&dir);
        }
    }
}

/// A docker-save-style archive: manifest.json, the image config and one layer tar holding
/// a static busybox (`/bin/busybox` and `/bin/sh`, plus `/etc/passwd`).
pub fn busybox_archive(dir: &Path, tag: &str) -> PathBuf {
    use sha2::{Digest, Sha256};
    let (layer, config) = busybox_image();
    let layer_hex = hex(&Sha256::digest(&layer));
    let config_hex = hex(&Sha256::digest(&config));
    let manifest = serde_json::json!([{
        "Config": format!("{config_hex}.json"),
        "RepoTags": [tag],
        "Layers": [format!("{layer_hex}/layer.tar")]
    }]);
    let mut archive = tar::Builder::new(Vec::new());
    let mut add = |name: &str, data: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o644);
        h.set_size(data.len() as u64);
        h.set_mtime(0);
        archive.append_data(&mut h, name, data).unwrap();
    };
    add("manifest.json", &serde_json::to_vec(&manifest).unwrap());
    add(&format!("{config_hex}.json"), &config);
    add(&format!("{layer_hex}/layer.tar"), &layer);
    let path = dir.join("busybox-archive.tar");
    std::fs::write(&path, archive.into_inner().unwrap()).unwrap();
    path
}

/// One uncompressed layer tar with busybox and its image config.
pub fn busybox_image() -> (Vec<u8>, Vec<u8>) {
    use sha2::{Digest, Sha256};
    let busybox = std::fs::read("/bin/busybox")
        .or_else(|_| std::fs::read("/usr/bin/busybox"))
        .expect("busybox-static is installed");
    let mut layer = tar::Builder::new(Vec::new());
    let mut dirh = tar::Header::new_gnu();
    for d in ["bin/", "etc/", "tmp/", "proc/", "dev/", "sys/"] {
        dirh.set_entry_type(tar::EntryType::Directory);
        dirh.set_mode(0o755);
        dirh.set_size(0);
        dirh.set_mtime(0);
        layer
            .append_data(&mut dirh.clone(), d, std::io::empty())
            .unwrap();
    }
    let mut h = tar::Header::new_gnu();
    h.set_mode(0o755);
    h.set_size(busybox.len() as u64);
    h.set_mtime(0);
    layer
        .append_data(&mut h, "bin/busybox", busybox.as_slice())
        .unwrap();
    let passwd = b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n";
    let mut h = tar::Header::new_gnu();
    h.set_mode(0o644);
    h.set_size(passwd.len() as u64);
    h.set_mtime(0);
    layer
        .append_data(&mut h, "etc/passwd", &passwd[..])
        .unwrap();
    for tool in [
        "sh", "cat", "echo", "stat", "ls", "dd", "sleep", "touch", "hostname", "id",
    ] {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_mode(0o777);
        h.set_size(0);
        h.set_mtime(0);
        layer
            .append_link(&mut h, format!("bin/{tool}"), "busybox")
            .unwrap();
    }
    let layer = layer.into_inner().unwrap();
    let layer_hex = hex(&Sha256::digest(&layer));
    let config = serde_json::json!({
        "architecture": "amd64",
        "os": "linux",
        "created": "2024-01-01T00:00:00Z",
        "config": {"Env": ["PATH=/bin"], "Cmd": ["sh"]},
        "rootfs": {"type": "layers", "diff_ids": [format!("sha256:{layer_hex}")]},
        "history": [{"created_by": "berth test"}]
    });
    (layer, serde_json::to_vec(&config).unwrap())
}

pub fn hex_digest(data: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    format!("sha256:{}", hex(&Sha256::digest(data)))
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
