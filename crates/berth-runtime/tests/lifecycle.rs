//! runc's verbs against the real kernel: run, create/start/state/kill/delete, exec, ps,
//! list, pause/resume, and the errors and exit codes runc gives.

mod common;

use std::time::{Duration, Instant};

use common::*;

#[test]
fn run_true_exits_zero_and_leaves_nothing() {
    let rt = Runtime::new();
    let b = Bundle::busybox(&["/bin/true"]);
    let (code, _, err) = rt.run(&b);
    assert_eq!(code, 0, "stderr: {err}");
    assert!(!rt.root.join(b.id()).exists(), "state dir left behind");
    assert!(!cgroup_exists(b.cgroups_path()), "cgroup left behind");
}

#[test]
fn run_passes_exit_code_and_stdio() {
    let rt = Runtime::new();
    let b = Bundle::busybox(&["sh", "-c", "echo hello-from-ctr; echo oops >&2; exit 7"]);
    let (code, out, err) = rt.run(&b);
    assert_eq!(code, 7);
    assert_eq!(out.trim(), "hello-from-ctr");
    assert!(err.contains("oops"), "stderr: {err}");
}

#[test]
fn killed_container_exits_128_plus_signal() {
    let rt = Runtime::new();
    let b = Bundle::busybox(&["sleep", "100"]);
    let mut run = rt
        .cmd()
        .args(["run", "--bundle", path(b.path()), b.id()])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !rt.out(&["state", b.id()]).status.success() || rt.status(b.id()) != "running" {
        assert!(Instant::now() < deadline, "container did not start");
        std::thread::sleep(Duration::from_millis(10));
    }
    rt.ok(&["kill", b.id(), "KILL"]);
    let status = run.wait().unwrap();
    assert_eq!(status.code(), Some(137));
    assert!(!rt.root.join(b.id()).exists());
}

#[test]
fn run_forwards_signals_to_the_container() {
    let rt = Runtime::new();
    let b = Bundle::busybox(&[
        "sh",
        "-c",
        "trap 'exit 42' TERM; while :; do sleep 0.05; done",
    ]);
    let mut run = rt
        .cmd()
        .args(["run", "--bundle", path(b.path()), b.id()])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !rt.out(&["state", b.id()]).status.success() || rt.status(b.id()) != "running" {
        assert!(Instant::now() < deadline, "container did not start");
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(100));
    // SIGTERM to the runtime reaches the container's init, whose trap exits 42.
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &run.id().to_string()])
        .status();
    let status = run.wait().unwrap();
    assert_eq!(status.code(), Some(42));
}

#[test]
fn create_start_state_kill_delete() {
    let rt = Runtime::new();
    let b = Bundle::busybox(&["sleep", "100"]);
    let pidfile = b.path().join("pid");
    rt.ok(&[
        "create",
        "--bundle",
        path(b.path()),
        "--pid-file",
        path(&pidfile),
        b.id(),
    ]);
    let st = rt.state(b.id());
    assert_eq!(st["status"], "created");
    assert_eq!(st["id"], b.id());
    let pid = st["pid"].as_i64().expect("pid");
    assert!(pid > 0);
    assert_eq!(
        std::fs::read_to_string(&pidfile).unwrap().trim(),
        pid.to_string()
    );
    assert_eq!(st["bundle"], path(b.path()));
    // The init waits in the container's cgroup before start.
    let cg = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    assert!(cg.contains(b.id()), "init not in its cgroup: {cg}");

    rt.ok(&["start", b.id()]);
    assert_eq!(rt.status(b.id()), "running");
    // `start` returns once the init is released (runc's semantics); its execve follows
    // right after, so wait for the program's name rather than read it once.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let comm = loop {
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap();
        if comm.trim() == "sleep" || std::time::Instant::now() > deadline {
            break comm;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    };
    assert_eq!(comm.trim(), "sleep");

    // runc's wording for the wrong-status errors.
    let o = rt.out(&["start", b.id()]);
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("cannot start an already running container")
    );
    let o = rt.out(&["delete", b.id()]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("is not stopped"));

    rt.ok(&["kill", b.id(), "KILL"]);
    let deadline = Instant::now() + Duration::from_secs(5);
    while rt.status(b.id()) != "stopped" {
        assert!(Instant::now() < deadline, "container did not stop");
        std::thread::sleep(Duration::from_millis(10));
    }
    let o = rt.out(&["start", b.id()]);
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("cannot start a container that has stopped")
    );
    let o = rt.out(&["kill", b.id()]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("container not running"));
    rt.ok(&["delete", b.id()]);
    assert!(!rt.root.join(b.id()).exists());
    assert!(!cgroup_exists(b.cgroups_path()));
    let o = rt.out(&["state", b.id()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("does not exist"));
}

