//! Resource limits on this host's cgroup v1 controllers, measured taking effect: memory
//! (OOM kill), cpu quota (cpuacct), pids (fork bomb), blkio throttle (dd oflag=direct),
//! devices, live `update`, `events --stats`, and relative cgroupsPath.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use oci_spec::runtime::{
    LinuxBlockIoBuilder, LinuxCpuBuilder, LinuxDeviceBuilder, LinuxDeviceCgroupBuilder,
    LinuxDeviceType, LinuxMemoryBuilder, LinuxPidsBuilder, LinuxResources,
    LinuxThrottleDeviceBuilder,
};

fn v1(ctrl: &str, cg: &str, file: &str) -> PathBuf {
    Path::new("/sys/fs/cgroup")
        .join(ctrl)
        .join(cg.trim_start_matches('/'))
        .join(file)
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p)
        .unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
        .trim()
        .to_string()
}

fn set_resources(b: &mut Bundle, r: LinuxResources) {
    b.spec_mut()
        .linux_mut()
        .as_mut()
        .unwrap()
        .set_resources(Some(r));
    b.write().unwrap();
}

#[test]
fn memory_limit_oom_kills_the_hog() {
    let rt = Runtime::new();
    let mut b = Bundle::busybox(&["sh", "-c", "head -c 200m /dev/zero | tail"]);
    let mem = LinuxMemoryBuilder::default()
        .limit(32i64 << 20)
        .swap(32i64 << 20)
        .build()
        .unwrap();
    set_resources(
        &mut b,
        LinuxResources::default().set_memory(Some(mem)).clone(),
    );
    rt.ok(&["create", "--bundle", path(b.path()), b.id()]);
    assert_eq!(
        read(&v1("memory", b.cgroups_path(), "memory.limit_in_bytes")),
        (32u64 << 20).to_string()
    );
    let oom_before = oom_kills(b.cgroups_path());
    rt.ok(&["start", b.id()]);
    let deadline = Instant::now() + Duration::from_secs(20);
    while rt.status(b.id()) != "stopped" {
        assert!(Instant::now() < deadline, "memory hog was not stopped");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        oom_kills(b.cgroups_path()) > oom_before,
        "no OOM kill counted"
    );
    rt.ok(&["delete", b.id()]);
}

