//! Real-kernel tests of the rootfs set-up (root required).
//!
//! Each test forks a child with `std::process::Command`; its `pre_exec` unshares a mount
//! namespace and runs `prepare`, `pivot` and `finalize` on a busybox rootfs, then the child
//! execs `/bin/busybox sh -c <script>` inside the new root. The script's output shows the
//! effect from inside; the host's mount table is checked afterwards for leaks.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{symlink, MetadataExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use std::sync::Arc;

use berth_container::rootfs::{
    finalize, open_idmapped_mounts, pivot, prepare_with, IdmappedMounts, RootfsContext,
};
use berth_testkit::{require_root, unique, Bundle};
use oci_spec::runtime::{Mount, Spec};
use serde_json::json;

#[derive(Clone, Default)]
struct Opts {
    in_user_ns: bool,
    no_pivot: bool,
    cgroup_ns: bool,
    cgroup_paths: BTreeMap<String, PathBuf>,
    /// cgroup directories (v1 or v2) the child joins before unsharing.
    join_cgroups: Vec<PathBuf>,
    /// Unshare a user namespace (mapping only root to root) before the mount namespace.
    user_ns: bool,
    /// Idmapped mounts made by the test process (the host side), for `prepare_with`.
    idmapped: Option<Arc<IdmappedMounts>>,
}

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    #[track_caller]
    fn ok(&self) -> &str {
        assert_eq!(
            self.code,
            Some(0),
            "stdout:\n{}\nstderr:\n{}",
            self.stdout,
            self.stderr
        );
        &self.stdout
    }

    /// The rootfs error printed by the child, if the set-up failed.
    fn setup_error(&self) -> Option<&str> {
        self.stderr
            .lines()
            .find_map(|l| l.strip_prefix("BERTH-ROOTFS-ERROR: "))
    }
}

/// Exit code of a child whose rootfs set-up failed.
const SETUP_FAILED: i32 = 111;

fn host_mountinfo() -> String {
    fs::read_to_string("/proc/self/mountinfo").unwrap()
}

/// Runs the rootfs set-up for `spec` in a child and `script` inside the result.
fn run(bundle: &Bundle, spec: &Spec, opts: &Opts, script: &str) -> Run {
    require_root();
    let rootfs = fs::canonicalize(bundle.rootfs()).unwrap();
    let bundle_dir = bundle.path().to_path_buf();
    let before = host_mountinfo();
    let spec = spec.clone();
    let opts2 = opts.clone();
    let root2 = rootfs.clone();
    let mut cmd = Command::new("/bin/busybox");
    // The script's errors (EROFS, ...) are part of what the tests look at.
    cmd.args(["sh", "-c", &format!("exec 2>&1; {script}")])
        .env_clear()
        .env("PATH", "/bin");
    // SAFETY (test): the child only sets up mounts and then execs; glibc keeps malloc usable
    // after fork.
    unsafe {
        cmd.pre_exec(move || {
            for dir in &opts2.join_cgroups {
                fs::write(dir.join("cgroup.procs"), "0")?;
            }
            if opts2.user_ns {
                // A process may map its own ids into a user namespace it created.
                nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWUSER)?;
                fs::write("/proc/self/setgroups", "deny")?;
                fs::write("/proc/self/uid_map", "0 0 1")?;
                fs::write("/proc/self/gid_map", "0 0 1")?;
                // mqueue needs an IPC namespace owned by the user namespace.
                nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWIPC)?;
            }
            if opts2.cgroup_ns {
                nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWCGROUP)?;
            }
            nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS)?;
            let ctx = RootfsContext {
                spec: &spec,
                rootfs: &root2,
                bundle: &bundle_dir,
                in_user_ns: opts2.in_user_ns,
                cgroup_paths: &opts2.cgroup_paths,
                cgroup_ns: opts2.cgroup_ns,
                no_pivot: opts2.no_pivot,
            };
            let none = IdmappedMounts::none();
            let idmapped = opts2.idmapped.as_deref().unwrap_or(&none);
            let res = prepare_with(&ctx, idmapped)
                .and_then(|()| pivot(&ctx))
                .and_then(|()| finalize(&ctx));
            if let Err(e) = res {
                let msg = format!("BERTH-ROOTFS-ERROR: {e}\n");
                libc::write(2, msg.as_ptr().cast(), msg.len());
                libc::_exit(SETUP_FAILED);
            }
            Ok(())
        });
    }
    let out = cmd.output().unwrap();
    let after = host_mountinfo();
    let root_str = rootfs.display().to_string();
    assert!(
        !after.contains(&root_str),
        "host mount table mentions the rootfs after the child exited:\n{after}"
    );
    let mount_points = |info: &str| -> Vec<String> {
        info.lines()
            .filter_map(|l| l.split(' ').nth(4).map(String::from))
            .filter(|p| p == "/" || p.starts_with("/proc") || p.starts_with("/dev"))
            .collect()
    };
    assert_eq!(
        mount_points(&before),
        mount_points(&after),
        "host /, /proc or /dev mounts changed"
    );
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn mount(v: serde_json::Value) -> Mount {
    serde_json::from_value(v).unwrap()
}

fn add_mounts(spec: &mut Spec, extra: Vec<Mount>) {
    let mut mounts = spec.mounts().clone().unwrap_or_default();
    mounts.extend(extra);
    spec.set_mounts(Some(mounts));
}

/// The mountinfo line (inside the container) whose mount point is `point`.
fn mount_line<'a>(mountinfo: &'a str, point: &str) -> &'a str {
    mountinfo
        .lines()
        .rfind(|l| l.split(' ').nth(4) == Some(point))
        .unwrap_or_else(|| panic!("no mount at {point} in:\n{mountinfo}"))
}

