//! The manager on this host's real cgroups (hybrid: v1 controllers plus a cgroup2 tree).
//! Needs root.

mod common;

use std::path::Path;
use std::thread::sleep;
use std::time::{Duration, Instant};

use berth_cgroups::{detect, Hierarchy, Manager, SavedCgroup};
use common::{proc_cgroup, read_u64, Cg, Proc};
use oci_spec::runtime::{
    LinuxCpuBuilder, LinuxDeviceCgroupBuilder, LinuxDeviceType, LinuxMemoryBuilder,
    LinuxPidsBuilder, LinuxResources, LinuxResourcesBuilder,
};

fn memory(limit: i64) -> LinuxResources {
    LinuxResourcesBuilder::default()
        .memory(LinuxMemoryBuilder::default().limit(limit).build().unwrap())
        .build()
        .unwrap()
}

#[test]
fn detects_hybrid_host() {
    assert_eq!(detect().unwrap(), Hierarchy::Hybrid);
    let cg = Cg::new("detect");
    assert_eq!(cg.mgr.hierarchy(), Hierarchy::Hybrid);
    let paths = cg.mgr.paths();
    for c in [
        "cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids",
    ] {
        assert!(paths.contains_key(c), "{c} missing from {paths:?}");
    }
    assert!(paths.contains_key(berth_cgroups::UNIFIED_KEY));
}

#[test]
fn create_makes_every_dir_and_destroy_removes_them() {
    let cg = Cg::new("lifecycle");
    for (c, dir) in cg.mgr.paths() {
        assert!(dir.is_dir(), "{c}: {} not created", dir.display());
    }
    // A new v1 cpuset cgroup inherits its parent's cpus and mems (it would refuse tasks).
    assert!(!cg.read("cpuset", "cpuset.cpus").is_empty());
    assert!(!cg.read("cpuset", "cpuset.mems").is_empty());
    cg.mgr.destroy().unwrap();
    for (c, dir) in cg.mgr.paths() {
        assert!(!dir.exists(), "{c}: {} still exists", dir.display());
    }
    cg.mgr.destroy().expect("destroy is idempotent");
}

#[test]
fn add_process_moves_child_into_every_hierarchy() {
    let cg = Cg::new("procs");
    let p = Proc::start_in(&cg, "exec sleep 30");
    let suffix = cg.dir("memory");
    let name = suffix.file_name().unwrap().to_str().unwrap();
    for c in [
        "memory", "cpu", "cpuset", "pids", "freezer", "devices", "blkio", "",
    ] {
        assert_eq!(
            proc_cgroup(p.pid(), c),
            format!("/{name}"),
            "controller {c:?}"
        );
    }
    assert_eq!(cg.mgr.pids().unwrap(), vec![p.pid()]);
}

#[test]
fn memory_limit_is_written() {
    let cg = Cg::with("memlimit", &memory(64 << 20));
    assert_eq!(
        cg.read("memory", "memory.limit_in_bytes"),
        (64u64 << 20).to_string()
    );
    // Only what the config sets is written: swappiness keeps its inherited value.
    let parent = Path::new("/sys/fs/cgroup/memory/memory.swappiness");
    assert_eq!(
        read_u64(&cg.dir("memory").join("memory.swappiness")),
        read_u64(parent)
    );
}

