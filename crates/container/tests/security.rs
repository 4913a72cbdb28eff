//! Process security against the real kernel: a child is forked with `pre_exec` running the
//! functions under test (after fork, single-threaded, like the container's init), then
//! execs busybox or cat, and the effect is read back from /proc or with the matching
//! get-syscall. Needs root.

use std::io::Read;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use berth_container::process::{identity, rlimits, scheduling};
use berth_container::security::{
    self, capabilities, compile_seccomp, finalize_process, load_seccomp, send_seccomp_fd,
    set_no_new_privs, ProcessSecurity,
};
use berth_sys::process as sys;
use berth_testkit::{busybox_path, require_root, unique};
use oci_spec::runtime::{
    ContainerProcessState, LinuxCapabilities, LinuxIOPriority, LinuxPersonality, LinuxSeccomp,
    PosixRlimit, Scheduler, User,
};

fn json<T: serde::de::DeserializeOwned>(s: &str) -> T {
    serde_json::from_str(s).unwrap()
}

/// Run `argv` with `f` applied in the child before exec. An error from `f` comes back with
/// its full message (std only passes the errno), through a close-on-exec pipe.
fn run_with<F>(argv: &[&str], f: F) -> Result<Output, String>
where
    F: FnMut() -> Result<(), String> + Send + Sync + 'static,
{
    let mut cmd = command(argv);
    let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
    install(&mut cmd, w.as_raw_fd(), f);
    let out = cmd.output();
    drop(w);
    let msg = read_all(r);
    if !msg.is_empty() {
        return Err(msg);
    }
    out.map_err(|e| format!("spawn: {e}"))
}

/// Like `run_with`, but leaves the child running (killed and reaped on drop).
fn spawn_with<F>(argv: &[&str], f: F) -> Result<Running, String>
where
    F: FnMut() -> Result<(), String> + Send + Sync + 'static,
{
    let mut cmd = command(argv);
    let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
    install(&mut cmd, w.as_raw_fd(), f);
    let child = cmd.spawn();
    drop(w);
    let msg = read_all(r);
    if !msg.is_empty() {
        return Err(msg);
    }
    child.map(Running).map_err(|e| format!("spawn: {e}"))
}

fn command(argv: &[&str]) -> Command {
    let mut cmd = Command::new(argv[0]);
    cmd.args(&argv[1..])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

fn install<F>(cmd: &mut Command, wfd: i32, mut f: F)
where
    F: FnMut() -> Result<(), String> + Send + Sync + 'static,
{
    // SAFETY: the closure runs in the forked child before exec. It only calls the code
    // under test and write(2); the test binary is linked with glibc, whose fork handlers
    // leave malloc usable in the child.
    unsafe {
        cmd.pre_exec(move || match f() {
            Ok(()) => Ok(()),
            Err(msg) => {
                let fd = BorrowedFd::borrow_raw(wfd);
                let _ = nix::unistd::write(fd, msg.as_bytes());
                Err(std::io::Error::from_raw_os_error(libc::EPERM))
            }
        });
    }
}

fn read_all(fd: OwnedFd) -> String {
    let mut s = String::new();
    std::fs::File::from(fd).read_to_string(&mut s).unwrap();
    s
}

struct Running(Child);

impl Running {
    fn pid(&self) -> i32 {
        self.0.id() as i32
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A directory under the temp dir, removed (with its contents) on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        let p = std::env::temp_dir().join(unique("berth-test-security"));
        std::fs::create_dir(&p).unwrap();
        TempDir(p)
    }
    fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn bb() -> String {
    busybox_path().to_str().unwrap().to_string()
}

/// The value of `key:` in a /proc/<pid>/status text.
fn status_field(status: &str, key: &str) -> String {
    status
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{key}:")))
        .unwrap_or_else(|| panic!("no {key} in status:\n{status}"))
        .trim()
        .to_string()
}

fn status_mask(status: &str, key: &str) -> u64 {
    u64::from_str_radix(&status_field(status, key), 16).unwrap()
}

fn cap_mask(names: &[&str]) -> u64 {
    names.iter().fold(0, |m, n| {
        m | 1 << capabilities::number(capabilities::parse(n).unwrap()).unwrap()
    })
}

fn caps_json(
    bnd: &[&str],
    eff: &[&str],
    prm: &[&str],
    inh: &[&str],
    amb: &[&str],
) -> LinuxCapabilities {
    let j = serde_json::json!({
        "bounding": bnd, "effective": eff, "permitted": prm, "inheritable": inh, "ambient": amb,
    });
    serde_json::from_value(j).unwrap()
}

fn cat_status(f: impl FnMut() -> Result<(), String> + Send + Sync + 'static) -> String {
    let out = run_with(&["/bin/cat", "/proc/self/status"], f).unwrap();
    assert!(out.status.success(), "cat failed: {}", stderr(&out));
    stdout(&out)
}

fn err<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}

fn no_privs(user: &User, caps: Option<&LinuxCapabilities>, nnp: bool) -> ProcessSecurity<'static> {
    // Leaked so the borrow can move into the 'static pre_exec closure; tests only.
    let user: &'static User = Box::leak(Box::new(user.clone()));
    let caps: Option<&'static LinuxCapabilities> = caps.map(|c| &*Box::leak(Box::new(c.clone())));
    ProcessSecurity {
        rlimits: &[],
        oom_score_adj: None,
        scheduler: None,
        io_priority: None,
        personality: None,
        user,
        in_user_ns: false,
        capabilities: caps,
        no_new_privileges: nnp,
    }
}

#[test]
fn capabilities_as_root_match_all_five_sets() {
    require_root();
    let bnd = [
        "CAP_CHOWN",
        "CAP_KILL",
        "CAP_NET_BIND_SERVICE",
        "CAP_SETPCAP",
        "CAP_SYS_ADMIN",
    ];
    let inh = ["CAP_KILL", "CAP_NET_BIND_SERVICE"];
    let amb = ["CAP_NET_BIND_SERVICE"];
    let caps = caps_json(&bnd, &bnd, &bnd, &inh, &amb);
    let status = cat_status(move || security::drop_bounding_and_set_caps(&caps).map_err(err));
    // uid 0 after execve: permitted = inheritable | bounding, effective = permitted.
    assert_eq!(status_mask(&status, "CapBnd"), cap_mask(&bnd));
    assert_eq!(status_mask(&status, "CapPrm"), cap_mask(&bnd));
    assert_eq!(status_mask(&status, "CapEff"), cap_mask(&bnd));
    assert_eq!(status_mask(&status, "CapInh"), cap_mask(&inh));
    assert_eq!(status_mask(&status, "CapAmb"), cap_mask(&amb));
}