#[test]
fn duplicate_id_is_refused_and_original_untouched() {
    let rt = Runtime::new();
    let b = Bundle::busybox(&["sleep", "100"]);
    rt.ok(&["create", "--bundle", path(b.path()), b.id()]);
    let o = rt.out(&["create", "--bundle", path(b.path()), b.id()]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("container with id exists"), "{err}");
    assert_eq!(rt.status(b.id()), "created");
    rt.ok(&["delete", "--force", b.id()]);
    assert!(!cgroup_exists(b.cgroups_path()));
}

#[test]
fn delete_force_kills_running_container() {
    let rt = Runtime::new();
    let b = Bundle::busybox(&["sleep", "100"]);
    rt.ok(&["run", "--detach", "--bundle", path(b.path()), b.id()]);
    let pid = rt.state(b.id())["pid"].as_i64().unwrap();
    assert_eq!(rt.status(b.id()), "running");
    rt.ok(&["delete", "--force", b.id()]);
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}/comm")).exists()
            || std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .map(|s| s.contains(" Z "))
                .unwrap_or(true)
    );
    assert!(!rt.root.join(b.id()).exists());
    assert!(!cgroup_exists(b.cgroups_path()));
    // Deleting what does not exist: an error, except with --force (containerd relies on it).
    assert!(!rt.out(&["delete", b.id()]).status.success());
    rt.ok(&["delete", "--force", b.id()]);
}

#[test]
fn exec_runs_in_the_container() {
    let rt = Runtime::new();
    let mut b = Bundle::busybox(&["sleep", "100"]);
    b.spec_mut().set_hostname(Some("ctr-exec".into()));
    b.write().unwrap();
    rt.ok(&["run", "-d", "--bundle", path(b.path()), b.id()]);
    let out = rt.ok(&[
        "exec",
        "-e",
        "FOO=bar",
        b.id(),
        "sh",
        "-c",
        "echo $FOO $(hostname) $$; cat /proc/1/comm",
    ]);
    let mut lines = out.lines();
    let first: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(first[0], "bar");
    assert_eq!(first[1], "ctr-exec");
    assert_ne!(first[2], "1", "exec'd process must not be pid 1");
    assert_eq!(lines.next().unwrap().trim(), "sleep");
    // The exec'd process's exit code comes back.
    let o = rt.out(&["exec", b.id(), "sh", "-c", "exit 5"]);
    assert_eq!(o.status.code(), Some(5));
    // ps lists init (and nothing else now).
    let pids: Vec<i64> = serde_json::from_str(&rt.ok(&["ps", "--format", "json", b.id()])).unwrap();
    assert_eq!(pids, vec![rt.state(b.id())["pid"].as_i64().unwrap()]);
    // A missing program: exec fails with an error naming it.
    let o = rt.out(&["exec", b.id(), "/no/such/prog"]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("/no/such/prog"));
    rt.ok(&["delete", "--force", b.id()]);
}

#[test]
fn pause_and_resume_freeze_the_container() {
    let rt = Runtime::new();
    let b = Bundle::busybox(&["sh", "-c", "while true; do echo x >/dev/null; done"]);
    rt.ok(&["run", "-d", "--bundle", path(b.path()), b.id()]);
    rt.ok(&["pause", b.id()]);
    assert_eq!(rt.status(b.id()), "paused");
    let pid = rt.state(b.id())["pid"].as_i64().unwrap();
    let ticks = |pid: i64| -> u64 {
        let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
        let f: Vec<&str> = s[s.rfind(')').unwrap() + 2..].split(' ').collect();
        f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
    };
    let t0 = ticks(pid);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(ticks(pid), t0, "a frozen process used cpu");
    let o = rt.out(&["exec", b.id(), "true"]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("paused"));
    rt.ok(&["resume", b.id()]);
    assert_eq!(rt.status(b.id()), "running");
    std::thread::sleep(Duration::from_millis(300));
    assert!(ticks(pid) > t0, "a resumed process made no progress");
    rt.ok(&["delete", "--force", b.id()]);
}