#[test]
fn memory_hog_is_oom_killed() {
    let res = LinuxResourcesBuilder::default()
        .memory(
            LinuxMemoryBuilder::default()
                .limit(32i64 << 20)
                .swap(32i64 << 20)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    let cg = Cg::with("oom", &res);
    assert_eq!(cg.mgr.oom_kill_count().unwrap(), 0);
    // dd allocates and fills a 256 MiB buffer: far over the limit.
    let mut p = Proc::start_in(&cg, "exec dd if=/dev/zero of=/dev/null bs=256M count=1");
    let (status, _, err) = p.finish(Duration::from_secs(20));
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(
        status.signal(),
        Some(libc::SIGKILL),
        "dd survived: {status:?} {err}"
    );
    assert!(cg.mgr.oom_kill_count().unwrap() > 0);
}

fn cpu_usage_ns(cg: &Cg) -> u64 {
    read_u64(&cg.dir("cpuacct").join("cpuacct.usage"))
}

#[test]
fn serial_cpu_quota_holds_busy_loop() {
    let res = LinuxResourcesBuilder::default()
        .cpu(
            LinuxCpuBuilder::default()
                .quota(20_000i64)
                .period(100_000u64)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    let cg = Cg::with("cpuquota", &res);
    assert_eq!(cg.read("cpu", "cpu.cfs_quota_us"), "20000");
    let _p = Proc::start_in(&cg, "while :; do :; done");
    sleep(Duration::from_millis(200));
    let (u0, t0) = (cpu_usage_ns(&cg), Instant::now());
    sleep(Duration::from_millis(1000));
    let (u1, t1) = (cpu_usage_ns(&cg), Instant::now());
    let share = (u1 - u0) as f64 / (t1 - t0).as_nanos() as f64;
    assert!(
        share <= 0.25,
        "busy loop got {:.0}% of a CPU",
        share * 100.0
    );
    assert!(
        share > 0.02,
        "busy loop did not run ({:.1}%)",
        share * 100.0
    );
    let stats = cg.mgr.stats().unwrap();
    assert!(stats.cpu.throttling.throttled_periods > 0);
}

#[test]
fn pids_limit_stops_forks() {
    let res = LinuxResourcesBuilder::default()
        .pids(LinuxPidsBuilder::default().limit(4).build().unwrap())
        .build()
        .unwrap();
    let cg = Cg::with("pids", &res);
    assert_eq!(cg.read("pids", "pids.max"), "4");
    let mut p = Proc::start_in(
        &cg,
        "for i in 1 2 3 4 5 6 7 8; do sleep 2 & done; echo started; wait",
    );
    let (_, out, err) = p.finish(Duration::from_secs(10));
    // dash gives up on the first refused fork.
    assert!(!out.contains("started"), "all forks succeeded: {out}");
    assert!(err.contains("Cannot fork"), "{err}");
    // The kernel counts refused forks in pids.events.
    let events = cg.read("pids", "pids.events");
    let refused: u64 = events
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    assert!(refused > 0, "pids.events: {events}");
    assert!(read_u64(&cg.dir("pids").join("pids.peak")) <= 4);
}

#[test]
fn freeze_stops_and_thaw_resumes() {
    let cg = Cg::new("freeze");
    let _p = Proc::start_in(&cg, "while :; do :; done");
    sleep(Duration::from_millis(100));
    cg.mgr.freeze().unwrap();
    assert!(cg.mgr.is_frozen().unwrap());
    assert_eq!(cg.read("freezer", "freezer.state"), "FROZEN");
    let u0 = cpu_usage_ns(&cg);
    sleep(Duration::from_millis(300));
    assert_eq!(cpu_usage_ns(&cg), u0, "frozen processes used CPU");
    cg.mgr.thaw().unwrap();
    assert!(!cg.mgr.is_frozen().unwrap());
    sleep(Duration::from_millis(300));
    assert!(cpu_usage_ns(&cg) > u0, "thawed processes did not run");
}

fn dev_rules(allow_null: bool) -> LinuxResources {
    let mut rules = vec![LinuxDeviceCgroupBuilder::default()
        .allow(false)
        .access("rwm")
        .build()
        .unwrap()];
    if allow_null {
        rules.push(
            LinuxDeviceCgroupBuilder::default()
                .allow(true)
                .typ(LinuxDeviceType::C)
                .major(1i64)
                .minor(3i64)
                .access("rw")
                .build()
                .unwrap(),
        );
    }
    LinuxResourcesBuilder::default()
        .devices(rules)
        .build()
        .unwrap()
}

const OPEN_NULL: &str = "if cat /dev/null; then echo OPENED; else echo DENIED; fi";

#[test]
fn device_rules_deny_and_allow_dev_null() {
    let denied = Cg::with("devdeny", &dev_rules(false));
    assert_eq!(denied.read("devices", "devices.list"), "");
    let mut p = Proc::start_in(&denied, OPEN_NULL);
    let (_, out, err) = p.finish(Duration::from_secs(5));
    assert_eq!(out.trim(), "DENIED", "{err}");
    assert!(err.contains("Operation not permitted"), "{err}");

    let allowed = Cg::with("devallow", &dev_rules(true));
    assert_eq!(allowed.read("devices", "devices.list"), "c 1:3 rw");
    let mut p = Proc::start_in(&allowed, OPEN_NULL);
    let (_, out, err) = p.finish(Duration::from_secs(5));
    assert_eq!(out.trim(), "OPENED", "{err}");
}

#[test]
fn update_changes_limits_live() {
    let res = LinuxResourcesBuilder::default()
        .memory(
            LinuxMemoryBuilder::default()
                .limit(64i64 << 20)
                .swap(64i64 << 20)
                .build()
                .unwrap(),
        )
        .pids(LinuxPidsBuilder::default().limit(10).build().unwrap())
        .build()
        .unwrap();
    let cg = Cg::with("update", &res);
    let _p = Proc::start_in(&cg, "exec sleep 30");
    // Raising both memory and memory+swap: v1 needs memsw raised first.
    let up = LinuxResourcesBuilder::default()
        .memory(
            LinuxMemoryBuilder::default()
                .limit(128i64 << 20)
                .swap(256i64 << 20)
                .build()
                .unwrap(),
        )
        .pids(LinuxPidsBuilder::default().limit(20).build().unwrap())
        .build()
        .unwrap();
    cg.mgr.update(&up).unwrap();
    assert_eq!(
        cg.read("memory", "memory.limit_in_bytes"),
        (128u64 << 20).to_string()
    );
    assert_eq!(
        cg.read("memory", "memory.memsw.limit_in_bytes"),
        (256u64 << 20).to_string()
    );
    assert_eq!(cg.read("pids", "pids.max"), "20");
    // checkBeforeUpdate refuses a limit below what is in use (once the exec'd sleep has
    // faulted in pages charged to the cgroup).
    let usage = cg.dir("memory").join("memory.usage_in_bytes");
    let deadline = Instant::now() + Duration::from_secs(2);
    while read_u64(&usage) <= 4096 && Instant::now() < deadline {
        sleep(Duration::from_millis(10));
    }
    assert!(read_u64(&usage) > 4096);
    let too_low = LinuxResourcesBuilder::default()
        .memory(
            LinuxMemoryBuilder::default()
                .limit(4096i64)
                .check_before_update(true)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    let e = cg.mgr.update(&too_low).unwrap_err().to_string();
    assert!(e.contains("checkBeforeUpdate"), "{e}");
    assert_eq!(
        cg.read("memory", "memory.limit_in_bytes"),
        (128u64 << 20).to_string()
    );
}

#[test]
fn stats_report_usage() {
    let res = memory(256 << 20);
    let cg = Cg::with("stats", &res);
    let _p = Proc::start_in(
        &cg,
        "dd if=/dev/zero of=/dev/null bs=1M count=300 2>/dev/null; sleep 30",
    );
    sleep(Duration::from_millis(300));
    let s = cg.mgr.stats().unwrap();
    assert!(s.cpu.usage.total > 0, "{s:?}");
    assert!(s.memory.usage.usage > 0);
    assert_eq!(s.memory.usage.limit, 256 << 20);
    assert!(s.pids.current >= 1);
    assert!(!s.cpuset.cpus.is_empty());
    let json = serde_json::to_value(&s).unwrap();
    for key in [
        "cpu",
        "cpuset",
        "memory",
        "pids",
        "blkio",
        "hugetlb",
        "intel_rdt",
        "network_interfaces",
    ] {
        assert!(json.get(key).is_some(), "{key} missing from {json}");
    }
    assert!(json["memory"]["usage"]["limit"].as_u64().unwrap() > 0);
}

#[test]
fn kill_all_signals_every_process() {
    let cg = Cg::new("killall");
    let _p = Proc::start_in(&cg, "sleep 30 & sleep 30 & exec sleep 30");
    let deadline = Instant::now() + Duration::from_secs(2);
    while cg.mgr.pids().unwrap().len() < 3 && Instant::now() < deadline {
        sleep(Duration::from_millis(10));
    }
    assert_eq!(cg.mgr.pids().unwrap().len(), 3);
    // SIGTERM: freeze, signal each, thaw.
    cg.mgr.kill_all(libc::SIGTERM).unwrap();
    let deadline = Instant::now() + Duration::from_secs(3);
    while !cg.mgr.pids().unwrap().is_empty() && Instant::now() < deadline {
        sleep(Duration::from_millis(10));
    }
    assert!(cg.mgr.pids().unwrap().is_empty());
    assert!(!cg.mgr.is_frozen().unwrap());

    let _q = Proc::start_in(&cg, "sleep 30 & exec sleep 30");
    sleep(Duration::from_millis(100));
    cg.mgr.kill_all(libc::SIGKILL).unwrap();
    let deadline = Instant::now() + Duration::from_secs(3);
    while !cg.mgr.pids().unwrap().is_empty() && Instant::now() < deadline {
        sleep(Duration::from_millis(10));
    }
    assert!(cg.mgr.pids().unwrap().is_empty());
    assert!(matches!(
        cg.mgr.kill_all(0),
        Err(berth_cgroups::Error::InvalidSignal { .. })
    ));
}

#[test]
fn saved_state_round_trips() {
    let cg = Cg::with("saved", &memory(32 << 20));
    let json = serde_json::to_string(&cg.mgr.saved()).unwrap();
    let saved: SavedCgroup = serde_json::from_str(&json).unwrap();
    let again = Manager::from_saved(&saved).unwrap();
    assert_eq!(again.paths(), cg.mgr.paths());
    again.update(&memory(48 << 20)).unwrap();
    assert_eq!(
        cg.read("memory", "memory.limit_in_bytes"),
        (48u64 << 20).to_string()
    );
}

#[test]
fn unsupported_knobs_are_named() {
    let cg = Cg::new("unsupported");
    let res = LinuxResourcesBuilder::default()
        .block_io(
            oci_spec::runtime::LinuxBlockIoBuilder::default()
                .leaf_weight(100u16)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    let e = cg.mgr.apply(&res).unwrap_err().to_string();
    assert!(e.starts_with("blockIO.leafWeight set but"), "{e}");
    assert!(e.contains("blkio.leaf_weight"), "{e}");
    let sys = Manager::new(Some("system.slice:berth:x"), "x", false).unwrap_err();
    assert!(sys
        .to_string()
        .contains("systemd cgroup driver is not supported yet"));
}

#[test]
fn kill_all_keeps_a_paused_container_paused_except_for_sigkill() {
    let cg = Cg::new("killpaused");
    // The shell ignores nothing: SIGUSR1 would end it once delivered (after a thaw).
    let p = Proc::start_in(&cg, "exec sleep 30");
    sleep(Duration::from_millis(50));
    cg.mgr.freeze().unwrap();
    cg.mgr.kill_all(libc::SIGUSR1).unwrap();
    assert!(
        cg.mgr.is_frozen().unwrap(),
        "an ordinary signal thawed the container"
    );
    assert_eq!(cg.mgr.pids().unwrap(), vec![p.pid()]);
    cg.mgr.kill_all(libc::SIGKILL).unwrap();
    let deadline = Instant::now() + Duration::from_secs(3);
    while !cg.mgr.pids().unwrap().is_empty() && Instant::now() < deadline {
        sleep(Duration::from_millis(10));
    }
    assert!(
        cg.mgr.pids().unwrap().is_empty(),
        "SIGKILL did not end a paused container"
    );
}

#[test]
fn device_update_never_denies_a_kept_device() {
    let cg = Cg::with("devupdate", &dev_rules(true));
    // The child opens /dev/null in a tight loop (shell builtins only) while we update.
    let mut p = Proc::start_in(
        &cg,
        "exec 2>&-; i=0; f=0; while [ $i -lt 100000 ]; do \
         if ! true </dev/null; then f=$((f+1)); fi; i=$((i+1)); done; echo FAILS $f",
    );
    let zero = LinuxDeviceCgroupBuilder::default()
        .allow(true)
        .typ(LinuxDeviceType::C)
        .major(1i64)
        .minor(5i64)
        .access("r")
        .build()
        .unwrap();
    let mut with_zero = dev_rules(true);
    with_zero.devices_mut().as_mut().unwrap().push(zero);
    let without_zero = dev_rules(true);
    let mut updates = 0;
    while cg.mgr.pids().unwrap().contains(&p.pid()) && updates < 20_000 {
        let res = if updates % 2 == 0 {
            &with_zero
        } else {
            &without_zero
        };
        cg.mgr.update(res).unwrap();
        updates += 1;
    }
    if updates % 2 == 1 {
        cg.mgr.update(&without_zero).unwrap();
    }
    assert_eq!(cg.read("devices", "devices.list"), "c 1:3 rw");
    cg.mgr.update(&with_zero).unwrap();
    assert_eq!(cg.read("devices", "devices.list"), "c 1:3 rw\nc 1:5 r");
    let (_, out, _) = p.finish(Duration::from_secs(10));
    assert_eq!(
        out.trim(),
        "FAILS 0",
        "/dev/null was denied during {updates} updates"
    );
}

#[test]
fn rootless_ignores_permission_errors_only_without_resources() {
    // A "hierarchy" where mkdir fails with EPERM (sysfs), as it would for a user without
    // a delegated cgroup. Nothing can be created there, so nothing is left behind.
    let mut v1 = std::collections::BTreeMap::new();
    v1.insert(
        "memory".to_string(),
        berth_cgroups::mountinfo::Mount {
            mountpoint: "/sys/kernel".into(),
            root: "/".into(),
        },
    );
    let mounts = berth_cgroups::Mounts { v1, v2: None };
    let path = common::unique_path("rootless");

    let strict = Manager::with_mounts(&mounts, Some(&path), "x", false, false).unwrap();
    let e = strict.create().unwrap_err().to_string();
    assert!(e.starts_with("mkdir /sys/kernel/berth-test-"), "{e}");

    let rootless = Manager::with_mounts(&mounts, Some(&path), "x", false, true).unwrap();
    assert!(rootless.is_rootless());
    rootless.create().unwrap();
    let p = Proc::spawn("exit 0");
    rootless.add_process(p.pid()).unwrap();
    rootless.apply(&LinuxResources::default()).unwrap();
    assert!(
        rootless.apply(&memory(64 << 20)).is_err(),
        "a set limit must not be dropped"
    );
    rootless.destroy().unwrap();
}

#[test]
fn runc_default_devices_are_usable_and_others_are_not() {
    let mut rules = vec![LinuxDeviceCgroupBuilder::default()
        .allow(false)
        .access("rwm")
        .build()
        .unwrap()];
    rules.extend(berth_cgroups::devices::default_allowed());
    let res = LinuxResourcesBuilder::default()
        .devices(rules)
        .build()
        .unwrap();
    let cg = Cg::with("devdefault", &res);
    // A node for /dev/kmsg (c 1:11, not in the default list), made for the test.
    let node =
        NodeGuard(std::env::temp_dir().join(format!("berth-test-{}-kmsg", std::process::id())));
    let made = std::process::Command::new("mknod")
        .arg(&node.0)
        .args(["c", "1", "11"])
        .status()
        .unwrap();
    assert!(made.success());
    let mut p = Proc::start_in(
        &cg,
        &format!(
            "head -c1 /dev/zero >/dev/null && head -c1 /dev/urandom >/dev/null && echo DEFAULTS; \
             head -c1 {} 2>&1 >/dev/null",
            node.0.display()
        ),
    );
    let (_, out, err) = p.finish(Duration::from_secs(5));
    assert!(out.starts_with("DEFAULTS\n"), "{out} {err}");
    assert!(
        out.contains("kmsg' for reading: Operation not permitted"),
        "{out}"
    );
}

struct NodeGuard(std::path::PathBuf);

impl Drop for NodeGuard {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn hybrid_host_with_unwritable_cgroup2_tree_still_works() {
    let mut mounts = berth_cgroups::Mounts::detect().unwrap();
    mounts.v2 = Some(berth_cgroups::mountinfo::Mount {
        mountpoint: "/sys/kernel".into(),
        root: "/".into(),
    });
    let mgr = Manager::with_mounts(
        &mounts,
        Some(&common::unique_path("nov2")),
        "x",
        false,
        false,
    )
    .unwrap();
    let cg = Cg { mgr };
    assert_eq!(cg.mgr.hierarchy(), Hierarchy::Hybrid);
    cg.mgr.create().unwrap();
    cg.mgr.apply(&memory(64 << 20)).unwrap();
    let p = Proc::start_in(&cg, "exec sleep 30");
    let name = cg
        .dir("memory")
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(proc_cgroup(p.pid(), "memory"), format!("/{name}"));
    cg.mgr.kill_all(libc::SIGKILL).unwrap();
}
