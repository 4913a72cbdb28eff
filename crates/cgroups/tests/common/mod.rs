//! Test support: uniquely named cgroups and processes that clean up after themselves.
#![allow(dead_code)]

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::sleep;
use std::time::{Duration, Instant};

use berth_cgroups::{Manager, Mounts};
use oci_spec::runtime::LinuxResources;

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// "/berth-test-<pid>-<n>-<what>": unique across parallel test processes and threads.
pub fn unique_path(what: &str) -> String {
    format!(
        "/berth-test-{}-{}-{what}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    )
}

/// A cgroup that kills its processes and removes itself when dropped.
pub struct Cg {
    pub mgr: Manager,
}

impl Cg {
    /// Created (not yet configured) on this host's real hierarchies.
    pub fn new(what: &str) -> Cg {
        let mgr = Manager::new(Some(&unique_path(what)), "unused", false).expect("manager");
        mgr.create().expect("create");
        Cg { mgr }
    }

    pub fn with(what: &str, res: &LinuxResources) -> Cg {
        let cg = Cg::new(what);
        cg.mgr.apply(res).expect("apply");
        cg
    }

    /// A pure cgroup v2 manager on the host's cgroup2 tree (/sys/fs/cgroup/unified here).
    pub fn unified(what: &str) -> Cg {
        let mounts = Mounts::detect().expect("mounts");
        let v2 = mounts.v2.expect("this host has a cgroup2 tree");
        let mgr = Manager::with_mounts(
            &Mounts::unified_at(v2.mountpoint),
            Some(&unique_path(what)),
            "unused",
            false,
            false,
        )
        .expect("v2 manager");
        mgr.create().expect("create");
        Cg { mgr }
    }

    pub fn dir(&self, controller: &str) -> PathBuf {
        self.mgr.paths()[controller].clone()
    }

    pub fn read(&self, controller: &str, file: &str) -> String {
        let p = self.dir(controller).join(file);
        fs::read_to_string(&p)
            .unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
            .trim()
            .to_string()
    }
}

impl Drop for Cg {
    fn drop(&mut self) {
        let _ = self.mgr.kill_all(libc::SIGKILL);
        let _ = self.mgr.thaw();
        let deadline = Instant::now() + Duration::from_secs(2);
        while self.mgr.pids().map(|p| !p.is_empty()).unwrap_or(false) && Instant::now() < deadline {
            sleep(Duration::from_millis(10));
        }
        if let Err(e) = self.mgr.destroy() {
            eprintln!("cleanup: {e}");
        }
    }
}

/// A `sh -c` child that waits for [`Proc::go`] before running its script, so it can be
/// moved into a cgroup first. Killed on drop.
pub struct Proc {
    child: Child,
    stdin: Option<ChildStdin>,
}

impl Proc {
    pub fn spawn(script: &str) -> Proc {
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(format!("read _ ; {script}"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn sh");
        let stdin = child.stdin.take();
        Proc { child, stdin }
    }

    /// Spawned, moved into `cg` and started.
    pub fn start_in(cg: &Cg, script: &str) -> Proc {
        let mut p = Proc::spawn(script);
        cg.mgr.add_process(p.pid()).expect("add_process");
        p.go();
        p
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    pub fn go(&mut self) {
        if let Some(mut s) = self.stdin.take() {
            s.write_all(b"\n").expect("release child");
        }
    }

    /// Waits up to `timeout` for the exit; returns (status, stdout, stderr).
    pub fn finish(&mut self, timeout: Duration) -> (std::process::ExitStatus, String, String) {
        let deadline = Instant::now() + timeout;
        let status = loop {
            if let Some(st) = self.child.try_wait().expect("try_wait") {
                break st;
            }
            assert!(
                Instant::now() < deadline,
                "child {} did not finish",
                self.pid()
            );
            sleep(Duration::from_millis(10));
        };
        let mut out = String::new();
        let mut err = String::new();
        if let Some(mut o) = self.child.stdout.take() {
            let _ = o.read_to_string(&mut out);
        }
        if let Some(mut e) = self.child.stderr.take() {
            let _ = e.read_to_string(&mut err);
        }
        (status, out, err)
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The cgroup path of `pid` for `controller` ("" for the v2 line).
pub fn proc_cgroup(pid: i32, controller: &str) -> String {
    let content = fs::read_to_string(format!("/proc/{pid}/cgroup")).expect("read /proc/pid/cgroup");
    for line in content.lines() {
        let mut it = line.splitn(3, ':');
        let (_, ctrls, path) = (it.next().unwrap(), it.next().unwrap(), it.next().unwrap());
        if ctrls.split(',').any(|c| c == controller) || (controller.is_empty() && ctrls.is_empty())
        {
            return path.to_string();
        }
    }
    panic!("no {controller} line in /proc/{pid}/cgroup:\n{content}");
}

pub fn read_u64(path: &Path) -> u64 {
    fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
        .trim()
        .parse()
        .expect("number")
}
