//! Containers on the host's tree: copy-on-write isolation, detached runs with logs and exit
//! codes, exit codes as docker's, and recovery after kills at any moment.

mod common;

use std::time::{Duration, Instant};

use common::{mounts_under, unique, Env};

#[test]
fn host_tree_write_is_private() {
    let env = Env::new("hosttree");
    let file = format!("/etc/{}", unique("file"));
    let script = format!("echo secret > {file}; cat {file}; hostname");
    let out = env.ok(&[
        "run",
        "--rm",
        "--hostname",
        "berthbox",
        "--",
        "sh",
        "-c",
        &script,
    ]);
    assert_eq!(out, "secret\nberthbox\n");
    assert!(
        !std::path::Path::new(&file).exists(),
        "the host must not see the container's write"
    );
    // --rm: nothing of the container is left.
    assert_eq!(env.ok(&["ps", "-aq"]), "");
    assert!(mounts_under(&env.root).is_empty());
}

#[test]
fn host_tree_has_own_proc_tmp_and_empty_network() {
    let env = Env::new("ownfs");
    let out = env.ok(&[
        "run",
        "--rm",
        "--",
        "sh",
        "-c",
        "echo $$; ls /tmp | wc -l; ls /sys/class/net; cat /sys/class/net/lo/flags",
    ]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[0], "1",
        "the command is pid 1 of its own pid namespace"
    );
    assert_eq!(lines[1], "0", "/tmp is a fresh tmpfs");
    assert_eq!(
        &lines[2..],
        ["lo", "0x9"],
        "--network none: only lo, and it is up"
    );
}

#[test]
fn exit_codes_are_dockers() {
    let env = Env::new("exitcodes");
    assert_eq!(
        env.run(&["run", "--rm", "--", "sh", "-c", "exit 42"])
            .status
            .code(),
        Some(42)
    );
    assert_eq!(
        env.run(&["run", "--rm", "--", "berth-test-no-such-command"])
            .status
            .code(),
        Some(127)
    );
    // A command that exists but cannot be executed.
    assert_eq!(
        env.run(&["run", "--rm", "--", "/etc/passwd"]).status.code(),
        Some(126)
    );
    assert_eq!(
        env.run(&["rm", "berth-test-missing"]).status.code(),
        Some(125)
    );
    assert_eq!(env.ok(&["ps", "-aq"]), "");
}

#[test]
fn detached_container_outlives_berth_with_logs_and_exit_code() {
    let env = Env::new("detached");
    let started = Instant::now();
    let id = env.ok(&[
        "run",
        "-d",
        "--name",
        "job",
        "-e",
        "GREETING=hello",
        "--",
        "sh",
        "-c",
        "echo $GREETING; echo oops >&2; sleep 2; echo bye; exit 7",
    ]);
    let id = id.trim();
    assert_eq!(id.len(), 64);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "run -d returns at once"
    );
    // berth has exited; the container runs on under its monitor.
    let ps = env.ok(&["ps"]);
    assert!(ps.contains("job") && ps.contains("Running"), "{ps}");
    let rec = env.inspect("job");
    let monitor = rec["monitor_pid"].as_i64().unwrap();
    assert!(std::path::Path::new(&format!("/proc/{monitor}")).exists());
    assert_eq!(env.ok(&["wait", "job"]).trim(), "7");
    let logs = env.run(&["logs", "job"]);
    assert_eq!(String::from_utf8_lossy(&logs.stdout), "hello\nbye\n");
    assert_eq!(String::from_utf8_lossy(&logs.stderr), "oops\n");
    let tail = env.ok(&["logs", "--tail", "1", "-t", "job"]);
    assert!(tail.ends_with(" bye\n") && tail.starts_with("20"), "{tail}");
    let rec = env.inspect("job");
    assert_eq!(rec["state"], "exited");
    assert_eq!(rec["exit_code"], 7);
    // The log is docker's json-file format.
    let raw = std::fs::read_to_string(rec["log_path"].as_str().unwrap()).unwrap();
    let first: serde_json::Value = serde_json::from_str(raw.lines().next().unwrap()).unwrap();
    assert_eq!(first["stream"], "stdout");
    assert_eq!(first["log"], "hello\n");
    env.ok(&["rm", "job"]);
    assert_eq!(env.ok(&["ps", "-aq"]), "");
    assert!(!env.cgroup_dir("memory", id).exists());
}