/// Per-mount options (field 6) of a mountinfo line.
fn mount_opts(line: &str) -> Vec<&str> {
    line.split(' ').nth(5).unwrap().split(',').collect()
}

/// Text after the ` - ` separator: fstype, source, super options.
fn fs_part(line: &str) -> &str {
    line.split_once(" - ").unwrap().1
}

#[test]
fn default_mounts_devices_and_symlinks() {
    let bundle = Bundle::busybox(&["sh"]);
    let spec = bundle.spec().clone();
    let out = run(
        &bundle,
        &spec,
        &Opts::default(),
        "cat /proc/self/mountinfo; echo ---; \
         for d in null zero full random urandom tty; do stat -c '%n %t:%T %a %F' /dev/$d; done; \
         echo ---; for l in fd stdin stdout stderr ptmx; do echo $l=$(readlink /dev/$l); done",
    );
    let text = out.ok();
    let mut parts = text.split("---\n");
    let info = parts.next().unwrap();
    let devs = parts.next().unwrap();
    let links = parts.next().unwrap();

    assert!(fs_part(mount_line(info, "/proc")).starts_with("proc "));
    let dev = mount_line(info, "/dev");
    assert!(fs_part(dev).starts_with("tmpfs "), "{dev}");
    assert!(fs_part(dev).contains("size=65536k") && fs_part(dev).contains("mode=755"));
    assert!(mount_opts(dev).contains(&"nosuid"));
    let pts = mount_line(info, "/dev/pts");
    assert!(fs_part(pts).starts_with("devpts ") && fs_part(pts).contains("ptmxmode=666"));
    assert!(mount_opts(pts).contains(&"noexec"));
    assert!(fs_part(mount_line(info, "/dev/shm")).contains("size=65536k"));
    assert!(fs_part(mount_line(info, "/dev/mqueue")).starts_with("mqueue "));
    let sys = mount_line(info, "/sys");
    assert!(fs_part(sys).starts_with("sysfs "));
    assert!(mount_opts(sys).contains(&"ro") && mount_opts(sys).contains(&"nodev"));
    let root = mount_line(info, "/");
    assert!(mount_opts(root).contains(&"ro"), "root.readonly: {root}");

    for (name, num) in [
        ("null", "1:3"),
        ("zero", "1:5"),
        ("full", "1:7"),
        ("random", "1:8"),
        ("urandom", "1:9"),
        ("tty", "5:0"),
    ] {
        let want = format!("/dev/{name} {num} 666 character special file");
        assert!(devs.lines().any(|l| l == want), "{want} not in:\n{devs}");
    }
    for want in [
        "fd=/proc/self/fd",
        "stdin=/proc/self/fd/0",
        "stdout=/proc/self/fd/1",
        "stderr=/proc/self/fd/2",
        "ptmx=pts/ptmx",
    ] {
        assert!(links.lines().any(|l| l == want), "{want} not in:\n{links}");
    }
}

#[test]
fn masked_and_readonly_paths() {
    let mut bundle = Bundle::busybox(&["sh"]);
    fs::create_dir_all(bundle.rootfs().join("data/ro-dir")).unwrap();
    fs::write(bundle.rootfs().join("data/secret"), "top secret").unwrap();
    fs::create_dir_all(bundle.rootfs().join("data/hidden-dir")).unwrap();
    fs::write(bundle.rootfs().join("data/hidden-dir/f"), "x").unwrap();
    let mut spec = bundle.spec_mut().clone();
    {
        let linux = spec.linux_mut().as_mut().unwrap();
        let mut masked = linux.masked_paths().clone().unwrap();
        masked.push("/data/secret".into());
        masked.push("/data/missing".into());
        masked.push("/data/hidden-dir".into());
        linux.set_masked_paths(Some(masked));
        let mut ro = linux.readonly_paths().clone().unwrap();
        ro.push("/data/ro-dir".into());
        linux.set_readonly_paths(Some(ro));
    }
    let out = run(
        &bundle,
        &spec,
        &Opts::default(),
        "echo timer_list=$(wc -c < /proc/timer_list); echo secret=$(cat /data/secret); \
         echo firmware=$(ls -A /sys/firmware | wc -l); echo hidden=$(ls -A /data/hidden-dir | wc -l); \
         touch /data/hidden-dir/new; \
         touch /data/ro-dir/x 2>&1; \
         cat /proc/sys/vm/overcommit_memory > /proc/sys/vm/overcommit_memory 2>&1; \
         echo ok",
    );
    let text = out.ok();
    assert!(text.contains("timer_list=0\n"), "{text}");
    assert!(text.contains("hidden=0\n"), "{text}");
    assert!(text.contains("secret=\n"), "{text}");
    assert!(text.contains("firmware=0\n"), "{text}");
    let erofs = text.matches("Read-only file system").count();
    assert_eq!(erofs, 3, "three writes must fail with EROFS:\n{text}");
    // The host file is untouched.
    assert_eq!(
        fs::read_to_string(bundle.rootfs().join("data/secret")).unwrap(),
        "top secret"
    );
}

#[test]
fn readonly_root_rejects_writes_and_tmpfs_stays_writable() {
    let bundle = Bundle::busybox(&["sh"]);
    let mut spec = bundle.spec().clone();
    add_mounts(
        &mut spec,
        vec![mount(
            json!({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs",
                          "options": ["nosuid", "nodev", "mode=1777"]}),
        )],
    );
    let out = run(
        &bundle,
        &spec,
        &Opts::default(),
        "touch /berth-x 2>&1; touch /tmp/ok && echo tmp-ok",
    );
    let text = out.ok();
    assert!(text.contains("Read-only file system"), "{text}");
    assert!(text.contains("tmp-ok"), "{text}");
    assert!(!bundle.rootfs().join("berth-x").exists());
}