#[test]
fn capabilities_for_a_user_survive_the_uid_switch_through_ambient() {
    require_root();
    let bnd = [
        "CAP_CHOWN",
        "CAP_KILL",
        "CAP_NET_BIND_SERVICE",
        "CAP_NET_RAW",
    ];
    let kept = ["CAP_KILL", "CAP_NET_BIND_SERVICE"];
    let caps = caps_json(&bnd, &kept, &kept, &kept, &kept);
    let user: User = json(r#"{"uid":1000,"gid":1000}"#);
    let status = cat_status(move || {
        identity::switch_user(&user, false).map_err(err)?;
        security::drop_bounding_and_set_caps(&caps).map_err(err)
    });
    assert_eq!(status_field(&status, "Uid"), "1000\t1000\t1000\t1000");
    // Non-root after execve: permitted = effective = ambient.
    assert_eq!(status_mask(&status, "CapBnd"), cap_mask(&bnd));
    assert_eq!(status_mask(&status, "CapPrm"), cap_mask(&kept));
    assert_eq!(status_mask(&status, "CapEff"), cap_mask(&kept));
    assert_eq!(status_mask(&status, "CapInh"), cap_mask(&kept));
    assert_eq!(status_mask(&status, "CapAmb"), cap_mask(&kept));
}

#[test]
fn no_capabilities_object_drops_everything() {
    require_root();
    let p = no_privs(&json(r#"{"uid":0,"gid":0}"#), None, false);
    let status = cat_status(move || {
        finalize_process(&p, None, |_| Ok(()))
            .map(drop)
            .map_err(err)
    });
    for key in ["CapBnd", "CapPrm", "CapEff", "CapInh", "CapAmb"] {
        assert_eq!(status_mask(&status, key), 0, "{key}");
    }
}

#[test]
fn ambient_capability_outside_inheritable_is_skipped_like_runc() {
    require_root();
    // runc's own default spec asks for ambient capabilities without inheritable ones and
    // only warns: the container starts, without those ambient capabilities.
    let caps = caps_json(
        &["CAP_KILL", "CAP_CHOWN"],
        &["CAP_KILL", "CAP_CHOWN"],
        &["CAP_KILL", "CAP_CHOWN"],
        &["CAP_CHOWN"],
        &["CAP_KILL", "CAP_CHOWN"],
    );
    assert_eq!(
        capabilities::skipped_ambient(&caps),
        vec![capabilities::parse("CAP_KILL").unwrap()]
    );
    let status = cat_status(move || security::drop_bounding_and_set_caps(&caps).map_err(err));
    assert_eq!(status_mask(&status, "CapAmb"), cap_mask(&["CAP_CHOWN"]));
    assert_eq!(status_mask(&status, "CapInh"), cap_mask(&["CAP_CHOWN"]));
}

#[test]
fn switch_user_sets_ids_groups_and_umask() {
    require_root();
    let user: User = json(r#"{"uid":1234,"gid":2345,"additionalGids":[3000,3001],"umask":23}"#);
    let status = cat_status(move || identity::switch_user(&user, false).map_err(err));
    assert_eq!(status_field(&status, "Uid"), "1234\t1234\t1234\t1234");
    assert_eq!(status_field(&status, "Gid"), "2345\t2345\t2345\t2345");
    assert_eq!(status_field(&status, "Groups"), "3000 3001");
    assert_eq!(status_field(&status, "Umask"), "0027");
}

#[test]
fn switch_user_without_additional_gids_clears_inherited_groups() {
    require_root();
    let user: User = json(r#"{"uid":0,"gid":0}"#);
    let status = cat_status(move || {
        nix::unistd::setgroups(&[nix::unistd::Gid::from_raw(4242)]).map_err(err)?;
        identity::switch_user(&user, false).map_err(err)
    });
    assert_eq!(status_field(&status, "Groups"), "");
    assert_eq!(status_field(&status, "Umask"), "0022");
}

#[test]
fn no_new_privs_and_seccomp_show_in_status() {
    require_root();
    let profile: LinuxSeccomp = json(
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["reboot"],"action":"SCMP_ACT_ERRNO"}]}"#,
    );
    let compiled = compile_seccomp(&profile).unwrap();
    assert!(!compiled.uses_notify());
    let mut compiled = Some(compiled);
    let status = cat_status(move || {
        set_no_new_privs().map_err(err)?;
        let c = compiled.take().ok_or("called twice")?;
        load_seccomp(c).map(drop).map_err(err)
    });
    assert_eq!(status_field(&status, "NoNewPrivs"), "1");
    assert_eq!(status_field(&status, "Seccomp"), "2");
    assert_eq!(status_field(&status, "Seccomp_filters"), "1");
}

/// A profile that answers mkdir (both the mkdir and mkdirat syscalls) with ERRNO.
fn deny_mkdir(errno: Option<u32>) -> LinuxSeccomp {
    let mut j = serde_json::json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": [
            {"names": ["mkdir", "mkdirat", "no_such_syscall_berth"], "action": "SCMP_ACT_ERRNO"}
        ]
    });
    if let Some(e) = errno {
        j["syscalls"][0]["errnoRet"] = e.into();
    }
    serde_json::from_value(j).unwrap()
}

/// Run `argv` under `profile` (with no_new_privs).
fn run_filtered_argv(profile: &LinuxSeccomp, argv: &[&str]) -> Output {
    let mut compiled = Some(compile_seccomp(profile).unwrap());
    run_with(argv, move || {
        set_no_new_privs().map_err(err)?;
        load_seccomp(compiled.take().ok_or("called twice")?)
            .map(drop)
            .map_err(err)
    })
    .unwrap()
}

fn run_filtered(profile: &LinuxSeccomp, script: &str) -> Output {
    run_filtered_argv(profile, &[&bb(), "sh", "-c", script])
}

#[test]
fn seccomp_errno_denies_exactly_the_listed_syscall() {
    require_root();
    let dir = TempDir::new();
    let script = format!(
        "mkdir {d}/denied; echo mkdir=$?; touch {d}/file && echo touch=ok",
        d = dir.path().display()
    );
    let out = run_filtered(&deny_mkdir(None), &script);
    let (o, e) = (stdout(&out), stderr(&out));
    assert!(e.contains("Operation not permitted"), "stderr: {e}");
    assert!(o.contains("mkdir=1"), "stdout: {o}");
    assert!(o.contains("touch=ok"), "stdout: {o}");
    assert!(!dir.join("denied").exists());
    assert!(dir.join("file").exists());
}