#[test]
fn stop_exec_rename_restart() {
    let env = Env::new("stopexec");
    env.ok(&[
        "run",
        "-d",
        "--name",
        "svc",
        "--",
        "sh",
        "-c",
        "trap 'exit 0' TERM; while :; do sleep 0.1; done",
    ]);
    assert_eq!(
        env.ok(&["exec", "svc", "sh", "-c", "echo $((6*7))"]),
        "42\n"
    );
    assert_eq!(
        env.run(&["exec", "svc", "sh", "-c", "exit 3"])
            .status
            .code(),
        Some(3)
    );
    let top = env.ok(&["top", "svc"]);
    assert!(top.contains("while"), "{top}");
    env.ok(&["rename", "svc", "svc2"]);
    assert_eq!(
        env.run(&["rm", "svc2"]).status.code(),
        Some(125),
        "running: rm needs -f"
    );
    let t = Instant::now();
    env.ok(&["stop", "-t", "10", "svc2"]);
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "the TERM trap ends it before the timeout"
    );
    assert_eq!(env.inspect("svc2")["exit_code"], 0);
    env.ok(&["restart", "svc2"]);
    assert_eq!(env.inspect("svc2")["state"], "running");
    env.ok(&["rm", "-f", "svc2"]);
    assert_eq!(env.ok(&["ps", "-aq"]), "");
}

