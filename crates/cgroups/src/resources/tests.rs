//! The table for both versions, without root: LinuxResources -> (file, value) writes.

use std::collections::{BTreeSet, HashMap};

use oci_spec::runtime::{
    LinuxBlockIoBuilder, LinuxCpuBuilder, LinuxDeviceCgroupBuilder, LinuxDeviceType,
    LinuxHugepageLimitBuilder, LinuxMemoryBuilder, LinuxNetworkBuilder, LinuxPidsBuilder,
    LinuxResources, LinuxResourcesBuilder, LinuxThrottleDeviceBuilder, LinuxWeightDeviceBuilder,
};

use super::*;

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn legacy() -> Layout {
    Layout {
        v1: set(&[
            "cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids", "net_cls",
            "net_prio",
        ]),
        v2: None,
    }
}

/// This host: v1 controllers, hugetlb only on the cgroup2 tree.
fn hybrid() -> Layout {
    Layout {
        v1: set(&[
            "cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids",
        ]),
        v2: Some(set(&["hugetlb"])),
    }
}

fn unified() -> Layout {
    Layout {
        v1: BTreeSet::new(),
        v2: Some(set(&[
            "cpuset", "cpu", "io", "memory", "hugetlb", "pids", "rdma", "misc",
        ])),
    }
}

fn files(res: &LinuxResources, layout: &Layout) -> Vec<(Version, String, String)> {
    plan(res, layout)
        .unwrap()
        .writes
        .into_iter()
        .map(|w| (w.version, w.file, w.value))
        .collect()
}

fn pairs(v: &[(Version, String, String)]) -> Vec<(&str, &str)> {
    v.iter().map(|(_, f, x)| (f.as_str(), x.as_str())).collect()
}

#[test]
fn empty_resources_write_nothing() {
    let res = LinuxResources::default();
    for l in [legacy(), hybrid(), unified()] {
        let p = plan(&res, &l).unwrap();
        assert!(p.writes.is_empty());
        assert!(p.v2_devices.is_none());
    }
}