#[test]
fn symlinked_targets_stay_inside_rootfs() {
    let bundle = Bundle::busybox(&["sh"]);
    let rootfs = bundle.rootfs();
    let name = unique("berth-test-escape");
    let host_tmp = PathBuf::from("/tmp").join(&name);
    // Relative symlink climbing far above the rootfs, and absolute symlinks to / and /tmp.
    symlink("../../../../../../../../tmp", rootfs.join("up")).unwrap();
    symlink("/", rootfs.join("etc/rootlink")).unwrap();
    symlink("/tmp", rootfs.join("abs-tmp")).unwrap();
    // A dangling symlink: its target is created inside the rootfs.
    symlink(
        format!("/../../tmp/{name}-dangling"),
        rootfs.join("dangling"),
    )
    .unwrap();
    let mut spec = bundle.spec().clone();
    let tmpfs = |dst: String| {
        mount(
            json!({"destination": dst, "type": "tmpfs", "source": "tmpfs", "options": ["size=1m"]}),
        )
    };
    add_mounts(
        &mut spec,
        vec![
            tmpfs(format!("/up/{name}-rel")),
            tmpfs(format!("/etc/rootlink/{name}-root")),
            tmpfs(format!("/abs-tmp/{name}-abs")),
            tmpfs("/dangling".to_owned()),
        ],
    );
    let out = run(&bundle, &spec, &Opts::default(), "cat /proc/self/mountinfo");
    let info = out.ok();
    for point in [
        format!("/tmp/{name}-rel"),
        format!("/{name}-root"),
        format!("/tmp/{name}-abs"),
        format!("/tmp/{name}-dangling"),
    ] {
        assert!(fs_part(mount_line(info, &point)).starts_with("tmpfs "));
    }
    for suffix in ["rel", "abs", "dangling"] {
        let host = PathBuf::from(format!("{}-{suffix}", host_tmp.display()));
        assert!(!host.exists(), "{} was created on the host", host.display());
        assert!(rootfs.join(format!("tmp/{name}-{suffix}")).is_dir());
    }
    assert!(!Path::new(&format!("/{name}-root")).exists());
    assert!(rootfs.join(format!("{name}-root")).is_dir());
}

#[test]
fn fake_proc_symlink_makes_masking_fail() {
    let bundle = Bundle::busybox(&["sh"]);
    let rootfs = bundle.rootfs();
    fs::remove_dir(rootfs.join("proc")).unwrap();
    fs::create_dir(rootfs.join("fakeproc")).unwrap();
    fs::write(rootfs.join("fakeproc/kcore"), "fake").unwrap();
    symlink("/fakeproc", rootfs.join("proc")).unwrap();
    let mut spec = bundle.spec().clone();
    // No proc mount: /proc is whatever the rootfs says.
    let mounts: Vec<Mount> = spec
        .mounts()
        .clone()
        .unwrap()
        .into_iter()
        .filter(|m| m.typ().as_deref() != Some("proc"))
        .collect();
    spec.set_mounts(Some(mounts));
    let out = run(&bundle, &spec, &Opts::default(), "echo reached");
    assert_eq!(out.code, Some(SETUP_FAILED), "{}", out.stdout);
    assert_eq!(
        out.setup_error(),
        Some("/proc in the container is not procfs"),
        "{}",
        out.stderr
    );
}

#[test]
fn tmpfs_substituted_for_proc_makes_masking_fail() {
    let bundle = Bundle::busybox(&["sh"]);
    let mut spec = bundle.spec().clone();
    let mounts: Vec<Mount> = spec
        .mounts()
        .clone()
        .unwrap()
        .into_iter()
        .map(|m| {
            if m.typ().as_deref() == Some("proc") {
                mount(json!({"destination": "/proc", "type": "tmpfs", "source": "tmpfs"}))
            } else {
                m
            }
        })
        .collect();
    spec.set_mounts(Some(mounts));
    let out = run(&bundle, &spec, &Opts::default(), "echo reached");
    assert_eq!(out.code, Some(SETUP_FAILED), "{}", out.stdout);
    assert_eq!(
        out.setup_error(),
        Some("/proc in the container is not procfs")
    );
}

#[test]
fn proc_mount_onto_symlink_is_refused() {
    let bundle = Bundle::busybox(&["sh"]);
    let rootfs = bundle.rootfs();
    fs::remove_dir(rootfs.join("proc")).unwrap();
    symlink("/fake-proc", rootfs.join("proc")).unwrap();
    let spec = bundle.spec().clone();
    let out = run(&bundle, &spec, &Opts::default(), "echo reached");
    assert_eq!(out.code, Some(SETUP_FAILED), "{}", out.stdout);
    assert_eq!(
        out.setup_error(),
        Some("resolve /proc in the rootfs: too many levels of symbolic links"),
        "{}",
        out.stderr
    );
    // The symlink's target was not created either.
    assert!(!rootfs.join("fake-proc").exists());
}

#[test]
fn invalid_destination_is_rejected() {
    let bundle = Bundle::busybox(&["sh"]);
    let mut spec = bundle.spec().clone();
    add_mounts(
        &mut spec,
        vec![mount(
            json!({"destination": "/a/../../etc", "type": "tmpfs", "source": "tmpfs"}),
        )],
    );
    let out = run(&bundle, &spec, &Opts::default(), "echo reached");
    assert_eq!(out.code, Some(SETUP_FAILED));
    assert_eq!(
        out.setup_error(),
        Some("invalid mount destination \"/a/../../etc\": `..` escapes the root")
    );
}