#[test]
fn list_shows_containers() {
    let rt = Runtime::new();
    let b = Bundle::busybox(&["sleep", "100"]);
    rt.ok(&["create", "--bundle", path(b.path()), b.id()]);
    let table = rt.ok(&["list"]);
    assert!(table.starts_with("ID"));
    assert!(table.contains(b.id()) && table.contains("created"));
    let json: serde_json::Value =
        serde_json::from_str(&rt.ok(&["list", "--format", "json"])).unwrap();
    assert_eq!(json[0]["id"], b.id());
    assert_eq!(rt.ok(&["list", "-q"]).trim(), b.id());
    rt.ok(&["delete", "--force", b.id()]);
}

#[test]
fn kill_all_signals_every_process() {
    let rt = Runtime::new();
    let b = Bundle::busybox(&["sh", "-c", "sleep 100 & sleep 100 & wait"]);
    rt.ok(&["run", "-d", "--bundle", path(b.path()), b.id()]);
    std::thread::sleep(Duration::from_millis(200));
    let pids: Vec<i64> = serde_json::from_str(&rt.ok(&["ps", "-f", "json", b.id()])).unwrap();
    assert_eq!(pids.len(), 3, "pids: {pids:?}");
    rt.ok(&["kill", "--all", b.id(), "KILL"]);
    let deadline = Instant::now() + Duration::from_secs(5);
    while rt.status(b.id()) != "stopped" {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(10));
    }
    rt.ok(&["delete", b.id()]);
}

/// `process.terminal` with `--console-socket`, as containerd's shim and podman's conmon use
/// it: the pty master arrives over the socket and the container's stdio is the pty slave.
#[test]
fn terminal_master_is_sent_over_the_console_socket() {
    use std::io::{IoSliceMut, Read};
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
    use std::os::unix::net::UnixListener;

    use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};

    let rt = Runtime::new();
    let mut b = Bundle::busybox(&["sh", "-c", "tty; echo term-ok; sleep 1"]);
    b.spec_mut()
        .process_mut()
        .as_mut()
        .unwrap()
        .set_terminal(Some(true));
    b.write().unwrap();
    let sock_path = b.path().join("console.sock");
    let listener = UnixListener::bind(&sock_path).unwrap();
    let sock = path(&sock_path).to_string();
    let bundle = path(b.path()).to_string();
    let id = b.id().to_string();
    let out = std::thread::scope(|s| {
        let creator = s.spawn(|| {
            rt.out(&[
                "create",
                "--bundle",
                &bundle,
                "--console-socket",
                &sock,
                &id,
            ])
        });
        let (conn, _) = listener.accept().unwrap();
        let mut buf = [0u8; 64];
        let mut cmsg = nix::cmsg_space!([RawFd; 1]);
        let mut iov = [IoSliceMut::new(&mut buf)];
        let msg = recvmsg::<()>(
            conn.as_raw_fd(),
            &mut iov,
            Some(&mut cmsg),
            MsgFlags::empty(),
        )
        .unwrap();
        let mut master = None;
        for c in msg.cmsgs().unwrap() {
            if let ControlMessageOwned::ScmRights(fds) = c {
                // SAFETY: SCM_RIGHTS gave us a new descriptor that nobody else owns.
                master = Some(unsafe { OwnedFd::from_raw_fd(fds[0]) });
            }
        }
        let created = creator.join().unwrap();
        (master.expect("no pty master received"), created)
    });
    let (master, created) = out;
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    rt.ok(&["start", b.id()]);
    let mut f = std::fs::File::from(master);
    let mut text = String::new();
    let mut chunk = [0u8; 256];
    let deadline = Instant::now() + Duration::from_secs(5);
    while !text.contains("term-ok") && Instant::now() < deadline {
        match f.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => text.push_str(&String::from_utf8_lossy(&chunk[..n])),
        }
    }
    assert!(text.contains("/dev/pts/0"), "not on a pty: {text:?}");
    assert!(text.contains("term-ok"), "{text:?}");
    rt.ok(&["delete", "--force", b.id()]);
}
