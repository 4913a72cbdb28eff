//! Shared by the berth-runtime integration tests: a private state root per test, the binary
//! run with it, and clean-up of every container the test made, also when it fails.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub use berth_testkit::{require_root, unique, Bundle};

pub struct Runtime {
    pub root: PathBuf,
    pub bin: PathBuf,
}

impl Runtime {
    pub fn new() -> Runtime {
        require_root();
        let root = std::env::temp_dir().join(unique("berth-test-root"));
        Runtime {
            root,
            // BERTH_RUNTIME_BIN: the same tests against another build of the binary (CI runs
            // them again on the static release build, scripts/test.sh).
            bin: std::env::var_os("BERTH_RUNTIME_BIN")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_berth-runtime"))),
        }
    }

    pub fn cmd(&self) -> Command {
        let mut c = Command::new(&self.bin);
        c.arg("--root").arg(&self.root);
        c.stdin(Stdio::null());
        c
    }

    /// Run with args; returns the output (never panics on a non-zero exit).
    ///
    /// stdout and stderr go through files, not pipes: a detached container inherits them
    /// and would otherwise hold a pipe open until it exits.
    pub fn out(&self, args: &[&str]) -> Output {
        let dir = std::env::temp_dir();
        let name = unique("berth-test-out");
        let (o, e) = (
            dir.join(format!("{name}.out")),
            dir.join(format!("{name}.err")),
        );
        let status = self
            .cmd()
            .args(args)
            .stdout(std::fs::File::create(&o).expect("create stdout file"))
            .stderr(std::fs::File::create(&e).expect("create stderr file"))
            .status()
            .unwrap_or_else(|err| panic!("spawn berth-runtime {args:?}: {err}"));
        let out = Output {
            status,
            stdout: std::fs::read(&o).unwrap_or_default(),
            stderr: std::fs::read(&e).unwrap_or_default(),
        };
        let _ = std::fs::remove_file(&o);
        let _ = std::fs::remove_file(&e);
        out
    }

    /// Run with args and require success; returns stdout.
    #[track_caller]
    pub fn ok(&self, args: &[&str]) -> String {
        let o = self.out(args);
        assert!(
            o.status.success(),
            "berth-runtime {args:?} failed ({}): stdout={} stderr={}",
            o.status,
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// `run` the bundle in the foreground; returns (exit code, stdout, stderr).
    pub fn run(&self, b: &Bundle) -> (i32, String, String) {
        let o = self.out(&["run", "--bundle", path(b.path()), b.id()]);
        (
            o.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    }

    pub fn status(&self, id: &str) -> String {
        let s = self.ok(&["state", id]);
        let v: serde_json::Value = serde_json::from_str(&s).expect("state is JSON");
        v["status"].as_str().unwrap_or_default().to_string()
    }

    pub fn state(&self, id: &str) -> serde_json::Value {
        serde_json::from_str(&self.ok(&["state", id])).expect("state is JSON")
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        if let Ok(entries) = std::fs::read_dir(&self.root) {
            for e in entries.flatten() {
                let id = e.file_name().to_string_lossy().into_owned();
                let _ = self.out(&["delete", "--force", &id]);
            }
        }
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

pub fn path(p: &Path) -> &str {
    p.to_str().expect("test paths are UTF-8")
}

/// Does any cgroup directory named `name` exist under a v1 controller or the unified tree?
pub fn cgroup_exists(name: &str) -> bool {
    [
        "cpu", "memory", "pids", "freezer", "devices", "blkio", "cpuset", "unified",
    ]
    .iter()
    .any(|c| {
        Path::new("/sys/fs/cgroup")
            .join(c)
            .join(name.trim_start_matches('/'))
            .exists()
    })
}

/// Lines of the host's mount table that mention `needle`.
pub fn host_mounts_with(needle: &str) -> Vec<String> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains(needle))
        .map(String::from)
        .collect()
}

pub fn set_args(b: &mut Bundle, args: &[&str]) {
    b.spec_mut()
        .process_mut()
        .as_mut()
        .expect("process")
        .set_args(Some(args.iter().map(|s| s.to_string()).collect()));
}