fn oom_kills(cg: &str) -> u64 {
    read(&v1("memory", cg, "memory.oom_control"))
        .lines()
        .find_map(|l| l.strip_prefix("oom_kill "))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

#[test]
fn serial_cpu_quota_holds_a_busy_loop() {
    let rt = Runtime::new();
    let mut b = Bundle::busybox(&["sh", "-c", "while :; do :; done"]);
    let cpu = LinuxCpuBuilder::default()
        .quota(20_000i64)
        .period(100_000u64)
        .shares(2048u64)
        .build()
        .unwrap();
    set_resources(&mut b, LinuxResources::default().set_cpu(Some(cpu)).clone());
    rt.ok(&["run", "-d", "--bundle", path(b.path()), b.id()]);
    assert_eq!(
        read(&v1("cpu", b.cgroups_path(), "cpu.cfs_quota_us")),
        "20000"
    );
    assert_eq!(read(&v1("cpu", b.cgroups_path(), "cpu.shares")), "2048");
    let usage = || {
        read(&v1("cpuacct", b.cgroups_path(), "cpuacct.usage"))
            .parse::<u64>()
            .unwrap()
    };
    std::thread::sleep(Duration::from_millis(200));
    let (u0, t0) = (usage(), Instant::now());
    std::thread::sleep(Duration::from_millis(1500));
    let share = (usage() - u0) as f64 / t0.elapsed().as_nanos() as f64;
    assert!(
        share < 0.27,
        "busy loop used {:.0}% of a cpu under a 20% quota",
        share * 100.0
    );
    assert!(
        share > 0.10,
        "busy loop got only {:.0}%: is it running?",
        share * 100.0
    );

    // Live update: a larger quota lets it use more.
    rt.ok(&["update", "--cpu-quota", "60000", b.id()]);
    assert_eq!(
        read(&v1("cpu", b.cgroups_path(), "cpu.cfs_quota_us")),
        "60000"
    );
    std::thread::sleep(Duration::from_millis(200));
    let (u0, t0) = (usage(), Instant::now());
    std::thread::sleep(Duration::from_millis(1500));
    let share = (usage() - u0) as f64 / t0.elapsed().as_nanos() as f64;
    assert!(
        // Above the old cap; the machine may be busy with other tests, so no tighter bound.
        share > 0.27 && share < 0.70,
        "after update: {:.0}%",
        share * 100.0
    );
    rt.ok(&["delete", "--force", b.id()]);
}

#[test]
fn pids_limit_stops_a_fork_bomb() {
    let rt = Runtime::new();
    let mut b = Bundle::busybox(&[
        "sh",
        "-c",
        // The bomb runs in a child shell, which dies when fork fails; pid 1 then execs.
        "sh -c 'i=0; while [ $i -lt 40 ]; do sleep 30 & i=$((i+1)); done' 2>/dev/null; exec sleep 30",
    ]);
    set_resources(
        &mut b,
        LinuxResources::default()
            .set_pids(Some(
                LinuxPidsBuilder::default().limit(10i64).build().unwrap(),
            ))
            .clone(),
    );
    rt.ok(&["run", "-d", "--bundle", path(b.path()), b.id()]);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(read(&v1("pids", b.cgroups_path(), "pids.max")), "10");
    let current: u64 = read(&v1("pids", b.cgroups_path(), "pids.current"))
        .parse()
        .unwrap();
    assert!(current <= 10, "pids.current {current} over the limit");
    let events = read(&v1("pids", b.cgroups_path(), "pids.events"));
    assert!(
        events.contains("max ") && !events.contains("max 0"),
        "no fork was refused: {events}"
    );
    // Update lowers/raises it live.
    rt.ok(&["update", "--pids-limit", "50", b.id()]);
    assert_eq!(read(&v1("pids", b.cgroups_path(), "pids.max")), "50");
    rt.ok(&["delete", "--force", b.id()]);
}

#[test]
fn update_memory_live_and_events_stats() {
    let rt = Runtime::new();
    let b = Bundle::busybox(&["sleep", "100"]);
    rt.ok(&["run", "-d", "--bundle", path(b.path()), b.id()]);
    rt.ok(&[
        "update",
        "--memory",
        "64m",
        "--memory-reservation",
        "32m",
        b.id(),
    ]);
    assert_eq!(
        read(&v1("memory", b.cgroups_path(), "memory.limit_in_bytes")),
        (64u64 << 20).to_string()
    );
    assert_eq!(
        read(&v1(
            "memory",
            b.cgroups_path(),
            "memory.soft_limit_in_bytes"
        )),
        (32u64 << 20).to_string()
    );
    // resources.json from a file
    let r = b.path().join("res.json");
    std::fs::write(&r, r#"{"pids":{"limit":77}}"#).unwrap();
    rt.ok(&["update", "-r", path(&r), b.id()]);
    assert_eq!(read(&v1("pids", b.cgroups_path(), "pids.max")), "77");
    let ev: serde_json::Value =
        serde_json::from_str(rt.ok(&["events", "--stats", b.id()]).trim()).unwrap();
    assert_eq!(ev["type"], "stats");
    assert_eq!(ev["id"], b.id());
    assert!(ev["data"]["memory"].is_object(), "{ev}");
    assert!(
        ev["data"]["pids"]["current"].as_u64().unwrap_or(0) >= 1,
        "{ev}"
    );
    rt.ok(&["delete", "--force", b.id()]);
}

#[test]
fn device_rules_deny_and_allow() {
    // A block device node in the container: denied by the default device rules, usable
    // once the config allows it; the default devices stay usable either way.
    let lo = Loop::new();
    let (major, minor) = lo.numbers();
    for allowed in [false, true] {
        let rt = Runtime::new();
        let mut b = Bundle::busybox(&[
            "sh",
            "-c",
            "head -c 512 /dev/blk | wc -c; echo null >/dev/null && echo null-ok",
        ]);
        lo.add_node(&mut b);
        let mut rules = vec![LinuxDeviceCgroupBuilder::default()
            .allow(false)
            .access("rwm")
            .build()
            .unwrap()];
        if allowed {
            rules.push(
                LinuxDeviceCgroupBuilder::default()
                    .allow(true)
                    .typ(LinuxDeviceType::B)
                    .major(major)
                    .minor(minor)
                    .access("rw")
                    .build()
                    .unwrap(),
            );
        }
        set_resources(
            &mut b,
            LinuxResources::default().set_devices(Some(rules)).clone(),
        );
        let (code, out, err) = rt.run(&b);
        assert_eq!(code, 0, "{err}");
        assert!(out.contains("null-ok"), "{out}");
        if allowed {
            assert!(
                out.lines().next() == Some("512"),
                "allowed device unreadable: {out} {err}"
            );
        } else {
            assert!(
                out.lines().next() == Some("0"),
                "denied device was readable: {out}"
            );
            assert!(err.contains("Operation not permitted"), "{err}");
        }
    }
}

/// A loop device for the blkio test, detached and its file removed on drop.
struct Loop {
    dev: String,
    file: PathBuf,
}

impl Loop {
    fn new() -> Loop {
        let file = std::env::temp_dir().join(unique("berth-test-loop"));
        let f = std::fs::File::create(&file).unwrap();
        f.set_len(64 << 20).unwrap();
        let out = Command::new("losetup")
            .args(["--find", "--show", path(&file)])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "losetup: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Loop {
            dev: String::from_utf8_lossy(&out.stdout).trim().to_string(),
            file,
        }
    }
}

impl Loop {
    /// The loop device as the container's `/dev/blk` (a config device node).
    fn add_node(&self, b: &mut Bundle) {
        let (major, minor) = self.numbers();
        let dev = LinuxDeviceBuilder::default()
            .path("/dev/blk")
            .typ(LinuxDeviceType::B)
            .major(major)
            .minor(minor)
            .file_mode(0o660u32)
            .build()
            .unwrap();
        b.spec_mut()
            .linux_mut()
            .as_mut()
            .unwrap()
            .set_devices(Some(vec![dev]));
    }

    fn numbers(&self) -> (i64, i64) {
        use std::os::unix::fs::MetadataExt;
        let rdev = std::fs::metadata(&self.dev).unwrap().rdev();
        (nix_major(rdev), nix_minor(rdev))
    }
}

impl Drop for Loop {
    fn drop(&mut self) {
        let _ = Command::new("losetup").args(["-d", &self.dev]).status();
        let _ = std::fs::remove_file(&self.file);
    }
}

#[test]
fn serial_blkio_write_bps_throttle() {
    let rt = Runtime::new();
    let lo = Loop::new();
    let (major, minor) = lo.numbers();
    let mut b = Bundle::busybox(&[
        "sh",
        "-c",
        "time dd if=/dev/zero of=/dev/blk bs=64k count=48 oflag=direct 2>&1",
    ]);
    lo.add_node(&mut b);
    let throttle = LinuxThrottleDeviceBuilder::default()
        .major(major)
        .minor(minor)
        .rate(1u64 << 20)
        .build()
        .unwrap();
    let blkio = LinuxBlockIoBuilder::default()
        .throttle_write_bps_device(vec![throttle])
        .build()
        .unwrap();
    let allow = LinuxDeviceCgroupBuilder::default()
        .allow(true)
        .typ(LinuxDeviceType::B)
        .major(major)
        .minor(minor)
        .access("rwm")
        .build()
        .unwrap();
    set_resources(
        &mut b,
        LinuxResources::default()
            .set_block_io(Some(blkio))
            .set_devices(Some(vec![allow]))
            .clone(),
    );
    let t0 = Instant::now();
    let (code, out, err) = rt.run(&b);
    let took = t0.elapsed();
    assert_eq!(code, 0, "{out} {err}");
    // 3 MiB at 1 MiB/s: at least ~2 s (the first second's budget may burst).
    assert!(
        took >= Duration::from_millis(1800),
        "3 MiB written in {took:?} under a 1 MiB/s throttle: {out}"
    );
}

fn nix_major(dev: u64) -> i64 {
    (((dev >> 32) & 0xffff_f000) | ((dev >> 8) & 0xfff)) as i64
}

fn nix_minor(dev: u64) -> i64 {
    (((dev >> 12) & 0xffff_ff00) | (dev & 0xff)) as i64
}

#[test]
fn relative_cgroups_path_lands_under_the_callers_cgroup() {
    let rt = Runtime::new();
    // The runtime runs in a cgroup of ours, never under the machine's own.
    let mut b = Bundle::busybox(&["sleep", "100"]);
    let rel = unique("berth-test-rel");
    b.spec_mut()
        .linux_mut()
        .as_mut()
        .unwrap()
        .set_cgroups_path(Some(PathBuf::from(&rel)));
    b.write().unwrap();
    // A placeholder process owns the test cgroup; the runtime is started by a shell that
    // first moves itself into it, so "relative" means relative to our cgroup, never to the
    // machine's own.
    let mut child = Command::new("sh")
        .arg("-c")
        .arg("read x")
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let tcg = berth_testkit::TestCgroup::for_process(child.id()).unwrap();
    let script = format!(
        "exec {bin} --root {root} run -d --bundle {bundle} {id}",
        bin = rt.bin.display(),
        root = rt.root.display(),
        bundle = b.path().display(),
        id = b.id()
    );
    let status = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "for f in {}; do echo $$ > $f; done; {}",
            tcg.dirs()
                .map(|d| d.join("cgroup.procs").display().to_string())
                .collect::<Vec<_>>()
                .join(" "),
            script
        ))
        .status()
        .unwrap();
    assert!(status.success());
    let pid = rt.state(b.id())["pid"].as_i64().unwrap();
    let cg = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let pids_line = cg.lines().find(|l| l.contains(":pids:")).unwrap();
    assert!(
        pids_line.ends_with(&format!("{}/{}", tcg.name(), rel)),
        "{pids_line}"
    );
    rt.ok(&["delete", "--force", b.id()]);
    let _ = child.kill();
    let _ = child.wait();
    drop(tcg);
}