#[test]
fn seccomp_errno_ret_is_returned_verbatim() {
    require_root();
    let dir = TempDir::new();
    let script = format!("mkdir {}/denied", dir.path().display());
    let out = run_filtered(&deny_mkdir(Some(libc::ENOSPC as u32)), &script);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("No space left on device"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn seccomp_default_errno_ret_applies_to_unlisted_syscalls() {
    require_root();
    // Default ERRNO(EXDEV); only mkdir and mkdirat are unlisted among what busybox uses.
    let profile: LinuxSeccomp = serde_json::from_value(serde_json::json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": libc::EXDEV,
        "syscalls": [{
            "names": ["mkdir", "mkdirat"],
            "action": "SCMP_ACT_ERRNO",
            "errnoRet": libc::EXDEV
        }, {
            "names": ["execve", "brk", "arch_prctl", "set_tid_address", "set_robust_list",
                      "rseq", "prlimit64", "readlink", "readlinkat", "mprotect", "uname",
                      "getuid", "geteuid", "getgid", "getegid", "write", "writev", "exit_group",
                      "mmap", "munmap", "newfstatat", "fstat", "stat", "lstat", "ioctl",
                      "getpid", "rt_sigaction", "rt_sigprocmask", "umask", "getrandom",
                      "futex", "access", "faccessat", "faccessat2", "close", "read", "openat"],
            "action": "SCMP_ACT_ALLOW"
        }]
    }))
    .unwrap();
    let dir = TempDir::new();
    let target = dir.join("x");
    let out = run_filtered_argv(&profile, &[&bb(), "mkdir", target.to_str().unwrap()]);
    assert!(
        stderr(&out).contains("Invalid cross-device link"),
        "{}",
        stderr(&out)
    );
    assert!(!target.exists());

    // The same rule without errnoRet inherits nothing from defaultErrnoRet: EPERM.
    let profile: LinuxSeccomp = serde_json::from_value(serde_json::json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "defaultErrnoRet": libc::EXDEV,
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]
    }))
    .unwrap();
    let out = run_filtered_argv(&profile, &[&bb(), "mkdir", target.to_str().unwrap()]);
    assert!(
        stderr(&out).contains("Operation not permitted"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn seccomp_masked_eq_matches_argument_bits() {
    require_root();
    // Deny making a file world-writable: chmod/fchmodat when mode & 0o002 == 0o002.
    let profile: LinuxSeccomp = serde_json::from_value(serde_json::json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [
            {"names": ["chmod"], "action": "SCMP_ACT_ERRNO",
             "args": [{"index": 1, "value": 0o002, "valueTwo": 0o002, "op": "SCMP_CMP_MASKED_EQ"}]},
            {"names": ["fchmodat"], "action": "SCMP_ACT_ERRNO",
             "args": [{"index": 2, "value": 0o002, "valueTwo": 0o002, "op": "SCMP_CMP_MASKED_EQ"}]}
        ]
    }))
    .unwrap();
    let dir = TempDir::new();
    let script = format!(
        "touch {d}/f; chmod 757 {d}/f; echo ww=$?; chmod 750 {d}/f; echo ok=$?",
        d = dir.path().display()
    );
    let out = run_filtered(&profile, &script);
    let o = stdout(&out);
    assert!(
        o.contains("ww=1") && o.contains("ok=0"),
        "{o} / {}",
        stderr(&out)
    );
    assert!(
        stderr(&out).contains("Operation not permitted"),
        "{}",
        stderr(&out)
    );
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(dir.join("f")).unwrap().permissions(),
    );
    assert_eq!(mode & 0o777, 0o750);
}

#[test]
fn seccomp_conditions_on_different_args_are_anded_and_on_the_same_arg_ored() {
    require_root();
    // kill(pid, sig): ERRNO(ENOSPC) when pid == 1 AND sig == 0.
    let profile: LinuxSeccomp = serde_json::from_value(serde_json::json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [
            {"names": ["kill"], "action": "SCMP_ACT_ERRNO", "errnoRet": libc::ENOSPC,
             "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"},
                      {"index": 1, "value": 0, "op": "SCMP_CMP_EQ"}]}
        ]
    }))
    .unwrap();
    let out = run_filtered(&profile, "kill -0 1; echo one=$?; kill -0 $$; echo self=$?");
    let o = stdout(&out);
    assert!(o.contains("one=1"), "{o} / {}", stderr(&out));
    assert!(o.contains("self=0"), "{o}");
    assert!(
        stderr(&out).contains("No space left on device"),
        "{}",
        stderr(&out)
    );

    // Two conditions on argument 0: pid == 1 OR pid == 2 (runc's rule for repeats).
    let profile: LinuxSeccomp = serde_json::from_value(serde_json::json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [
            {"names": ["kill"], "action": "SCMP_ACT_ERRNO", "errnoRet": libc::ENOSPC,
             "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"},
                      {"index": 0, "value": 2, "op": "SCMP_CMP_EQ"}]}
        ]
    }))
    .unwrap();
    let out = run_filtered(
        &profile,
        "kill -0 1; echo one=$?; kill -0 2; echo two=$?; kill -0 $$; echo self=$?",
    );
    let o = stdout(&out);
    assert!(
        o.contains("one=1") && o.contains("two=1") && o.contains("self=0"),
        "{o}"
    );
}

#[test]
fn seccomp_kill_process_kills_with_sigsys() {
    require_root();
    use std::os::unix::process::ExitStatusExt;
    let profile: LinuxSeccomp = json(
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_KILL_PROCESS"}]}"#,
    );
    let dir = TempDir::new();
    let target = dir.join("x");
    let out = run_filtered_argv(&profile, &[&bb(), "mkdir", target.to_str().unwrap()]);
    assert_eq!(out.status.signal(), Some(libc::SIGSYS), "{:?}", out.status);
    assert!(!target.exists());
}

#[test]
fn seccomp_notify_rejected_as_default_or_on_write_and_bad_arg_index_named() {
    let e = compile_seccomp(&json(r#"{"defaultAction":"SCMP_ACT_NOTIFY"}"#)).unwrap_err();
    assert!(e.to_string().contains("default"), "{e}");
    let e = compile_seccomp(&json(
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["write"],"action":"SCMP_ACT_NOTIFY"}]}"#,
    ))
    .unwrap_err();
    assert!(e.to_string().contains("write"), "{e}");
    let e = compile_seccomp(&json(
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir","sendmsg"],"action":"SCMP_ACT_NOTIFY"}]}"#,
    ))
    .unwrap_err();
    assert!(e.to_string().contains("sendmsg"), "{e}");
    let e = compile_seccomp(&json(
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["read"],"action":"SCMP_ACT_ERRNO","args":[{"index":6,"value":1,"op":"SCMP_CMP_EQ"}]}]}"#,
    ))
    .unwrap_err();
    assert!(
        e.to_string().contains("read") && e.to_string().contains('6'),
        "{e}"
    );
}

