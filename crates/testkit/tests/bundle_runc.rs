//! Bundle and TestCgroup with a real runtime on the host: Debian's runc runs the bundle, and a
//! relative cgroupsPath lands under the test's own cgroup.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use berth_testkit::{require_root, unique, Bundle, TestCgroup};
use oci_spec::runtime::LinuxMemory;

fn runc(root: &Path) -> Command {
    let mut cmd = Command::new("/usr/sbin/runc");
    cmd.arg("--root").arg(root);
    cmd
}

/// `runc delete -f` on drop, so a failed assertion leaves no container behind.
struct Container<'a>(&'a Path, String);

impl Drop for Container<'_> {
    fn drop(&mut self) {
        let _ = runc(self.0)
            .args(["delete", "-f", &self.1])
            .stderr(Stdio::null())
            .status();
    }
}

#[test]
fn busybox_bundle_runs_under_runc_in_the_test_cgroup() {
    require_root();
    let state = tempfile::tempdir().unwrap();
    let cgroup = TestCgroup::for_current_process().unwrap();
    let mut bundle = Bundle::busybox(&["sh", "-c", "echo hello from $(hostname)"]);
    let relative = unique("berth-test-rel");
    let linux = bundle.spec_mut().linux_mut().as_mut().unwrap();
    linux.set_cgroups_path(Some(PathBuf::from(&relative)));
    let mut memory = LinuxMemory::default();
    memory.set_limit(Some(64 << 20));
    let mut resources = linux.resources().clone().unwrap_or_default();
    resources.set_memory(Some(memory));
    linux.set_resources(Some(resources));
    bundle.write().unwrap();

    let id = bundle.id().to_string();
    {
        // The created container keeps runc's stdio: no pipes, or reading them never ends.
        let log = state.path().join("create.log");
        let created = runc(state.path())
            .args(["create", "--bundle"])
            .arg(bundle.path())
            .arg(&id)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(fs::File::create(&log).unwrap())
            .status()
            .unwrap();
        let _container = Container(state.path(), id.clone());
        assert!(created.success(), "{}", fs::read_to_string(&log).unwrap());
        let placed = cgroup.dir("memory").unwrap().join(&relative);
        let limit = fs::read_to_string(placed.join("memory.limit_in_bytes")).unwrap();
        assert_eq!(limit.trim(), (64u64 << 20).to_string());
    }
    let placed = cgroup.dir("memory").unwrap().join(&relative);
    assert!(!placed.exists(), "runc delete removed its cgroup");

    let run = runc(state.path())
        .args(["run", "--bundle"])
        .arg(bundle.path())
        .arg(&id)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&run.stdout), "hello from runc\n");
}