#[test]
fn config_devices_are_created() {
    let bundle = Bundle::busybox(&["sh"]);
    let mut spec = bundle.spec().clone();
    let devices = serde_json::from_value(json!([
        {"path": "/dev/berth-null", "type": "c", "major": 1, "minor": 3,
         "fileMode": 0o640, "uid": 1000, "gid": 1001},
        {"path": "/dev/sub/berth-loop", "type": "b", "major": 7, "minor": 200, "fileMode": 0o600},
        {"path": "/dev/berth-fifo", "type": "p", "fileMode": 0o620}
    ]))
    .unwrap();
    spec.linux_mut()
        .as_mut()
        .unwrap()
        .set_devices(Some(devices));
    let out = run(
        &bundle,
        &spec,
        &Opts::default(),
        "stat -c '%n %t:%T %a %u:%g %F' /dev/berth-null /dev/sub/berth-loop /dev/berth-fifo",
    );
    let text = out.ok();
    assert!(
        text.contains("/dev/berth-null 1:3 640 1000:1001 character special file"),
        "{text}"
    );
    assert!(
        text.contains("/dev/sub/berth-loop 7:c8 600 0:0 block special file"),
        "{text}"
    );
    assert!(text.contains("/dev/berth-fifo 0:0 620 0:0 fifo"), "{text}");
}

#[test]
fn devices_are_bind_mounted_in_user_ns_mode() {
    let bundle = Bundle::busybox(&["sh"]);
    let spec = bundle.spec().clone();
    let opts = Opts {
        in_user_ns: true,
        ..Opts::default()
    };
    let out = run(
        &bundle,
        &spec,
        &opts,
        "cat /proc/self/mountinfo; echo ---; stat -c '%t:%T %F' /dev/null /dev/urandom",
    );
    let text = out.ok();
    let (info, stat) = text.split_once("---\n").unwrap();
    for point in ["/dev/null", "/dev/zero", "/dev/urandom", "/dev/tty"] {
        mount_line(info, point);
    }
    assert!(stat.contains("1:3 character special file"), "{stat}");
    assert!(stat.contains("1:9 character special file"), "{stat}");
}

#[test]
fn bind_mounts_with_flags_and_relative_source() {
    let bundle = Bundle::busybox(&["sh"]);
    let host_dir = bundle.path().join("shared");
    fs::create_dir_all(host_dir.join("sub")).unwrap();
    fs::write(host_dir.join("hello"), "hi from host").unwrap();
    fs::write(bundle.path().join("file.txt"), "single file").unwrap();
    let mut spec = bundle.spec().clone();
    add_mounts(
        &mut spec,
        vec![
            mount(
                json!({"destination": "/mnt/ro", "type": "bind", "source": host_dir,
                         "options": ["rbind", "ro", "nosuid", "nodev", "noexec", "noatime", "rprivate"]}),
            ),
            mount(
                json!({"destination": "/mnt/rw", "type": "none", "source": host_dir,
                         "options": ["bind", "rw"]}),
            ),
            mount(
                json!({"destination": "/etc/file.txt", "type": "none", "source": "file.txt",
                         "options": ["bind", "ro"]}),
            ),
        ],
    );
    let out = run(
        &bundle,
        &spec,
        &Opts::default(),
        "cat /proc/self/mountinfo; echo ---; cat /mnt/ro/hello; echo; cat /etc/file.txt; echo; \
         touch /mnt/ro/x 2>&1; touch /mnt/rw/written && echo rw-ok",
    );
    let text = out.ok();
    let (info, rest) = text.split_once("---\n").unwrap();
    let ro = mount_opts(mount_line(info, "/mnt/ro"));
    for flag in ["ro", "nosuid", "nodev", "noexec", "noatime"] {
        assert!(ro.contains(&flag), "{flag} missing in {ro:?}");
    }
    let rw = mount_opts(mount_line(info, "/mnt/rw"));
    assert!(rw.contains(&"rw") && !rw.contains(&"noexec"), "{rw:?}");
    assert!(mount_opts(mount_line(info, "/etc/file.txt")).contains(&"ro"));
    assert!(rest.contains("hi from host\nsingle file\n"), "{rest}");
    assert!(rest.contains("Read-only file system"), "{rest}");
    assert!(rest.contains("rw-ok"), "{rest}");
    assert!(host_dir.join("written").exists());
    assert!(!host_dir.join("x").exists());
}