#[test]
fn seccomp_notify_agent_receives_listener_and_answers() {
    require_root();
    use libseccomp::{ScmpNotifReq, ScmpNotifResp, ScmpNotifRespFlags};
    use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags, UnixAddr};

    let dir = TempDir::new();
    let sock = dir.join("agent.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    let profile: LinuxSeccomp = serde_json::from_value(serde_json::json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "listenerPath": sock,
        "listenerMetadata": "berth-test-meta",
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_NOTIFY"}]
    }))
    .unwrap();
    let compiled = compile_seccomp(&profile).unwrap();
    assert!(compiled.uses_notify());

    // The agent: take one connection, receive state + fd, answer one notification.
    let agent = std::thread::spawn(move || -> Result<(String, String), String> {
        let (conn, _) = listener.accept().map_err(err)?;
        conn.set_read_timeout(Some(Duration::from_secs(20)))
            .map_err(err)?;
        let mut buf = vec![0u8; 64 * 1024];
        let mut cmsg = nix::cmsg_space!([std::os::fd::RawFd; 1]);
        let mut iov = [std::io::IoSliceMut::new(&mut buf)];
        let msg = recvmsg::<UnixAddr>(
            conn.as_raw_fd(),
            &mut iov,
            Some(&mut cmsg),
            MsgFlags::empty(),
        )
        .map_err(err)?;
        let mut notify_fd = None;
        for c in msg.cmsgs().map_err(err)? {
            if let ControlMessageOwned::ScmRights(fds) = c {
                notify_fd = fds.first().copied();
            }
        }
        let n = msg.bytes;
        let state = String::from_utf8_lossy(&buf[..n]).into_owned();
        let fd = notify_fd.ok_or("no fd received")?;
        // SAFETY: SCM_RIGHTS gave this process a new descriptor that nothing else owns.
        let fd: OwnedFd = unsafe { std::os::fd::FromRawFd::from_raw_fd(fd) };
        let mut pfd = [nix::poll::PollFd::new(
            fd.as_fd(),
            nix::poll::PollFlags::POLLIN,
        )];
        let ready =
            nix::poll::poll(&mut pfd, nix::poll::PollTimeout::from(20_000u16)).map_err(err)?;
        if ready == 0 {
            return Err("no notification within 20s".into());
        }
        let req = ScmpNotifReq::receive(fd.as_raw_fd()).map_err(err)?;
        let name = req.data.syscall.get_name().map_err(err)?;
        ScmpNotifResp::new_error(req.id, -libc::EROFS, ScmpNotifRespFlags::empty())
            .respond(fd.as_raw_fd())
            .map_err(err)?;
        Ok((state, name))
    });

    let mut compiled = Some(compiled);
    let target = dir.join("made-by-child");
    let sock_path = sock.clone();
    let out = run_with(&[&bb(), "mkdir", target.to_str().unwrap()], move || {
        set_no_new_privs().map_err(err)?;
        let fd = load_seccomp(compiled.take().ok_or("twice")?)
            .map_err(err)?
            .ok_or("no listener returned")?;
        let mut state = ContainerProcessState::default();
        state.set_version("1.2.0".into());
        state.set_pid(std::process::id() as i32);
        state.set_metadata(Some("berth-test-meta".into()));
        send_seccomp_fd(&sock_path, fd.as_fd(), &state).map_err(err)
    })
    .unwrap();
    let (state, name) = agent.join().unwrap().unwrap();
    assert!(name == "mkdir" || name == "mkdirat", "{name}");
    let state: serde_json::Value = serde_json::from_str(&state).unwrap();
    assert_eq!(state["fds"], serde_json::json!(["seccompFd"]));
    assert_eq!(state["metadata"], "berth-test-meta");
    assert!(state["pid"].as_i64().unwrap() > 0);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("Read-only file system"),
        "{}",
        stderr(&out)
    );
    assert!(!target.exists());
}

#[test]
fn rlimits_show_in_proc_limits() {
    require_root();
    let l: Vec<PosixRlimit> = json(
        r#"[{"type":"RLIMIT_NOFILE","soft":123,"hard":456},{"type":"RLIMIT_CORE","soft":0,"hard":18446744073709551615},{"type":"RLIMIT_NPROC","soft":777,"hard":888}]"#,
    );
    let out = run_with(&["/bin/cat", "/proc/self/limits"], move || {
        rlimits::set_rlimits(&l).map_err(err)
    })
    .unwrap();
    let limits = stdout(&out);
    let row = |name: &str| -> Vec<String> {
        let line = limits.lines().find(|l| l.starts_with(name)).unwrap();
        line[name.len()..]
            .split_whitespace()
            .map(String::from)
            .collect()
    };
    assert_eq!(row("Max open files")[..2], ["123", "456"]);
    assert_eq!(row("Max core file size")[..2], ["0", "unlimited"]);
    assert_eq!(row("Max processes")[..2], ["777", "888"]);
}

