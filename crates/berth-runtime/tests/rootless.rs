//! Rootless operation: a `berth-runtime spec --rootless` bundle run by an unprivileged user
//! (nobody, 65534, through `setpriv`), with its state root and XDG_RUNTIME_DIR in a
//! directory that user owns. Root inside is the invoking user outside; cgroups the user
//! cannot create are skipped.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use common::{cgroup_exists, require_root, unique};

const NOBODY: u32 = 65534;

/// `<tmp>/berth-test-rootless-...` owned by nobody: `bundle/`, `state/`, `xdg/`.
struct RootlessDir {
    dir: PathBuf,
    id: String,
    bin: PathBuf,
}

impl RootlessDir {
    fn new(args: &[&str]) -> RootlessDir {
        require_root();
        let id = unique("berth-test-rootless");
        let dir = std::env::temp_dir().join(&id);
        let me = RootlessDir {
            dir: dir.clone(),
            id,
            bin: PathBuf::from(env!("CARGO_BIN_EXE_berth-runtime")),
        };
        for sub in ["bundle", "state", "xdg"] {
            std::fs::create_dir_all(dir.join(sub)).unwrap();
        }
        berth_testkit::busybox_rootfs(&dir.join("bundle/rootfs")).unwrap();
        let st = Command::new("chown")
            .args(["-R", &format!("{NOBODY}:{NOBODY}")])
            .arg(&dir)
            .status()
            .unwrap();
        assert!(st.success());
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
        // `spec --rootless` as the user: the mapping names the user's own uid.
        let o = me.as_nobody(&["spec", "--rootless"], Some(&dir.join("bundle")));
        assert!(o.status.success(), "spec --rootless: {o:?}");
        let cfg = dir.join("bundle/config.json");
        let mut v: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&cfg).unwrap()).unwrap();
        v["process"]["terminal"] = false.into();
        v["process"]["args"] = args
            .iter()
            .map(|a| a.to_string())
            .collect::<Vec<_>>()
            .into();
        std::fs::write(&cfg, serde_json::to_vec(&v).unwrap()).unwrap();
        me
    }

    fn bundle(&self) -> PathBuf {
        self.dir.join("bundle")
    }

    /// berth-runtime as nobody with `--root <dir>/state` (spec has no --root).
    fn as_nobody(&self, args: &[&str], cwd: Option<&Path>) -> Output {
        let mut c = Command::new("setpriv");
        c.args([
            &format!("--reuid={NOBODY}"),
            &format!("--regid={NOBODY}"),
            "--clear-groups",
            "env",
        ])
        .arg(format!(
            "XDG_RUNTIME_DIR={}",
            self.dir.join("xdg").display()
        ))
        .arg(&self.bin);
        if args[0] != "spec" {
            c.arg("--root").arg(self.dir.join("state"));
        }
        c.args(args).stdin(Stdio::null());
        if let Some(d) = cwd {
            c.current_dir(d);
        }
        if args.contains(&"-d") {
            // A detached container keeps the runtime's stdio: give it files, not pipes
            // that `output` would wait on.
            let out = std::fs::File::create(self.dir.join("detached.out")).unwrap();
            let err = std::fs::File::create(self.dir.join("detached.err")).unwrap();
            c.stdout(out).stderr(err);
            let status = c.status().unwrap();
            return Output {
                status,
                stdout: std::fs::read(self.dir.join("detached.out")).unwrap_or_default(),
                stderr: std::fs::read(self.dir.join("detached.err")).unwrap_or_default(),
            };
        }
        c.output().unwrap()
    }

    fn run_args(&self, detach: bool) -> Vec<String> {
        let mut v = vec!["run".to_string()];
        if detach {
            v.push("-d".into());
        }
        v.extend([
            "--bundle".into(),
            self.bundle().to_str().unwrap().into(),
            self.id.clone(),
        ]);
        v
    }
}

impl Drop for RootlessDir {
    fn drop(&mut self) {
        let _ = self.as_nobody(&["delete", "--force", &self.id], None);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn text(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn rootless_run_is_root_inside_and_the_user_outside() {
    let d = RootlessDir::new(&["sh", "-c", "id -u; cat /proc/self/uid_map"]);
    let args = d.run_args(false);
    let o = d.as_nobody(&args.iter().map(String::as_str).collect::<Vec<_>>(), None);
    assert!(
        o.status.success(),
        "rootless run failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let out = text(&o);
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("0"), "{out}");
    let map: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(map, ["0", "65534", "1"]);
    assert!(!cgroup_exists(&d.id), "a rootless run made a host cgroup");
    assert!(
        std::fs::read_dir(d.dir.join("state"))
            .unwrap()
            .next()
            .is_none(),
        "state left behind"
    );
}

#[test]
fn rootless_container_process_runs_as_the_unprivileged_uid_on_the_host() {
    let d = RootlessDir::new(&["sleep", "60"]);
    let args = d.run_args(true);
    let o = d.as_nobody(&args.iter().map(String::as_str).collect::<Vec<_>>(), None);
    assert!(
        o.status.success(),
        "rootless run -d failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let st = d.as_nobody(&["state", &d.id], None);
    let v: serde_json::Value = serde_json::from_slice(&st.stdout).unwrap();
    assert_eq!(v["status"], "running");
    let pid = v["pid"].as_i64().unwrap();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let uids: Vec<u32> = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .unwrap()
        .split_whitespace()
        .map(|x| x.parse().unwrap())
        .collect();
    assert_eq!(
        uids,
        vec![NOBODY; 4],
        "real/effective/saved/fs uid on the host"
    );
    // The state directory and everything the runtime wrote belong to the user.
    use std::os::unix::fs::MetadataExt;
    let sd = d.dir.join("state").join(&d.id);
    assert_eq!(std::fs::metadata(&sd).unwrap().uid(), NOBODY);
    let del = d.as_nobody(&["delete", "--force", &d.id], None);
    assert!(del.status.success(), "{del:?}");
    // Gone, or a zombie waiting for whoever inherited it: not running any more.
    let gone = (0..50).any(|_| {
        let st = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let state = st.lines().find_map(|l| l.strip_prefix("State:"));
        if state.is_none_or(|s| s.trim_start().starts_with('Z')) {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
        false
    });
    assert!(
        gone,
        "container process {pid} still runs after delete --force"
    );
    assert!(!sd.exists(), "state directory left behind");
}