#[test]
fn idmapped_bind_mount_shifts_owners() {
    let bundle = Bundle::busybox(&["sh"]);
    let host_dir = bundle.path().join("idmapped");
    fs::create_dir_all(&host_dir).unwrap();
    fs::write(host_dir.join("owned-by-0"), "x").unwrap();
    assert_eq!(fs::metadata(host_dir.join("owned-by-0")).unwrap().uid(), 0);
    let mut spec = bundle.spec().clone();
    add_mounts(
        &mut spec,
        vec![mount(
            json!({"destination": "/mnt/id", "type": "bind", "source": host_dir,
            "options": ["rbind", "idmap"],
            "uidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}],
            "gidMappings": [{"containerID": 0, "hostID": 200000, "size": 65536}]}),
        )],
    );
    let out = run(
        &bundle,
        &spec,
        &Opts::default(),
        "cat /proc/self/mountinfo; echo ---; stat -c '%u:%g' /mnt/id/owned-by-0",
    );
    let text = out.ok();
    let (info, stat) = text.split_once("---\n").unwrap();
    assert!(mount_opts(mount_line(info, "/mnt/id")).contains(&"idmapped"));
    assert_eq!(stat.trim(), "100000:200000");

    // Only one of the two mappings: refused with a clear message.
    let mut spec = bundle.spec().clone();
    add_mounts(
        &mut spec,
        vec![mount(
            json!({"destination": "/mnt/id", "type": "bind", "source": host_dir,
            "options": ["rbind", "idmap"],
            "uidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}]}),
        )],
    );
    let out = run(&bundle, &spec, &Opts::default(), "echo reached");
    assert_eq!(out.code, Some(SETUP_FAILED), "{}", out.stdout);
    assert_eq!(
        out.setup_error(),
        Some(
            "set mount attributes (idmap) on /mnt/id: \
             an idmapped mount needs both uidMappings and gidMappings"
        )
    );
}

#[test]
fn overlay_mount_writes_to_upper() {
    let bundle = Bundle::busybox(&["sh"]);
    let base = bundle.path().join("ov");
    for d in ["lower", "upper", "work"] {
        fs::create_dir_all(base.join(d)).unwrap();
    }
    fs::write(base.join("lower/from-lower"), "lower data").unwrap();
    let mut spec = bundle.spec().clone();
    let data = format!(
        "lowerdir={},upperdir={},workdir={}",
        base.join("lower").display(),
        base.join("upper").display(),
        base.join("work").display()
    );
    add_mounts(
        &mut spec,
        vec![mount(
            json!({"destination": "/ov", "type": "overlay", "source": "overlay",
                          "options": [data, "nodev"]}),
        )],
    );
    let out = run(
        &bundle,
        &spec,
        &Opts::default(),
        "cat /ov/from-lower; echo; echo new > /ov/from-container && echo written",
    );
    let text = out.ok();
    assert!(text.contains("lower data\nwritten"), "{text}");
    assert_eq!(
        fs::read_to_string(base.join("upper/from-container")).unwrap(),
        "new\n"
    );
    assert!(!base.join("lower/from-container").exists());
}

/// A cgroup directory made for one test, removed on drop.
struct CgroupDir(PathBuf);

impl Drop for CgroupDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir(&self.0);
    }
}

#[test]
fn cgroup_v1_mount_binds_the_containers_dirs_read_only() {
    require_root();
    let name = unique("berth-test-cg");
    let pids = CgroupDir(PathBuf::from("/sys/fs/cgroup/pids").join(&name));
    let cpu = CgroupDir(PathBuf::from("/sys/fs/cgroup/cpu").join(&name));
    fs::create_dir(&pids.0).unwrap();
    fs::create_dir(&cpu.0).unwrap();
    fs::write(pids.0.join("pids.max"), "77").unwrap();
    let bundle = Bundle::busybox(&["sh"]);
    let spec = bundle.spec().clone();
    let mut paths = BTreeMap::new();
    paths.insert("pids".to_owned(), pids.0.clone());
    paths.insert("cpu".to_owned(), cpu.0.clone());
    let opts = Opts {
        cgroup_paths: paths,
        ..Opts::default()
    };
    let out = run(
        &bundle,
        &spec,
        &opts,
        "cat /proc/self/mountinfo; echo ---; cat /sys/fs/cgroup/pids/pids.max; \
         echo 5 > /sys/fs/cgroup/pids/pids.max 2>&1; ls /sys/fs/cgroup",
    );
    let text = out.ok();
    let (info, rest) = text.split_once("---\n").unwrap();
    let tmpfs = mount_line(info, "/sys/fs/cgroup");
    assert!(fs_part(tmpfs).starts_with("tmpfs ") && mount_opts(tmpfs).contains(&"ro"));
    for ctrl in ["pids", "cpu"] {
        let line = mount_line(info, &format!("/sys/fs/cgroup/{ctrl}"));
        assert!(fs_part(line).starts_with("cgroup "), "{line}");
        assert!(mount_opts(line).contains(&"ro"), "{line}");
        // The bind's root is the container's directory, not the hierarchy root.
        assert_eq!(line.split(' ').nth(3), Some(format!("/{name}").as_str()));
    }
    assert!(rest.starts_with("77\n"), "{rest}");
    assert!(rest.contains("Read-only file system"), "{rest}");
    assert_eq!(fs::read_to_string(pids.0.join("pids.max")).unwrap(), "77\n");
}

#[test]
fn no_pivot_moves_rootfs_and_chroots() {
    let bundle = Bundle::busybox(&["sh"]);
    let spec = bundle.spec().clone();
    let opts = Opts {
        no_pivot: true,
        ..Opts::default()
    };
    let out = run(
        &bundle,
        &spec,
        &opts,
        "ls /; echo ---; cat /proc/self/mountinfo",
    );
    let text = out.ok();
    let (ls, info) = text.split_once("---\n").unwrap();
    assert!(ls.lines().any(|l| l == "bin") && ls.lines().any(|l| l == "etc"));
    assert!(fs_part(mount_line(info, "/proc")).starts_with("proc "));
}