#[test]
fn rlimit_error_names_the_limit() {
    require_root();
    // A hard RLIMIT_NOFILE above the kernel's nr_open fails; the error names the limit.
    let l: Vec<PosixRlimit> =
        json(r#"[{"type":"RLIMIT_NOFILE","soft":1,"hard":18446744073709551614}]"#);
    let e = run_with(&["/bin/true"], move || {
        rlimits::set_rlimits(&l).map_err(err)
    })
    .unwrap_err();
    assert!(e.contains("RLIMIT_NOFILE"), "{e}");
}

#[test]
fn oom_score_adj_reads_back() {
    require_root();
    let out = run_with(&["/bin/cat", "/proc/self/oom_score_adj"], || {
        scheduling::set_oom_score_adj(333).map_err(err)
    })
    .unwrap();
    assert_eq!(stdout(&out).trim(), "333");
}

#[test]
fn personality_linux32_makes_uname_report_i686() {
    require_root();
    let p: LinuxPersonality = json(r#"{"domain":"LINUX32"}"#);
    let out = run_with(&[&bb(), "uname", "-m"], move || {
        scheduling::set_personality(&p).map_err(err)
    })
    .unwrap();
    assert_eq!(stdout(&out).trim(), "i686");
    let p: LinuxPersonality = json(r#"{"domain":"LINUX"}"#);
    let out = run_with(&[&bb(), "uname", "-m"], move || {
        scheduling::set_personality(&p).map_err(err)
    })
    .unwrap();
    assert_eq!(stdout(&out).trim(), "x86_64");
}

#[test]
fn io_priority_reads_back_with_ioprio_get() {
    require_root();
    let p: LinuxIOPriority = json(r#"{"class":"IOPRIO_CLASS_IDLE","priority":0}"#);
    let child = spawn_with(&[&bb(), "sleep", "30"], move || {
        scheduling::set_io_priority(&p).map_err(err)
    })
    .unwrap();
    assert_eq!(
        sys::ioprio_get(child.pid()).unwrap(),
        (sys::ioprio::CLASS_IDLE, 0)
    );
    drop(child);

    let p: LinuxIOPriority = json(r#"{"class":"IOPRIO_CLASS_BE","priority":6}"#);
    let child = spawn_with(&[&bb(), "sleep", "30"], move || {
        scheduling::set_io_priority(&p).map_err(err)
    })
    .unwrap();
    assert_eq!(
        sys::ioprio_get(child.pid()).unwrap(),
        (sys::ioprio::CLASS_BE, 6)
    );
}

#[test]
fn scheduler_batch_with_nice_reads_back_with_sched_getattr() {
    require_root();
    let s: Scheduler = json(r#"{"policy":"SCHED_BATCH","nice":7}"#);
    let child = spawn_with(&[&bb(), "sleep", "30"], move || {
        scheduling::set_scheduler(&s).map_err(err)
    })
    .unwrap();
    let attr = sys::sched_getattr(child.pid()).unwrap();
    assert_eq!(attr.sched_policy, sys::sched::BATCH);
    assert_eq!(attr.sched_nice, 7);
    let sched = std::fs::read_to_string(format!("/proc/{}/sched", child.pid())).unwrap();
    let policy = sched.lines().find(|l| l.starts_with("policy")).unwrap();
    assert!(policy.trim_end().ends_with('3'), "{policy}");
}

#[test]
fn scheduler_fifo_priority_reads_back() {
    require_root();
    let s: Scheduler =
        json(r#"{"policy":"SCHED_FIFO","priority":3,"flags":["SCHED_RESET_ON_FORK"]}"#);
    let child = spawn_with(&[&bb(), "sleep", "30"], move || {
        scheduling::set_scheduler(&s).map_err(err)
    })
    .unwrap();
    let attr = sys::sched_getattr(child.pid()).unwrap();
    assert_eq!(attr.sched_policy, sys::sched::FIFO);
    assert_eq!(attr.sched_priority, 3);
    assert_eq!(attr.sched_flags & sys::sched::FLAG_RESET_ON_FORK, 1);
}

#[test]
fn scheduler_deadline_parameters_read_back() {
    require_root();
    let s: Scheduler = json(
        r#"{"policy":"SCHED_DEADLINE","runtime":1000000,"deadline":20000000,"period":30000000}"#,
    );
    let child = spawn_with(&[&bb(), "sleep", "30"], move || {
        scheduling::set_scheduler(&s).map_err(err)
    })
    .unwrap();
    let attr = sys::sched_getattr(child.pid()).unwrap();
    assert_eq!(attr.sched_policy, sys::sched::DEADLINE);
    assert_eq!(
        (attr.sched_runtime, attr.sched_deadline, attr.sched_period),
        (1_000_000, 20_000_000, 30_000_000)
    );
}

#[test]
fn scheduler_error_names_the_policy_and_step() {
    require_root();
    // SCHED_DEADLINE with runtime > deadline is refused by the kernel (EINVAL).
    let s: Scheduler = json(
        r#"{"policy":"SCHED_DEADLINE","runtime":3000000,"deadline":2000000,"period":4000000}"#,
    );
    let e = run_with(&["/bin/true"], move || {
        scheduling::set_scheduler(&s).map_err(err)
    })
    .unwrap_err();
    assert!(
        e.contains("sched_setattr") && e.contains("SCHED_DEADLINE"),
        "{e}"
    );
}

#[test]
fn finalize_without_no_new_privs_loads_seccomp_before_dropping_to_a_user() {
    require_root();
    // Without no_new_privs the filter needs CAP_SYS_ADMIN: it must be loaded before the
    // switch to uid 1000 and the capability drop, and then must not get in their way.
    let compiled = compile_seccomp(&deny_mkdir(Some(libc::EROFS as u32))).unwrap();
    let mut compiled = Some(compiled);
    let bnd = ["CAP_KILL", "CAP_NET_BIND_SERVICE"];
    let caps = caps_json(&bnd, &bnd, &bnd, &bnd, &["CAP_NET_BIND_SERVICE"]);
    let user: User = json(r#"{"uid":1000,"gid":1000,"additionalGids":[1001]}"#);
    let rl: &'static [PosixRlimit] = Box::leak(
        json::<Vec<PosixRlimit>>(r#"[{"type":"RLIMIT_NOFILE","soft":100,"hard":200}]"#)
            .into_boxed_slice(),
    );
    let mut p = no_privs(&user, Some(&caps), false);
    p.rlimits = rl;
    p.oom_score_adj = Some(100);
    let status = cat_status(move || {
        let f = finalize_process(&p, compiled.take(), |_| Ok(())).map_err(err)?;
        if f.late_seccomp.is_some() {
            return Err("seccomp left for later without no_new_privs".into());
        }
        Ok(())
    });
    assert_eq!(status_field(&status, "NoNewPrivs"), "0");
    assert_eq!(status_field(&status, "Seccomp"), "2");
    assert_eq!(status_field(&status, "Uid"), "1000\t1000\t1000\t1000");
    assert_eq!(status_field(&status, "Groups"), "1001");
    assert_eq!(status_mask(&status, "CapBnd"), cap_mask(&bnd));
    assert_eq!(
        status_mask(&status, "CapEff"),
        cap_mask(&["CAP_NET_BIND_SERVICE"])
    );
    assert_eq!(
        status_mask(&status, "CapAmb"),
        cap_mask(&["CAP_NET_BIND_SERVICE"])
    );
}

#[test]
fn finalize_with_no_new_privs_leaves_seccomp_for_last() {
    require_root();
    let dir = TempDir::new();
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o777),
    )
    .unwrap();
    let compiled = compile_seccomp(&deny_mkdir(Some(libc::EROFS as u32))).unwrap();
    let mut compiled = Some(compiled);
    let p = no_privs(&json(r#"{"uid":1000,"gid":1000}"#), None, true);
    let script = format!(
        "grep -E '^(NoNewPrivs|Seccomp):' /proc/self/status; mkdir {}/x",
        dir.path().display()
    );
    let out = run_with(&[&bb(), "sh", "-c", &script], move || {
        let f = finalize_process(&p, compiled.take(), |_| Ok(())).map_err(err)?;
        // As non-root without any capability: only no_new_privs makes loading possible.
        let late = f
            .late_seccomp
            .ok_or("seccomp not left for after the start wait")?;
        load_seccomp(late).map(drop).map_err(err)
    })
    .unwrap();
    let o = stdout(&out);
    assert!(o.contains("NoNewPrivs:\t1"), "{o}");
    assert!(o.contains("Seccomp:\t2"), "{o}");
    assert!(
        stderr(&out).contains("Read-only file system"),
        "{}",
        stderr(&out)
    );
    assert!(!dir.join("x").exists());
}

#[test]
fn seccomp_syscalls_newer_than_the_profile_get_enosys() {
    require_root();
    // Default EPERM; the newest syscall named is exit_group (231 on x86-64). pidfd_open
    // (434) is newer: ENOSYS, so callers fall back. getcwd (79) is older: EPERM.
    let profile: LinuxSeccomp = json(
        r#"{"defaultAction":"SCMP_ACT_ERRNO","architectures":["SCMP_ARCH_X86_64","SCMP_ARCH_X86","SCMP_ARCH_X32"],
            "syscalls":[{"names":["write","close","execve","exit_group"],"action":"SCMP_ACT_ALLOW"}]}"#,
    );
    let mut compiled = Some(compile_seccomp(&profile).unwrap());
    let e = run_with(&["/bin/true"], move || {
        let pid = rustix::process::getpid();
        set_no_new_privs().map_err(err)?;
        load_seccomp(compiled.take().ok_or("twice")?).map_err(err)?;
        let new = rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty());
        let old = rustix::process::getcwd(Vec::new());
        Err(format!("pidfd_open={:?} getcwd={:?}", new.err(), old.err()))
    })
    .unwrap_err();
    assert_eq!(
        e,
        format!(
            "pidfd_open={:?} getcwd={:?}",
            Some(rustix::io::Errno::NOSYS),
            Some(rustix::io::Errno::PERM)
        )
    );
}

#[test]
fn seccomp_allowing_by_default_keeps_eperm_for_listed_and_passes_new_syscalls() {
    require_root();
    // With an allowing default there is no stub: pidfd_open works.
    let profile: LinuxSeccomp = json(
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["getcwd"],"action":"SCMP_ACT_ERRNO"}]}"#,
    );
    let mut compiled = Some(compile_seccomp(&profile).unwrap());
    let e = run_with(&["/bin/true"], move || {
        let pid = rustix::process::getpid();
        set_no_new_privs().map_err(err)?;
        load_seccomp(compiled.take().ok_or("twice")?).map_err(err)?;
        let new = rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty());
        let old = rustix::process::getcwd(Vec::new());
        Err(format!("pidfd_open={:?} getcwd={:?}", new.err(), old.err()))
    })
    .unwrap_err();
    assert_eq!(
        e,
        format!("pidfd_open=None getcwd={:?}", Some(rustix::io::Errno::PERM))
    );
}

#[test]
fn seccomp_profile_denying_execve_is_refused_at_compile_time() {
    let e = compile_seccomp(&json(
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["execve"],"action":"SCMP_ACT_KILL"}]}"#,
    ))
    .unwrap_err()
    .to_string();
    assert!(e.contains("execve") && e.contains("KILL_THREAD"), "{e}");
    let e = compile_seccomp(&json(
        r#"{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":13,"syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW"}]}"#,
    ))
    .unwrap_err()
    .to_string();
    assert!(e.contains("execve") && e.contains("SCMP_ACT_ERRNO("), "{e}");
    // Allowed, logged or handed to an agent: fine.
    for action in ["SCMP_ACT_ALLOW", "SCMP_ACT_LOG", "SCMP_ACT_NOTIFY"] {
        let p: LinuxSeccomp = serde_json::from_value(serde_json::json!({
            "defaultAction": "SCMP_ACT_ERRNO",
            "syscalls": [{"names": ["execve"], "action": action}]
        }))
        .unwrap();
        let c = compile_seccomp(&p).unwrap();
        let v = c.verdict("execve", [0; 6]).unwrap();
        assert_ne!(v & 0xffff_0000, 0x0005_0000, "{action}");
        assert_eq!(c.verdict("read", [0; 6]).unwrap(), 0x0005_0001, "{action}");
    }
}

