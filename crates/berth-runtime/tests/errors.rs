//! Bad input: each case gets a one-line error naming the problem, exit code 1, and leaves
//! no state directory, cgroup, mount or process behind.

mod common;

use common::*;

fn assert_clean_failure(rt: &Runtime, b: &Bundle, args: &[&str], needle: &str) {
    let o = rt.out(args);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{args:?}: stderr={err}");
    assert!(
        err.contains(needle),
        "{args:?}: error should mention {needle:?}: {err}"
    );
    assert_eq!(
        err.trim().lines().count(),
        1,
        "error should be one line: {err}"
    );
    assert!(!rt.root.join(b.id()).exists(), "state dir left behind");
    assert!(!cgroup_exists(b.cgroups_path()), "cgroup left behind");
    assert!(host_mounts_with(b.id()).is_empty(), "mount left behind");
}

#[test]
fn missing_config() {
    let rt = Runtime::new();
    let b = Bundle::busybox(&["true"]);
    std::fs::remove_file(b.config_path()).unwrap();
    assert_clean_failure(
        &rt,
        &b,
        &["run", "--bundle", path(b.path()), b.id()],
        "config.json",
    );
}

#[test]
fn malformed_config() {
    let rt = Runtime::new();
    let b = Bundle::busybox(&["true"]);
    std::fs::write(b.config_path(), "{\"ociVersion\": \"1.0\", \"process\": ").unwrap();
    assert_clean_failure(
        &rt,
        &b,
        &["create", "--bundle", path(b.path()), b.id()],
        "parse config",
    );
}

#[test]
fn unknown_namespace_type() {
    let rt = Runtime::new();
    let b = Bundle::busybox(&["true"]);
    let text = std::fs::read_to_string(b.config_path()).unwrap();
    std::fs::write(b.config_path(), text.replace("\"uts\"", "\"bogus\"")).unwrap();
    assert_clean_failure(
        &rt,
        &b,
        &["create", "--bundle", path(b.path()), b.id()],
        "bogus",
    );
}

#[test]
fn missing_rootfs() {
    let rt = Runtime::new();
    let b = Bundle::busybox(&["true"]);
    std::fs::remove_dir_all(b.rootfs()).unwrap();
    assert_clean_failure(
        &rt,
        &b,
        &["run", "--bundle", path(b.path()), b.id()],
        "rootfs",
    );
}

#[test]
fn missing_program() {
    let rt = Runtime::new();
    let b = Bundle::busybox(&["/bin/definitely-not-here"]);
    assert_clean_failure(
        &rt,
        &b,
        &["run", "--bundle", path(b.path()), b.id()],
        "/bin/definitely-not-here",
    );
}

#[test]
fn bad_cwd() {
    let rt = Runtime::new();
    let mut b = Bundle::busybox(&["true"]);
    b.spec_mut()
        .process_mut()
        .as_mut()
        .unwrap()
        .set_cwd("/no/such/dir".into());
    b.write().unwrap();
    assert_clean_failure(
        &rt,
        &b,
        &["run", "--bundle", path(b.path()), b.id()],
        "/no/such/dir",
    );
}