#[test]
fn cgroup_namespace_mounts_fresh_hierarchies() {
    require_root();
    let name = unique("berth-test-cgns");
    let pids = CgroupDir(PathBuf::from("/sys/fs/cgroup/pids").join(&name));
    let unified = CgroupDir(PathBuf::from("/sys/fs/cgroup/unified").join(&name));
    fs::create_dir(&pids.0).unwrap();
    fs::create_dir(&unified.0).unwrap();
    fs::write(pids.0.join("pids.max"), "66").unwrap();
    let bundle = Bundle::busybox(&["sh"]);
    let spec = bundle.spec().clone();
    let mut paths = BTreeMap::new();
    paths.insert("pids".to_owned(), pids.0.clone());
    paths.insert("unified".to_owned(), unified.0.clone());
    let opts = Opts {
        cgroup_paths: paths,
        cgroup_ns: true,
        join_cgroups: vec![pids.0.clone(), unified.0.clone()],
        ..Opts::default()
    };
    let out = run(
        &bundle,
        &spec,
        &opts,
        "cat /proc/self/mountinfo; echo ---; cat /sys/fs/cgroup/pids/pids.max; \
         cat /sys/fs/cgroup/unified/cgroup.procs | wc -l",
    );
    let text = out.ok();
    let (info, rest) = text.split_once("---\n").unwrap();
    let line = mount_line(info, "/sys/fs/cgroup/pids");
    assert!(fs_part(line).starts_with("cgroup ") && fs_part(line).contains("pids"));
    // In its own cgroup namespace the container's cgroup is the root.
    assert_eq!(line.split(' ').nth(3), Some("/"));
    assert!(mount_opts(line).contains(&"ro"), "{line}");
    let line = mount_line(info, "/sys/fs/cgroup/unified");
    assert!(fs_part(line).starts_with("cgroup2 "), "{line}");
    assert_eq!(line.split(' ').nth(3), Some("/"));
    assert!(rest.starts_with("66\n"), "{rest}");
    assert_ne!(rest.lines().nth(1), Some("0"), "{rest}");
}

#[test]
fn cgroup_v2_without_namespace_binds_the_containers_dir() {
    require_root();
    let name = unique("berth-test-cg2");
    let dir = CgroupDir(PathBuf::from("/sys/fs/cgroup/unified").join(&name));
    fs::create_dir(&dir.0).unwrap();
    let bundle = Bundle::busybox(&["sh"]);
    let spec = bundle.spec().clone();
    let mut paths = BTreeMap::new();
    paths.insert(String::new(), dir.0.clone());
    let opts = Opts {
        cgroup_paths: paths,
        ..Opts::default()
    };
    let out = run(
        &bundle,
        &spec,
        &opts,
        "cat /proc/self/mountinfo; echo ---; ls /sys/fs/cgroup",
    );
    let text = out.ok();
    let (info, ls) = text.split_once("---\n").unwrap();
    let line = mount_line(info, "/sys/fs/cgroup");
    assert!(fs_part(line).starts_with("cgroup2 "), "{line}");
    assert_eq!(line.split(' ').nth(3), Some(format!("/{name}").as_str()));
    assert!(mount_opts(line).contains(&"ro"), "{line}");
    assert!(ls.lines().any(|l| l == "cgroup.procs"), "{ls}");
}

#[test]
fn propagation_options_and_root_propagation() {
    let bundle = Bundle::busybox(&["sh"]);
    let mut spec = bundle.spec().clone();
    add_mounts(
        &mut spec,
        vec![
            mount(
                json!({"destination": "/mnt/shared", "type": "tmpfs", "source": "tmpfs",
                         "options": ["shared"]}),
            ),
            mount(
                json!({"destination": "/mnt/unbindable", "type": "tmpfs", "source": "tmpfs",
                         "options": ["unbindable"]}),
            ),
        ],
    );
    spec.linux_mut()
        .as_mut()
        .unwrap()
        .set_rootfs_propagation(Some("private".into()));
    let out = run(&bundle, &spec, &Opts::default(), "cat /proc/self/mountinfo");
    let info = out.ok();
    let optional = |point: &str| -> String {
        let line = mount_line(info, point);
        let left = line.split_once(" - ").unwrap().0;
        left.split(' ').skip(6).collect::<Vec<_>>().join(" ")
    };
    assert!(optional("/mnt/shared").starts_with("shared:"), "{info}");
    assert_eq!(optional("/mnt/unbindable"), "unbindable", "{info}");
    assert_eq!(optional("/"), "", "root is private: {info}");
}

#[test]
fn console_target_exists_with_terminal() {
    let bundle = Bundle::busybox(&["sh"]);
    let mut spec = bundle.spec().clone();
    spec.process_mut()
        .as_mut()
        .unwrap()
        .set_terminal(Some(true));
    let out = run(&bundle, &spec, &Opts::default(), "stat -c %F /dev/console");
    assert_eq!(out.ok().trim(), "regular empty file");
}

#[test]
fn readonly_dev_is_applied_after_devices() {
    let bundle = Bundle::busybox(&["sh"]);
    let mut spec = bundle.spec().clone();
    let mounts: Vec<Mount> = spec
        .mounts()
        .clone()
        .unwrap()
        .into_iter()
        .map(|m| {
            if m.destination() == Path::new("/dev") {
                mount(
                    json!({"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
                             "options": ["nosuid", "mode=755", "ro"]}),
                )
            } else {
                m
            }
        })
        .collect();
    spec.set_mounts(Some(mounts));
    let out = run(
        &bundle,
        &spec,
        &Opts::default(),
        "cat /proc/self/mountinfo; echo ---; stat -c %t:%T /dev/null; touch /dev/berth-x; true",
    );
    let text = out.ok();
    let (info, rest) = text.split_once("---\n").unwrap();
    assert!(mount_opts(mount_line(info, "/dev")).contains(&"ro"));
    assert!(rest.starts_with("1:3\n"), "{rest}");
    assert!(rest.contains("Read-only file system"), "{rest}");
}