/// In the child: enter a new user namespace and map uid/gid 0 to ours (0) the way an
/// unprivileged runtime must: setgroups denied first.
fn enter_unprivileged_userns() -> Result<(), String> {
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWUSER).map_err(err)?;
    std::fs::write("/proc/self/setgroups", "deny").map_err(err)?;
    std::fs::write("/proc/self/uid_map", "0 0 1").map_err(err)?;
    std::fs::write("/proc/self/gid_map", "0 0 1").map_err(err)
}

#[test]
fn switch_user_skips_setgroups_denied_in_a_user_namespace() {
    require_root();
    let user: User = json(r#"{"uid":0,"gid":0,"umask":63}"#);
    let status = cat_status(move || {
        enter_unprivileged_userns()?;
        identity::switch_user(&user, true).map_err(err)
    });
    assert_eq!(status_field(&status, "Uid"), "0\t0\t0\t0");
    assert_eq!(status_field(&status, "Umask"), "0077");
}

#[test]
fn switch_user_in_a_user_namespace_names_what_cannot_work() {
    require_root();
    let user: User = json(r#"{"uid":0,"gid":0,"additionalGids":[5]}"#);
    let e = run_with(&["/bin/true"], move || {
        enter_unprivileged_userns()?;
        identity::switch_user(&user, true).map_err(err)
    })
    .unwrap_err();
    assert!(
        e.contains("[5]") && e.contains("/proc/self/setgroups"),
        "{e}"
    );

    let user: User = json(r#"{"uid":1000,"gid":0}"#);
    let e = run_with(&["/bin/true"], move || {
        enter_unprivileged_userns()?;
        identity::switch_user(&user, true).map_err(err)
    })
    .unwrap_err();
    assert!(
        e.contains("setresuid 1000") && e.contains("not mapped"),
        "{e}"
    );
}

#[test]
fn finalize_applies_every_attribute_to_the_process_that_runs() {
    require_root();
    let leak = |s: &str| -> &'static str { Box::leak(s.to_string().into_boxed_str()) };
    let rl: &'static [PosixRlimit] = Box::leak(
        json::<Vec<PosixRlimit>>(r#"[{"type":"RLIMIT_NOFILE","soft":321,"hard":654}]"#)
            .into_boxed_slice(),
    );
    let sched: &'static Scheduler =
        Box::leak(Box::new(json(leak(r#"{"policy":"SCHED_BATCH","nice":3}"#))));
    let io: &'static LinuxIOPriority = Box::leak(Box::new(json(leak(
        r#"{"class":"IOPRIO_CLASS_BE","priority":4}"#,
    ))));
    let per: &'static LinuxPersonality = Box::leak(Box::new(json(leak(r#"{"domain":"LINUX32"}"#))));
    let bnd = ["CAP_NET_BIND_SERVICE", "CAP_KILL"];
    let caps = caps_json(&bnd, &bnd, &bnd, &bnd, &["CAP_NET_BIND_SERVICE"]);
    let mut p = no_privs(
        &json(r#"{"uid":1000,"gid":1000,"additionalGids":[27]}"#),
        Some(&caps),
        true,
    );
    p.rlimits = rl;
    p.oom_score_adj = Some(200);
    p.scheduler = Some(sched);
    p.io_priority = Some(io);
    p.personality = Some(per);
    let mut compiled = Some(compile_seccomp(&deny_mkdir(None)).unwrap());
    let child = spawn_with(&[&bb(), "sleep", "30"], move || {
        let f = finalize_process(&p, compiled.take(), |_| Ok(())).map_err(err)?;
        load_seccomp(f.late_seccomp.ok_or("no late seccomp")?)
            .map(drop)
            .map_err(err)
    })
    .unwrap();
    let proc = |f: &str| std::fs::read_to_string(format!("/proc/{}/{f}", child.pid())).unwrap();
    let status = proc("status");
    assert_eq!(status_field(&status, "Uid"), "1000\t1000\t1000\t1000");
    assert_eq!(status_field(&status, "Groups"), "27");
    assert_eq!(status_field(&status, "NoNewPrivs"), "1");
    assert_eq!(status_field(&status, "Seccomp"), "2");
    assert_eq!(status_mask(&status, "CapBnd"), cap_mask(&bnd));
    assert_eq!(
        status_mask(&status, "CapEff"),
        cap_mask(&["CAP_NET_BIND_SERVICE"])
    );
    assert_eq!(proc("oom_score_adj").trim(), "200");
    assert_eq!(proc("personality").trim(), "00000008");
    let nofile = proc("limits");
    let line = nofile
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    assert_eq!(
        line.split_whitespace().collect::<Vec<_>>()[3..5],
        ["321", "654"]
    );
    let attr = sys::sched_getattr(child.pid()).unwrap();
    assert_eq!((attr.sched_policy, attr.sched_nice), (sys::sched::BATCH, 3));
    assert_eq!(
        sys::ioprio_get(child.pid()).unwrap(),
        (sys::ioprio::CLASS_BE, 4)
    );
}

#[test]
fn seccomp_filter_flags_reach_the_kernel() {
    require_root();
    use sys::seccomp_flag as f;
    let all = r#"["SECCOMP_FILTER_FLAG_TSYNC","SECCOMP_FILTER_FLAG_LOG","SECCOMP_FILTER_FLAG_SPEC_ALLOW","SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"]"#;
    let with_notify: LinuxSeccomp = json(&format!(
        r#"{{"defaultAction":"SCMP_ACT_ALLOW","flags":{all},"syscalls":[{{"names":["mkdir"],"action":"SCMP_ACT_NOTIFY"}}]}}"#
    ));
    let c = compile_seccomp(&with_notify).unwrap();
    assert_eq!(
        c.flags(),
        f::TSYNC
            | f::LOG
            | f::SPEC_ALLOW
            | f::WAIT_KILLABLE_RECV
            | f::NEW_LISTENER
            | f::TSYNC_ESRCH
    );
    let without: LinuxSeccomp = json(&format!(
        r#"{{"defaultAction":"SCMP_ACT_ALLOW","flags":{all},"syscalls":[{{"names":["mkdir"],"action":"SCMP_ACT_ERRNO"}}]}}"#
    ));
    let c2 = compile_seccomp(&without).unwrap();
    assert_eq!(c2.flags(), f::TSYNC | f::LOG | f::SPEC_ALLOW);

    // The kernel accepts both flag sets (it rejects unknown or inconsistent ones).
    let mut both = Some((c, c2));
    let status = cat_status(move || {
        let (c, c2) = both.take().ok_or("twice")?;
        set_no_new_privs().map_err(err)?;
        let fd = load_seccomp(c).map_err(err)?;
        if fd.is_none() {
            return Err("no listener".into());
        }
        load_seccomp(c2).map(drop).map_err(err)
    });
    assert_eq!(status_field(&status, "Seccomp_filters"), "2");
}

#[test]
fn seccomp_program_from_the_cache_is_enforced() {
    require_root();
    let cache = TempDir::new();
    let dir = cache.join("cache");
    let profile = deny_mkdir(Some(libc::ENOSPC as u32));
    let first = security::seccomp::load_or_compile(&dir, &profile).unwrap();
    let t = std::time::Instant::now();
    let cached = security::seccomp::load_or_compile(&dir, &profile).unwrap();
    let took = t.elapsed();
    assert_eq!(cached.program(), first.program());
    assert!(took < Duration::from_millis(50), "cache read took {took:?}");
    let mut cached = Some(cached);
    let target = cache.join("x");
    let out = run_with(&[&bb(), "mkdir", target.to_str().unwrap()], move || {
        set_no_new_privs().map_err(err)?;
        load_seccomp(cached.take().ok_or("twice")?)
            .map(drop)
            .map_err(err)
    })
    .unwrap();
    assert!(
        stderr(&out).contains("No space left on device"),
        "{}",
        stderr(&out)
    );
    assert!(!target.exists());
}

#[test]
fn finalize_refuses_an_early_filter_that_would_block_the_user_switch() {
    require_root();
    let profile: LinuxSeccomp = json(
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["setresuid","setuid"],"action":"SCMP_ACT_KILL_PROCESS"}]}"#,
    );
    // Without noNewPrivileges the filter would be loaded before setresuid: refused, and
    // nothing is loaded.
    let mut compiled = Some(compile_seccomp(&profile).unwrap());
    let p = no_privs(&json(r#"{"uid":1000,"gid":1000}"#), None, false);
    let e = run_with(&["/bin/true"], move || {
        let r = finalize_process(&p, compiled.take(), |_| Ok(()));
        let status = std::fs::read_to_string("/proc/self/status").map_err(err)?;
        Err(format!(
            "{} / {}",
            r.err().map(|e| e.to_string()).unwrap_or_default(),
            status_field(&status, "Seccomp")
        ))
    })
    .unwrap_err();
    assert!(
        e.contains("setresuid") && e.contains("SCMP_ACT_KILL_PROCESS") && e.ends_with("/ 0"),
        "{e}"
    );

    // With noNewPrivileges the same filter comes after the switch: fine.
    let mut compiled = Some(compile_seccomp(&profile).unwrap());
    let p = no_privs(&json(r#"{"uid":1000,"gid":1000}"#), None, true);
    let status = cat_status(move || {
        let f = finalize_process(&p, compiled.take(), |_| Ok(())).map_err(err)?;
        load_seccomp(f.late_seccomp.ok_or("no late filter")?)
            .map(drop)
            .map_err(err)
    });
    assert_eq!(status_field(&status, "Uid"), "1000\t1000\t1000\t1000");
    assert_eq!(status_field(&status, "Seccomp"), "2");
}

/// A profile shaped like Docker's default: EPERM by default, the usual allow list, clone
/// restricted by flags, clone3 answered with ENOSYS (so libc falls back to clone).
fn docker_like_profile() -> LinuxSeccomp {
    const ALLOW: &str = "accept accept4 access adjtimex alarm bind brk capget capset chdir chmod \
        chown clock_adjtime clock_getres clock_gettime clock_nanosleep close close_range connect \
        copy_file_range creat dup dup2 dup3 epoll_create epoll_create1 epoll_ctl epoll_pwait \
        epoll_pwait2 epoll_wait eventfd eventfd2 execve execveat exit exit_group faccessat \
        faccessat2 fadvise64 fallocate fchdir fchmod fchmodat fchown fchownat fcntl fdatasync \
        fgetxattr flistxattr flock fork fremovexattr fsetxattr fstat fstatfs fsync ftruncate \
        futex futex_waitv getcpu getcwd getdents getdents64 getegid geteuid getgid getgroups \
        getitimer getpeername getpgid getpgrp getpid getppid getpriority getrandom getresgid \
        getresuid getrlimit get_robust_list getrusage getsid getsockname getsockopt gettid \
        gettimeofday getuid getxattr inotify_add_watch inotify_init inotify_init1 \
        inotify_rm_watch ioctl ioprio_get ioprio_set kill lchown lgetxattr link linkat listen \
        listxattr llistxattr lremovexattr lseek lsetxattr lstat madvise membarrier memfd_create \
        mincore mkdir mkdirat mknod mknodat mlock mlock2 mlockall mmap mprotect mremap msync \
        munlock munlockall munmap nanosleep newfstatat open openat openat2 pause pidfd_open \
        pidfd_send_signal pipe pipe2 poll ppoll prctl pread64 preadv preadv2 prlimit64 pselect6 \
        pwrite64 pwritev pwritev2 read readahead readlink readlinkat readv recvfrom recvmmsg \
        recvmsg rename renameat renameat2 restart_syscall rmdir rseq rt_sigaction rt_sigpending \
        rt_sigprocmask rt_sigqueueinfo rt_sigreturn rt_sigsuspend rt_sigtimedwait \
        rt_tgsigqueueinfo sched_getaffinity sched_getattr sched_getparam sched_get_priority_max \
        sched_get_priority_min sched_getscheduler sched_setaffinity sched_setattr \
        sched_setparam sched_setscheduler sched_yield seccomp select semctl semget semop \
        sendfile sendmmsg sendmsg sendto setfsgid setfsuid setgid setgroups setitimer setpgid \
        setpriority setregid setresgid setresuid setreuid setrlimit set_robust_list setsid \
        setsockopt set_tid_address setuid setxattr shmat shmctl shmdt shmget shutdown \
        sigaltstack signalfd signalfd4 socketpair splice stat statfs statx symlink symlinkat \
        sync sync_file_range syncfs sysinfo tee tgkill time timer_create timer_delete \
        timer_getoverrun timer_gettime timer_settime timerfd_create timerfd_gettime \
        timerfd_settime times tkill truncate umask uname unlink unlinkat utime utimensat utimes \
        vfork vmsplice wait4 waitid write writev arch_prctl socket";
    let names: Vec<&str> = ALLOW.split_whitespace().collect();
    serde_json::from_value(serde_json::json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": 1,
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": [
            {"names": names, "action": "SCMP_ACT_ALLOW"},
            {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
             "args": [{"index": 0, "value": 0, "op": "SCMP_CMP_EQ"}]},
            {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
             "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]},
            {"names": ["clone"], "action": "SCMP_ACT_ALLOW",
             "args": [{"index": 0, "value": 2114060288u64, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}]},
            {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": libc::ENOSYS}
        ]
    }))
    .unwrap()
}

#[test]
fn docker_like_profile_lets_the_process_start_and_run_with_and_without_nnp() {
    require_root();
    let docker_caps = [
        "CAP_CHOWN",
        "CAP_DAC_OVERRIDE",
        "CAP_FSETID",
        "CAP_FOWNER",
        "CAP_MKNOD",
        "CAP_NET_RAW",
        "CAP_SETGID",
        "CAP_SETUID",
        "CAP_SETFCAP",
        "CAP_SETPCAP",
        "CAP_NET_BIND_SERVICE",
        "CAP_SYS_CHROOT",
        "CAP_KILL",
        "CAP_AUDIT_WRITE",
    ];
    let caps = caps_json(&docker_caps, &docker_caps, &docker_caps, &[], &[]);
    for (user, nnp) in [
        (r#"{"uid":0,"gid":0}"#, false),
        (r#"{"uid":1000,"gid":1000,"additionalGids":[100]}"#, false),
        (r#"{"uid":1000,"gid":1000}"#, true),
    ] {
        let mut compiled = Some(compile_seccomp(&docker_like_profile()).unwrap());
        let p = no_privs(&json(user), Some(&caps), nnp);
        let out = run_with(
            &[
                &bb(),
                "sh",
                "-c",
                "echo start; ls / >/dev/null && echo ls; (echo sub) ; \
                 grep -E '^(Uid|Seccomp):' /proc/self/status; mkdir /proc/x 2>/dev/null; echo end",
            ],
            move || {
                let f = finalize_process(&p, compiled.take(), |_| Ok(())).map_err(err)?;
                if let Some(late) = f.late_seccomp {
                    load_seccomp(late).map_err(err)?;
                }
                Ok(())
            },
        )
        .unwrap();
        let o = stdout(&out);
        assert!(out.status.success(), "{user}: {o} / {}", stderr(&out));
        for want in ["start", "ls", "sub", "Seccomp:\t2", "end"] {
            assert!(o.contains(want), "{user} nnp={nnp}: no {want:?} in {o}");
        }
    }
}
