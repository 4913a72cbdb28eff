//! Relative and default cgroupsPath resolve below the calling process's own cgroup. The
//! test re-runs itself as a child process, moves that child into a cgroup of ours and lets
//! it create its container cgroups there (nothing is ever created under the machine's own
//! cgroups). Needs root.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use berth_cgroups::{Manager, SavedCgroup};
use common::Cg;

const CHILD_ENV: &str = "BERTH_CGROUPS_RELATIVE_CHILD";
const MARK: &str = "BERTH-SAVED:";
const TEST: &str = "relative_and_default_paths_resolve_under_own_cgroup";

struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn child_mode() {
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).unwrap();
    for path in [Some("inner/../inner/ctr"), None] {
        let m = Manager::new(path, "berth-default-id", false).unwrap();
        m.create().unwrap();
        println!("{MARK}{}", serde_json::to_string(&m.saved()).unwrap());
    }
}

#[test]
fn relative_and_default_paths_resolve_under_own_cgroup() {
    if std::env::var_os(CHILD_ENV).is_some() {
        return child_mode();
    }
    let base = Cg::new("relbase");
    let mut child = KillOnDrop(
        Command::new(std::env::current_exe().unwrap())
            .args([TEST, "--exact", "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    base.mgr.add_process(child.0.id() as i32).unwrap();
    child.0.stdin.take().unwrap().write_all(b"\n").unwrap();
    let out = BufReader::new(child.0.stdout.take().unwrap());
    let saved: Vec<SavedCgroup> = out
        .lines()
        .map_while(Result::ok)
        // libtest may print "test <name> ... " on the same line before our output.
        .filter_map(|l| {
            l.find(MARK)
                .map(|at| serde_json::from_str(&l[at + MARK.len()..]).unwrap())
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(10);
    while child.0.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "child hangs");
        std::thread::sleep(Duration::from_millis(10));
    }
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.0.stderr.take().unwrap(), &mut err).unwrap();
    assert_eq!(saved.len(), 2, "child stderr: {err}");
    let base_paths = base.mgr.paths();
    for (saved, rel) in saved.iter().zip(["inner/ctr", "berth-default-id"]) {
        let m = Manager::from_saved(saved).unwrap();
        let paths = m.paths();
        assert_eq!(paths.len(), base_paths.len());
        for (c, dir) in &paths {
            assert_eq!(*dir, base_paths[c].join(rel), "controller {c}");
            assert!(dir.is_dir(), "{}", dir.display());
        }
        m.destroy().unwrap();
        assert!(paths.values().all(|d| !d.exists()));
    }
}