#[test]
fn overlay_errors_carry_the_kernels_message() {
    let bundle = Bundle::busybox(&["sh"]);
    let mut spec = bundle.spec().clone();
    // overlayfs explains the refusal in the file-system context's log.
    add_mounts(
        &mut spec,
        vec![mount(
            json!({"destination": "/ov", "type": "overlay", "source": "overlay",
                          "options": ["berth_bogus=1"]}),
        )],
    );
    let out = run(&bundle, &spec, &Opts::default(), "echo reached");
    assert_eq!(out.code, Some(SETUP_FAILED), "{}", out.stdout);
    assert_eq!(
        out.setup_error(),
        Some("mount overlay on /ov: invalid argument (overlay: Unknown parameter 'berth_bogus')")
    );
}

#[test]
fn mounts_below_proc_are_limited() {
    let bundle = Bundle::busybox(&["sh"]);
    fs::write(bundle.path().join("uptime"), "12345.67 1.00\n").unwrap();
    let mut spec = bundle.spec().clone();
    add_mounts(
        &mut spec,
        vec![mount(json!({"destination": "/proc/uptime", "type": "bind",
                          "source": "uptime", "options": ["bind", "ro"]}))],
    );
    let out = run(&bundle, &spec, &Opts::default(), "cat /proc/uptime");
    assert_eq!(out.ok(), "12345.67 1.00\n");

    let mut spec = bundle.spec().clone();
    add_mounts(
        &mut spec,
        vec![mount(
            json!({"destination": "/proc/self/attr", "type": "tmpfs",
                          "source": "tmpfs"}),
        )],
    );
    let out = run(&bundle, &spec, &Opts::default(), "echo reached");
    assert_eq!(out.code, Some(SETUP_FAILED), "{}", out.stdout);
    assert_eq!(
        out.setup_error(),
        Some("mount on /proc/self/attr: only procfs may be mounted there")
    );
}

#[test]
fn recursive_read_only_reaches_submounts() {
    let bundle = Bundle::busybox(&["sh"]);
    let rootfs = fs::canonicalize(bundle.rootfs()).unwrap();
    fs::create_dir_all(rootfs.join("data/src/sub")).unwrap();
    let src = rootfs.join("data/src");
    let mut spec = bundle.spec().clone();
    add_mounts(
        &mut spec,
        vec![
            // A submount inside the later bind source (made in the child's namespace).
            mount(json!({"destination": "/data/src/sub", "type": "tmpfs", "source": "tmpfs"})),
            mount(
                json!({"destination": "/mnt/rro", "type": "bind", "source": src,
                         "options": ["rbind", "rro"]}),
            ),
            mount(
                json!({"destination": "/mnt/ro", "type": "bind", "source": src,
                         "options": ["rbind", "ro"]}),
            ),
        ],
    );
    let out = run(
        &bundle,
        &spec,
        &Opts::default(),
        "touch /mnt/rro/sub/x; touch /mnt/ro/top; touch /mnt/ro/sub/y && echo sub-writable; true",
    );
    let text = out.ok();
    assert!(
        text.contains("touch: /mnt/rro/sub/x: Read-only file system"),
        "{text}"
    );
    assert!(
        text.contains("touch: /mnt/ro/top: Read-only file system"),
        "{text}"
    );
    assert!(
        text.contains("sub-writable"),
        "plain ro is not recursive: {text}"
    );
}

#[test]
fn rootfs_symlinks_cannot_redirect_mounts_into_proc() {
    let bundle = Bundle::busybox(&["sh"]);
    let rootfs = bundle.rootfs();
    fs::remove_dir(rootfs.join("run")).unwrap();
    symlink("/proc/self", rootfs.join("run")).unwrap();
    let mut spec = bundle.spec().clone();
    add_mounts(
        &mut spec,
        vec![mount(
            json!({"destination": "/run/attr", "type": "tmpfs", "source": "tmpfs"}),
        )],
    );
    let out = run(&bundle, &spec, &Opts::default(), "echo reached");
    assert_eq!(out.code, Some(SETUP_FAILED), "{}", out.stdout);
    assert_eq!(
        out.setup_error(),
        Some("mount on /run/attr: only procfs may be mounted there")
    );
}

/// A host directory made for one test, removed on drop.
struct HostDir(PathBuf);

impl Drop for HostDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// CVE-2021-30465: the rootfs swaps a directory and a symlink pointing out of the rootfs
/// (atomically, with RENAME_EXCHANGE) while mounts are set up. Nothing may land outside.
#[test]
fn symlink_exchange_race_never_escapes() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    require_root();
    let bundle = Bundle::busybox(&["sh"]);
    let rootfs = bundle.rootfs();
    let victim = HostDir(PathBuf::from("/tmp").join(unique("berth-test-victim")));
    fs::create_dir(&victim.0).unwrap();
    fs::create_dir(rootfs.join("race")).unwrap();
    symlink(
        format!("../../../../../../../../..{}", victim.0.display()),
        rootfs.join("race-alt"),
    )
    .unwrap();
    let mut spec = bundle.spec().clone();
    let extra: Vec<Mount> = (0..8)
        .map(|i| {
            mount(
                json!({"destination": format!("/race/sub{i}"), "type": "tmpfs",
                         "source": "tmpfs", "options": ["size=1m"]}),
            )
        })
        .collect();
    add_mounts(&mut spec, extra);

    let stop = Arc::new(AtomicBool::new(false));
    let swapper = {
        let stop = stop.clone();
        let dir = rootfs.clone();
        std::thread::spawn(move || {
            let d = rustix::fs::open(
                &dir,
                rustix::fs::OFlags::PATH | rustix::fs::OFlags::DIRECTORY,
                rustix::fs::Mode::empty(),
            )
            .unwrap();
            let mut swaps = 0u64;
            while !stop.load(Ordering::Relaxed) {
                rustix::fs::renameat_with(
                    &d,
                    "race",
                    &d,
                    "race-alt",
                    rustix::fs::RenameFlags::EXCHANGE,
                )
                .unwrap();
                swaps += 1;
            }
            swaps
        })
    };
    let mut ok = 0;
    for _ in 0..40 {
        let out = run(&bundle, &spec, &Opts::default(), "echo done");
        if out.code == Some(0) {
            ok += 1;
        }
        let victim_str = victim.0.display().to_string();
        assert!(!host_mountinfo().contains(&victim_str));
    }
    stop.store(true, Ordering::Relaxed);
    let swaps = swapper.join().unwrap();
    assert!(swaps > 0);
    let leaked: Vec<_> = fs::read_dir(&victim.0).unwrap().collect();
    assert!(
        leaked.is_empty(),
        "created outside the rootfs: {leaked:?} ({ok} runs ok)"
    );
}