/// Kill `berth run -d` at several points, and monitors with SIGKILL: `ps -a` accounts for
/// every container, `rm -f` removes each, and no process, mount or cgroup is left.
#[test]
fn kills_at_any_moment_leave_nothing_unaccounted() {
    let env = Env::new("killany");
    for delay_ms in [0u64, 2, 5, 10, 20, 40, 80, 150] {
        let mut child = env
            .cmd()
            .args(["run", "-d", "--", "sleep", "1000"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = child.kill();
        let _ = child.wait();
    }
    // Monitors killed while they create and start their container.
    for delay_ms in [0u64, 1, 3, 6, 10, 20, 40] {
        let mut child = env
            .cmd()
            .args(["run", "-d", "--", "sleep", "1000"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        for pid in monitors_of(&env) {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
        }
        let _ = child.wait();
    }
    // And a few monitors killed while their container runs.
    for _ in 0..3 {
        env.ok(&["run", "-d", "--", "sleep", "1000"]);
    }
    let list: serde_json::Value =
        serde_json::from_str(&env.ok(&["ps", "-a", "--format", "json"])).unwrap();
    for rec in list.as_array().unwrap() {
        let m = rec["monitor_pid"].as_i64().unwrap();
        if m > 0 && rec["state"] == "running" {
            let _ = rustix::process::kill_process(
                rustix::process::Pid::from_raw(m as i32).unwrap(),
                rustix::process::Signal::KILL,
            );
        }
    }
    std::thread::sleep(Duration::from_millis(200));
    // Every container is listed with a settled state; none claims to run without a monitor.
    let list: serde_json::Value =
        serde_json::from_str(&env.ok(&["ps", "-a", "--format", "json"])).unwrap();
    let recs = list.as_array().unwrap();
    assert!(
        recs.len() >= 3,
        "at least the monitors' containers: {recs:?}"
    );
    for rec in recs {
        let state = rec["state"].as_str().unwrap();
        assert!(state == "exited" || state == "created", "{rec}");
        env.ok(&["rm", "-f", rec["id"].as_str().unwrap()]);
    }
    env.ok(&["system", "prune", "-f"]);
    assert_eq!(env.ok(&["ps", "-aq"]), "");
    assert!(
        mounts_under(&env.root).is_empty(),
        "{:?}",
        mounts_under(&env.root)
    );
    for c in ["memory", "pids", "cpu", "freezer"] {
        let dir = std::path::Path::new("/sys/fs/cgroup")
            .join(c)
            .join(&env.cgroup_parent);
        let left: Vec<_> = std::fs::read_dir(&dir)
            .map(|d| d.flatten().filter(|e| e.path().is_dir()).collect())
            .unwrap_or_default();
        assert!(
            left.is_empty(),
            "cgroups left in {}: {left:?}",
            dir.display()
        );
    }
    let storage = env.root.join("storage");
    let layers: Vec<_> = std::fs::read_dir(&storage)
        .unwrap()
        .flatten()
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .collect();
    assert!(layers.is_empty(), "{layers:?}");
    // No container process survives: nothing is in our cgroup parent (checked above) and
    // no `sleep 1000` of ours runs (each had its own cgroup, now gone).
}

#[test]
fn volumes_read_only_root_env_file_and_workdir() {
    let env = Env::new("volumes");
    let host_dir = env.root.join("shared");
    std::fs::create_dir(&host_dir).unwrap();
    std::fs::write(host_dir.join("in"), "from-host\n").unwrap();
    // Root in the container's user namespace is an unprivileged id to the host's files in a
    // volume (not idmapped): the directory must let it write.
    std::fs::set_permissions(
        &host_dir,
        std::os::unix::fs::PermissionsExt::from_mode(0o777),
    )
    .unwrap();
    let env_file = env.root.join("env");
    std::fs::write(&env_file, "# comment\nA=1\nB=two words\n").unwrap();
    let rw = format!("{}:/data", host_dir.display());
    let ro = format!("{}:/ro:ro", host_dir.display());
    let out = env.ok(&[
        "run", "--rm", "--read-only", "-v", &rw, "-v", &ro, "--env-file",
        env_file.to_str().unwrap(), "-e", "A=override", "-w", "/data", "--", "sh", "-c",
        "cat in; echo out > out; echo $A $B; pwd; touch /etc/x 2>/dev/null || echo root-ro; touch /ro/y 2>/dev/null || echo vol-ro; touch /tmp/z && echo tmp-rw",
    ]);
    assert_eq!(
        out,
        "from-host\noverride two words\n/data\nroot-ro\nvol-ro\ntmp-rw\n"
    );
    assert_eq!(
        std::fs::read_to_string(host_dir.join("out")).unwrap(),
        "out\n"
    );
    assert!(!host_dir.join("y").exists());
}

#[test]
fn logs_follow_until_exit() {
    let env = Env::new("follow");
    env.ok(&[
        "run",
        "-d",
        "--name",
        "f",
        "--",
        "sh",
        "-c",
        "for i in 1 2 3; do echo $i; sleep 0.3; done",
    ]);
    let t = Instant::now();
    let out = env.ok(&["logs", "-f", "f"]);
    assert_eq!(out, "1\n2\n3\n");
    assert!(
        t.elapsed() >= Duration::from_millis(400),
        "-f waited for the later lines"
    );
    env.ok(&["rm", "f"]);
}

#[test]
fn hardened_by_default() {
    let env = Env::new("harden");
    let out = env.ok(&[
        "run", "--rm", "--", "sh", "-c",
        "grep -E '^(Seccomp|NoNewPrivs|CapEff):' /proc/self/status; head -c 1 /proc/kcore 2>/dev/null | wc -c",
    ]);
    let lines: Vec<&str> = out.lines().collect();
    // Docker's 14 default capabilities, the default seccomp filter, no new privileges.
    assert_eq!(lines[0], "CapEff:\t00000000a80425fb", "{out}");
    assert_eq!(lines[1], "NoNewPrivs:\t1", "{out}");
    assert_eq!(lines[2], "Seccomp:\t2", "{out}");
    assert_eq!(
        lines.last().copied(),
        Some("0"),
        "/proc/kcore is masked: {out}"
    );
    // The user namespace is the default; asking for it explicitly works too (see userns.rs).
    env.ok(&["run", "--rm", "--userns", "private", "--", "true"]);
    assert_eq!(env.ok(&["ps", "-aq"]), "");
    assert!(mounts_under(&env.root).is_empty());
}

/// The monitor processes of `env`'s data root (`berth __monitor --root ROOT ...`).
fn monitors_of(env: &Env) -> Vec<rustix::process::Pid> {
    let root = env.root.to_string_lossy().into_owned();
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(cmd) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
            continue;
        };
        let args: Vec<String> = cmd
            .split(|&b| b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        if args.iter().any(|a| a == "__monitor") && args.contains(&root) {
            out.extend(rustix::process::Pid::from_raw(pid));
        }
    }
    out
}

#[test]
fn create_start_kill_and_prune() {
    let env = Env::new("create");
    let id = env.ok(&[
        "create",
        "--name",
        "later",
        "--",
        "sh",
        "-c",
        "trap 'exit 9' USR1; while :; do sleep 0.1; done",
    ]);
    let id = id.trim();
    assert_eq!(env.inspect("later")["state"], "created");
    assert!(env.ok(&["ps", "-a"]).contains("Created"));
    assert!(
        !env.ok(&["ps"]).contains("later"),
        "ps without -a: running only"
    );
    env.ok(&["start", "later"]);
    assert_eq!(env.inspect(id)["state"], "running");
    env.ok(&["kill", "-s", "USR1", &id[..12]]);
    assert_eq!(env.ok(&["wait", "later"]).trim(), "9");
    let pruned = env.ok(&["system", "prune", "-f"]);
    assert!(pruned.contains(id), "{pruned}");
    assert_eq!(env.ok(&["ps", "-aq"]), "");
}

#[test]
fn import_a_rootfs_tarball_and_run_it() {
    let env = Env::new("import");
    let rootfs = env.root.join("rootfs");
    std::fs::create_dir_all(rootfs.join("bin")).unwrap();
    std::fs::copy("/bin/busybox", rootfs.join("bin/busybox")).unwrap();
    std::os::unix::fs::symlink("busybox", rootfs.join("bin/sh")).unwrap();
    let tarball = env.root.join("rootfs.tar");
    let st = std::process::Command::new("tar")
        .arg("-C")
        .arg(&rootfs)
        .arg("-cf")
        .arg(&tarball)
        .arg(".")
        .status()
        .unwrap();
    assert!(st.success());
    env.ok(&["import", tarball.to_str().unwrap(), "berth-test/imported:1"]);
    let out = env.ok(&[
        "run",
        "--rm",
        "berth-test/imported:1",
        "/bin/sh",
        "-c",
        "echo imported; /bin/busybox ls /",
    ]);
    assert!(out.starts_with("imported\n"), "{out}");
    assert!(out.contains("bin"), "{out}");
}
