//! The cgroup v2 code paths, on this hybrid host's cgroup2 tree (/sys/fs/cgroup/unified):
//! a pure-v2 manager there has no resource controllers, but the core files (procs, freeze,
//! kill, events) and the eBPF device filter are real. Needs root.

mod common;

use std::thread::sleep;
use std::time::{Duration, Instant};

use berth_cgroups::devices::bpf;
use berth_cgroups::{Hierarchy, UNIFIED_KEY};
use common::{proc_cgroup, Cg, Proc};
use oci_spec::runtime::{
    LinuxDeviceCgroupBuilder, LinuxDeviceType, LinuxResources, LinuxResourcesBuilder,
};

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

fn run_in(cg: &Cg, script: &str) -> String {
    let mut p = Proc::start_in(cg, script);
    let (_, out, _) = p.finish(Duration::from_secs(5));
    out.trim().to_string()
}

#[test]
fn v2_manager_lifecycle() {
    let cg = Cg::unified("v2life");
    assert_eq!(cg.mgr.hierarchy(), Hierarchy::Unified);
    let dir = cg.dir(UNIFIED_KEY);
    assert!(dir.is_dir());
    assert!(cg.mgr.v2_dir_fd().is_some());
    let p = Proc::start_in(&cg, "exec sleep 30");
    let name = dir.file_name().unwrap().to_str().unwrap().to_string();
    assert_eq!(proc_cgroup(p.pid(), ""), format!("/{name}"));
    assert_eq!(cg.mgr.pids().unwrap(), vec![p.pid()]);

    cg.mgr.freeze().unwrap();
    assert!(cg.mgr.is_frozen().unwrap());
    assert_eq!(cg.read(UNIFIED_KEY, "cgroup.freeze"), "1");
    cg.mgr.thaw().unwrap();
    let deadline = Instant::now() + Duration::from_secs(2);
    while cg.mgr.is_frozen().unwrap() && Instant::now() < deadline {
        sleep(Duration::from_millis(5));
    }
    assert!(!cg.mgr.is_frozen().unwrap());

    // SIGKILL goes through cgroup.kill.
    cg.mgr.kill_all(libc::SIGKILL).unwrap();
    let deadline = Instant::now() + Duration::from_secs(2);
    while !cg.mgr.pids().unwrap().is_empty() && Instant::now() < deadline {
        sleep(Duration::from_millis(5));
    }
    assert!(cg.mgr.pids().unwrap().is_empty());
    cg.mgr.destroy().unwrap();
    assert!(!dir.exists());
}

#[test]
fn ebpf_device_filter_denies_then_allows() {
    let cg = Cg::unified("v2dev");
    let dir = cg.dir(UNIFIED_KEY);
    cg.mgr.apply(&dev_rules(false)).unwrap();
    assert_eq!(bpf::attached_count(&dir).unwrap(), 1);
    assert_eq!(run_in(&cg, OPEN_NULL), "DENIED");
    // Update replaces the program: still exactly one attached, new rules in force.
    cg.mgr.update(&dev_rules(true)).unwrap();
    assert_eq!(bpf::attached_count(&dir).unwrap(), 1);
    assert_eq!(run_in(&cg, OPEN_NULL), "OPENED");
    // Write access was not granted to /dev/zero (1:5) even for reading.
    assert_eq!(
        run_in(
            &cg,
            "if head -c1 /dev/zero >/dev/null; then echo OPENED; else echo DENIED; fi"
        ),
        "DENIED"
    );
}

#[test]
fn v2_rejects_resources_without_controllers() {
    let cg = Cg::unified("v2nomem");
    let res = LinuxResourcesBuilder::default()
        .memory(
            oci_spec::runtime::LinuxMemoryBuilder::default()
                .limit(1i64 << 30)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    let e = cg.mgr.apply(&res).unwrap_err().to_string();
    assert_eq!(
        e,
        "memory set but the memory cgroup controller is not available"
    );
}