/// The default spec adjusted for a user namespace that maps only root and has no pid
/// namespace: procfs is bind-mounted from the host and devpts gets no unmapped `gid=5`.
fn userns_spec(bundle: &Bundle) -> Spec {
    let mut spec = bundle.spec().clone();
    let mounts: Vec<Mount> = spec
        .mounts()
        .clone()
        .unwrap()
        .into_iter()
        .map(|m| match m.typ().as_deref() {
            Some("proc") => mount(json!({"destination": "/proc", "type": "bind",
                                         "source": "/proc", "options": ["rbind"]})),
            Some("devpts") => mount(json!({"destination": "/dev/pts", "type": "devpts",
                "source": "devpts",
                "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]})),
            _ => m,
        })
        .collect();
    spec.set_mounts(Some(mounts));
    spec
}

#[test]
fn user_namespace_binds_devices_and_falls_back_for_sysfs() {
    let bundle = Bundle::busybox(&["sh"]);
    // sysfs cannot be mounted without a network namespace owned by the user namespace: the
    // host's is bound instead.
    let spec = userns_spec(&bundle);
    let opts = Opts {
        user_ns: true,
        in_user_ns: true,
        ..Opts::default()
    };
    let out = run(
        &bundle,
        &spec,
        &opts,
        "cat /proc/self/mountinfo; echo ---; echo timer_list=$(wc -c < /proc/timer_list); \
         stat -c %t:%T /dev/null; cat /proc/self/uid_map; touch /x; true",
    );
    let text = out.ok();
    let (info, rest) = text.split_once("---\n").unwrap();
    for dev in ["/dev/null", "/dev/zero", "/dev/full", "/dev/tty"] {
        mount_line(info, dev);
    }
    let sys = mount_line(info, "/sys");
    assert!(fs_part(sys).starts_with("sysfs "), "{sys}");
    assert!(mount_opts(sys).contains(&"ro"), "{sys}");
    assert!(rest.contains("timer_list=0\n"), "{rest}");
    assert!(rest.contains("1:3\n"), "{rest}");
    assert!(
        rest.contains("Read-only file system"),
        "root.readonly: {rest}"
    );
    let map: Vec<&str> = rest
        .lines()
        .find(|l| l.trim_start().starts_with('0'))
        .unwrap()
        .split_whitespace()
        .collect();
    assert_eq!(map, ["0", "0", "1"], "ran inside the user namespace");
}

#[test]
fn idmapped_mounts_premade_on_the_host_work_in_a_user_namespace() {
    require_root();
    let bundle = Bundle::busybox(&["sh"]);
    let host_dir = bundle.path().join("owned-by-1000");
    fs::create_dir_all(&host_dir).unwrap();
    fs::write(host_dir.join("f"), "x").unwrap();
    std::os::unix::fs::chown(host_dir.join("f"), Some(1000), Some(1000)).unwrap();
    let mut spec = userns_spec(&bundle);
    add_mounts(
        &mut spec,
        vec![
            // On-disk 1000 is shown as 0, which the container's user namespace maps.
            mount(
                json!({"destination": "/mnt/id", "type": "bind", "source": host_dir,
                "options": ["bind"],
                "uidMappings": [{"containerID": 1000, "hostID": 0, "size": 1}],
                "gidMappings": [{"containerID": 1000, "hostID": 0, "size": 1}]}),
            ),
            mount(
                json!({"destination": "/mnt/plain", "type": "bind", "source": host_dir,
                "options": ["bind"]}),
            ),
        ],
    );
    let premade = open_idmapped_mounts(&spec, bundle.path()).unwrap();
    assert_eq!(premade.len(), 1);
    let opts = Opts {
        user_ns: true,
        in_user_ns: true,
        idmapped: Some(Arc::new(premade)),
        ..Opts::default()
    };
    let out = run(
        &bundle,
        &spec,
        &opts,
        "stat -c %u:%g /mnt/id/f /mnt/plain/f",
    );
    assert_eq!(out.ok(), "0:0\n65534:65534\n");

    // Made inside the user namespace, the idmapping is refused.
    let opts = Opts {
        user_ns: true,
        in_user_ns: true,
        ..Opts::default()
    };
    let out = run(&bundle, &spec, &opts, "echo reached");
    assert_eq!(out.code, Some(SETUP_FAILED), "{}", out.stdout);
    let err = out.setup_error().unwrap_or_default();
    assert!(
        err.starts_with("set mount attributes (idmap) on /mnt/id:"),
        "{err}"
    );
}