#[test]
fn invalid_container_id() {
    let rt = Runtime::new();
    let b = Bundle::busybox(&["true"]);
    let o = rt.out(&["create", "--bundle", path(b.path()), "../escape"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("invalid container id"));
    assert!(!rt.root.join("..").join("escape").exists());
}

/// A hook running `/bin/sh -c script`.
fn sh_hook(script: &str) -> oci_spec::runtime::Hook {
    oci_spec::runtime::HookBuilder::default()
        .path("/bin/sh")
        .args(vec!["sh".to_string(), "-c".to_string(), script.to_string()])
        .build()
        .unwrap()
}

#[test]
fn failing_prestart_hook_cleans_up() {
    let rt = Runtime::new();
    let mut b = Bundle::busybox(&["sleep", "100"]);
    let hooks = oci_spec::runtime::HooksBuilder::default()
        .create_runtime(vec![sh_hook("exit 3")])
        .build()
        .unwrap();
    b.spec_mut().set_hooks(Some(hooks));
    b.write().unwrap();
    assert_clean_failure(
        &rt,
        &b,
        &["create", "--bundle", path(b.path()), b.id()],
        "createRuntime hook #0",
    );
}

#[test]
fn hook_timeout_cleans_up() {
    let rt = Runtime::new();
    let mut b = Bundle::busybox(&["sleep", "100"]);
    let mut hook = sh_hook("sleep 30");
    hook.set_timeout(Some(1));
    let hooks = oci_spec::runtime::HooksBuilder::default()
        .prestart(vec![hook])
        .build()
        .unwrap();
    b.spec_mut().set_hooks(Some(hooks));
    b.write().unwrap();
    assert_clean_failure(
        &rt,
        &b,
        &["run", "--bundle", path(b.path()), b.id()],
        "timed out",
    );
}

#[test]
fn hooks_get_state_on_stdin_in_order() {
    let rt = Runtime::new();
    let mut b = Bundle::busybox(&["true"]);
    let log = b.path().join("hooks.log");
    let mk = |name: &str| {
        sh_hook(&format!(
            "read -r s; echo \"{name} $s\" >> {}",
            log.display()
        ))
    };
    let hooks = oci_spec::runtime::HooksBuilder::default()
        .prestart(vec![mk("prestart")])
        .create_runtime(vec![mk("createRuntime")])
        .create_container(vec![mk("createContainer")])
        .start_container(vec![sh_hook(
            "read -r s; echo START-HOOK-IN-CONTAINER $(hostname)",
        )])
        .poststart(vec![mk("poststart")])
        .poststop(vec![mk("poststop")])
        .build()
        .unwrap();
    b.spec_mut().set_hooks(Some(hooks));
    b.write().unwrap();
    let (code, out, err) = rt.run(&b);
    assert_eq!(code, 0, "{err}");
    // startContainer ran inside the container (its hostname), after start.
    assert!(out.contains("START-HOOK-IN-CONTAINER"), "{out}");
    let text = std::fs::read_to_string(&log).unwrap();
    let names: Vec<&str> = text.lines().map(|l| l.split(' ').next().unwrap()).collect();
    assert_eq!(
        names,
        vec![
            "prestart",
            "createRuntime",
            "createContainer",
            "poststart",
            "poststop"
        ]
    );
    for line in text.lines() {
        let json = line.split_once(' ').unwrap().1;
        let v: serde_json::Value = serde_json::from_str(json).unwrap();
        assert_eq!(v["id"], b.id());
        assert!(v["ociVersion"].is_string());
        // Every hook gets the init's pid as the host sees it.
        let pid = v["pid"].as_i64().unwrap_or(0);
        assert!(
            pid > 1 || v["status"] == "stopped",
            "hook state pid: {line}"
        );
    }
}

#[test]
fn json_log_format_for_containerd() {
    let rt = Runtime::new();
    let b = Bundle::busybox(&["true"]);
    std::fs::remove_file(b.config_path()).unwrap();
    let log = b.path().join("log.json");
    let o = rt.out(&[
        "--log",
        path(&log),
        "--log-format",
        "json",
        "create",
        "--bundle",
        path(b.path()),
        b.id(),
    ]);
    assert!(!o.status.success());
    let text = std::fs::read_to_string(&log).unwrap();
    let v: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert_eq!(v["level"], "error");
    assert!(v["msg"].as_str().unwrap().contains("config.json"));
    assert!(v["time"].is_string());
}

#[test]
fn spec_and_features() {
    let rt = Runtime::new();
    let dir = tempfile_dir();
    rt.ok(&["spec", "--bundle", path(&dir)]);
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("config.json")).unwrap()).unwrap();
    assert_eq!(v["process"]["args"][0], "sh");
    let o = rt.out(&["spec", "--bundle", path(&dir)]);
    assert!(!o.status.success(), "spec must not overwrite config.json");
    std::fs::remove_file(dir.join("config.json")).unwrap();
    rt.ok(&["spec", "--rootless", "--bundle", path(&dir)]);
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("config.json")).unwrap()).unwrap();
    assert!(v["linux"]["uidMappings"].is_array());
    let f: serde_json::Value = serde_json::from_str(&rt.ok(&["features"])).unwrap();
    assert!(f["linux"]["namespaces"].as_array().unwrap().len() >= 7);
    std::fs::remove_dir_all(&dir).unwrap();
}

fn tempfile_dir() -> std::path::PathBuf {
    let d = std::env::temp_dir().join(unique("berth-test-spec"));
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn systemd_cgroup_is_a_clear_error() {
    let rt = Runtime::new();
    let b = Bundle::busybox(&["true"]);
    assert_clean_failure(
        &rt,
        &b,
        &[
            "--systemd-cgroup",
            "run",
            "--bundle",
            path(b.path()),
            b.id(),
        ],
        "systemd",
    );
}

#[test]
fn program_that_cannot_be_executed() {
    let rt = Runtime::new();
    let b = Bundle::busybox(&["/etc/passwd"]);
    assert_clean_failure(
        &rt,
        &b,
        &["run", "--bundle", path(b.path()), b.id()],
        "ermission denied",
    );
}