#[test]
fn memory_both_versions() {
    let res = LinuxResourcesBuilder::default()
        .memory(
            LinuxMemoryBuilder::default()
                .limit(100 << 20)
                .swap(300 << 20)
                .reservation(50 << 20)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    assert_eq!(
        pairs(&files(&res, &legacy())),
        vec![
            ("memory.limit_in_bytes", "104857600"),
            ("memory.memsw.limit_in_bytes", "314572800"),
            ("memory.soft_limit_in_bytes", "52428800"),
        ]
    );
    assert_eq!(
        pairs(&files(&res, &unified())),
        vec![
            ("memory.max", "104857600"),
            ("memory.swap.max", "209715200"),
            ("memory.low", "52428800"),
        ]
    );
}

#[test]
fn memory_unlimited_lifts_swap_too() {
    let res = LinuxResourcesBuilder::default()
        .memory(LinuxMemoryBuilder::default().limit(-1).build().unwrap())
        .build()
        .unwrap();
    let p = plan(&res, &legacy()).unwrap();
    assert_eq!(p.writes[1].file, "memory.memsw.limit_in_bytes");
    assert_eq!(p.writes[1].value, "-1");
    assert!(p.writes[1].optional);
    assert_eq!(
        pairs(&files(&res, &unified())),
        vec![("memory.max", "max"), ("memory.swap.max", "max")]
    );
}

#[test]
fn memory_v1_only_knobs() {
    let res = LinuxResourcesBuilder::default()
        .memory(
            LinuxMemoryBuilder::default()
                .swappiness(10u64)
                .disable_oom_killer(true)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    assert_eq!(
        pairs(&files(&res, &legacy())),
        vec![("memory.swappiness", "10"), ("memory.oom_control", "1")]
    );
    let e = plan(&res, &unified()).unwrap_err().to_string();
    assert!(e.contains("memory.swappiness"), "{e}");
}

#[test]
#[allow(deprecated)]
fn kernel_memory_is_ignored() {
    let res = LinuxResourcesBuilder::default()
        .memory(
            LinuxMemoryBuilder::default()
                .kernel(1 << 20)
                .kernel_tcp(1 << 20)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    assert!(files(&res, &legacy()).is_empty());
    assert!(files(&res, &unified()).is_empty());
}

#[test]
fn invalid_swap_is_refused() {
    let res = LinuxResourcesBuilder::default()
        .memory(
            LinuxMemoryBuilder::default()
                .limit(200)
                .swap(100)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    assert!(plan(&res, &legacy()).is_err());
    assert!(plan(&res, &unified()).is_err());
}

#[test]
fn cpu_both_versions() {
    let res = LinuxResourcesBuilder::default()
        .cpu(
            LinuxCpuBuilder::default()
                .shares(1024u64)
                .quota(20_000i64)
                .period(100_000u64)
                .burst(5_000u64)
                .idle(0i64)
                .cpus("0")
                .mems("0")
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    assert_eq!(
        pairs(&files(&res, &legacy())),
        vec![
            ("cpu.shares", "1024"),
            ("cpu.cfs_period_us", "100000"),
            ("cpu.cfs_quota_us", "20000"),
            ("cpu.cfs_burst_us", "5000"),
            ("cpu.idle", "0"),
            ("cpuset.cpus", "0"),
            ("cpuset.mems", "0"),
        ]
    );
    assert_eq!(
        pairs(&files(&res, &unified())),
        vec![
            ("cpu.weight", "100"),
            ("cpu.max", "20000 100000"),
            ("cpu.max.burst", "5000"),
            ("cpu.idle", "0"),
            ("cpuset.cpus", "0"),
            ("cpuset.mems", "0"),
        ]
    );
}

#[test]
fn cpu_unlimited_quota_and_realtime() {
    let res = LinuxResourcesBuilder::default()
        .cpu(LinuxCpuBuilder::default().quota(-1i64).build().unwrap())
        .build()
        .unwrap();
    assert_eq!(pairs(&files(&res, &unified())), vec![("cpu.max", "max")]);
    assert_eq!(
        pairs(&files(&res, &legacy())),
        vec![("cpu.cfs_quota_us", "-1")]
    );
    let rt = LinuxResourcesBuilder::default()
        .cpu(
            LinuxCpuBuilder::default()
                .realtime_period(1_000_000u64)
                .realtime_runtime(950_000i64)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    assert_eq!(
        pairs(&files(&rt, &legacy())),
        vec![
            ("cpu.rt_period_us", "1000000"),
            ("cpu.rt_runtime_us", "950000")
        ]
    );
    assert!(plan(&rt, &unified()).is_err());
}

#[test]
fn pids_both_versions() {
    let limit = |l: i64| {
        LinuxResourcesBuilder::default()
            .pids(LinuxPidsBuilder::default().limit(l).build().unwrap())
            .build()
            .unwrap()
    };
    for l in [legacy(), unified()] {
        assert_eq!(pairs(&files(&limit(10), &l)), vec![("pids.max", "10")]);
        assert_eq!(pairs(&files(&limit(-1), &l)), vec![("pids.max", "max")]);
        assert!(files(&limit(0), &l).is_empty());
    }
}

#[test]
fn blkio_both_versions() {
    let dev = |rate: u64| {
        vec![LinuxThrottleDeviceBuilder::default()
            .major(7i64)
            .minor(3i64)
            .rate(rate)
            .build()
            .unwrap()]
    };
    let res = LinuxResourcesBuilder::default()
        .block_io(
            LinuxBlockIoBuilder::default()
                .weight(500u16)
                .weight_device(vec![LinuxWeightDeviceBuilder::default()
                    .major(7i64)
                    .minor(3i64)
                    .weight(200u16)
                    .build()
                    .unwrap()])
                .throttle_read_bps_device(dev(1_000_000))
                .throttle_write_iops_device(dev(0))
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    let v1 = plan(&res, &legacy()).unwrap().writes;
    assert_eq!(
        v1.iter()
            .map(|w| (w.file.as_str(), w.value.as_str()))
            .collect::<Vec<_>>(),
        vec![
            ("blkio.weight", "500"),
            ("blkio.weight_device", "7:3 200"),
            ("blkio.throttle.read_bps_device", "7:3 1000000"),
            ("blkio.throttle.write_iops_device", "7:3 0"),
        ]
    );
    assert_eq!(
        v1[0].fallback,
        Some(("blkio.bfq.weight".into(), "500".into()))
    );
    let v2 = plan(&res, &unified()).unwrap().writes;
    assert_eq!(
        v2.iter()
            .map(|w| (w.file.as_str(), w.value.as_str()))
            .collect::<Vec<_>>(),
        vec![
            ("io.bfq.weight", "500"),
            ("io.bfq.weight", "7:3 200"),
            ("io.max", "7:3 rbps=1000000"),
            ("io.max", "7:3 wiops=max"),
        ]
    );
    assert_eq!(v2[0].fallback, Some(("io.weight".into(), "4950".into())));
    assert_eq!(v2[0].controller, "io");
}

#[test]
fn hugetlb_goes_to_v2_on_this_hybrid_host() {
    let res = LinuxResourcesBuilder::default()
        .hugepage_limits(vec![LinuxHugepageLimitBuilder::default()
            .page_size("2MB")
            .limit(4i64 << 20)
            .build()
            .unwrap()])
        .build()
        .unwrap();
    let h = files(&res, &hybrid());
    assert_eq!(
        h,
        vec![
            (Version::V2, "hugetlb.2MB.max".into(), "4194304".into()),
            (Version::V2, "hugetlb.2MB.rsvd.max".into(), "4194304".into()),
        ]
    );
    let mut with_v1 = legacy();
    with_v1.v1.insert("hugetlb".into());
    assert_eq!(
        files(&res, &with_v1)[0],
        (
            Version::V1,
            "hugetlb.2MB.limit_in_bytes".into(),
            "4194304".into()
        )
    );
    let e = plan(&res, &legacy()).unwrap_err().to_string();
    assert!(e.contains("hugetlb"), "{e}");
    let bad = LinuxResourcesBuilder::default()
        .hugepage_limits(vec![LinuxHugepageLimitBuilder::default()
            .page_size("../../x")
            .limit(1i64)
            .build()
            .unwrap()])
        .build()
        .unwrap();
    assert!(plan(&bad, &unified()).is_err());
}

#[test]
fn network_v1_only() {
    let res = LinuxResourcesBuilder::default()
        .network(
            LinuxNetworkBuilder::default()
                .class_id(0x100001u32)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    assert_eq!(
        pairs(&files(&res, &legacy())),
        vec![("net_cls.classid", "1048577")]
    );
    let e = plan(&res, &hybrid()).unwrap_err().to_string();
    assert!(e.contains("net_cls"), "{e}");
    assert!(plan(&res, &unified()).is_err());
}

#[test]
fn devices_v1_writes_and_v2_rules() {
    let res = LinuxResourcesBuilder::default()
        .devices(vec![
            LinuxDeviceCgroupBuilder::default()
                .allow(false)
                .access("rwm")
                .build()
                .unwrap(),
            LinuxDeviceCgroupBuilder::default()
                .allow(true)
                .typ(LinuxDeviceType::C)
                .major(1i64)
                .minor(3i64)
                .access("rw")
                .build()
                .unwrap(),
        ])
        .build()
        .unwrap();
    assert_eq!(
        pairs(&files(&res, &legacy())),
        vec![
            ("devices.deny", "a"),
            ("devices.deny", "a"),
            ("devices.allow", "c 1:3 rw"),
        ]
    );
    let p = plan(&res, &unified()).unwrap();
    assert!(p.writes.is_empty());
    assert_eq!(p.v2_devices.unwrap().len(), 2);
}

#[test]
fn unified_map() {
    let mut u = HashMap::new();
    u.insert("memory.high".to_string(), "1000000".to_string());
    u.insert("pids.max".to_string(), "7".to_string());
    let res = LinuxResourcesBuilder::default().unified(u).build().unwrap();
    assert_eq!(
        pairs(&files(&res, &unified())),
        vec![("memory.high", "1000000"), ("pids.max", "7")]
    );
    assert_eq!(files(&res, &hybrid())[0].0, Version::V2);
    let e = plan(&res, &legacy()).unwrap_err().to_string();
    assert!(e.contains("no cgroup v2"), "{e}");
    for bad in ["../memory.max", "cgroup.procs", "memory/max", ".hidden"] {
        let mut u = HashMap::new();
        u.insert(bad.to_string(), "1".to_string());
        let res = LinuxResourcesBuilder::default().unified(u).build().unwrap();
        assert!(plan(&res, &unified()).is_err(), "{bad}");
    }
}

#[test]
fn missing_controller_is_named() {
    let layout = Layout {
        v1: set(&["memory"]),
        v2: None,
    };
    let res = LinuxResourcesBuilder::default()
        .pids(LinuxPidsBuilder::default().limit(5).build().unwrap())
        .build()
        .unwrap();
    let e = plan(&res, &layout).unwrap_err().to_string();
    assert_eq!(
        e,
        "pids.limit set but the pids cgroup controller is not available"
    );
}
