//! Hostile bundles: each gets one clear error line, exit status 1, and leaves nothing
//! behind (no state directory, cgroup, host mount, or process).

mod common;

use common::*;
use oci_spec::runtime::{
    LinuxIdMappingBuilder, LinuxNamespaceBuilder, LinuxNamespaceType, Mount, MountBuilder,
};

/// Run the bundle; require exit 1, a single stderr line containing `want`, and no trace.
#[track_caller]
fn assert_refused(rt: &Runtime, b: &Bundle, want: &str) -> String {
    let started = std::time::Instant::now();
    let (code, out, err) = rt.run(b);
    let took = started.elapsed();
    let err = err.trim().to_string();
    assert_eq!(code, 1, "exit status; stdout={out} stderr={err}");
    assert_eq!(err.lines().count(), 1, "one error line, got: {err}");
    assert!(
        err.contains(want),
        "error should mention {want:?}: {}",
        &err[..err.len().min(600)]
    );
    assert!(err.len() < 2000, "error line is {} bytes", err.len());
    assert!(took.as_secs() < 20, "refusal took {took:?}");
    let left: Vec<_> = std::fs::read_dir(&rt.root)
        .map(|r| r.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "state left behind: {left:?}");
    assert!(!cgroup_exists(b.cgroups_path()), "cgroup left behind");
    assert!(
        host_mounts_with(b.id()).is_empty(),
        "host mounts left behind"
    );
    err
}

fn tmpfs(dst: &str) -> Mount {
    MountBuilder::default()
        .destination(dst)
        .typ("tmpfs")
        .source("tmpfs")
        .build()
        .unwrap()
}

fn with_mounts(b: &mut Bundle, extra: Vec<Mount>) {
    let mut ms = b.spec().mounts().clone().unwrap_or_default();
    ms.extend(extra);
    b.spec_mut().set_mounts(Some(ms));
    b.write().unwrap();
}

#[test]
fn fifty_megabytes_of_environment() {
    let rt = Runtime::new();
    let mut b = Bundle::busybox(&["true"]);
    let big = format!("BIG={}", "x".repeat(50 << 20));
    b.spec_mut()
        .process_mut()
        .as_mut()
        .unwrap()
        .set_env(Some(vec![big]));
    b.write().unwrap();
    assert_refused(&rt, &b, "larger than 16 MiB");
}

#[test]
fn one_environment_entry_beyond_execve_string_limit() {
    let rt = Runtime::new();
    let mut b = Bundle::busybox(&["true"]);
    let big = format!("BIG={}", "x".repeat(200 << 10));
    b.spec_mut()
        .process_mut()
        .as_mut()
        .unwrap()
        .set_env(Some(vec![big]));
    b.write().unwrap();
    assert_refused(&rt, &b, "process.env[0]");
}

#[test]
fn many_small_environment_entries_beyond_exec_limits() {
    let rt = Runtime::new();
    let mut b = Bundle::busybox(&["true"]);
    let env: Vec<String> = (0..60_000).map(|i| format!("V{i}={:0>100}", i)).collect();
    b.spec_mut()
        .process_mut()
        .as_mut()
        .unwrap()
        .set_env(Some(env));
    b.write().unwrap();
    assert_refused(&rt, &b, "together");
}

#[test]
fn a_hundred_thousand_mounts() {
    let rt = Runtime::new();
    let mut b = Bundle::busybox(&["true"]);
    with_mounts(
        &mut b,
        (0..100_000).map(|i| tmpfs(&format!("/m/{i}"))).collect(),
    );
    assert_refused(&rt, &b, "mounts are more than");
    assert!(
        !b.rootfs().join("m").exists(),
        "mount points were created in the rootfs before refusing"
    );
}

#[test]
fn destination_longer_than_path_max() {
    let rt = Runtime::new();
    let mut b = Bundle::busybox(&["true"]);
    let deep = "/d".repeat(3000);
    with_mounts(&mut b, vec![tmpfs(&deep)]);
    assert_refused(&rt, &b, "longer than");
    assert!(!b.rootfs().join("d").exists());
}

#[test]
fn deeply_nested_stacked_mounts_stay_inside() {
    // 200 nested tmpfs mounts: legitimate if odd. Either it runs (and the host sees none of
    // it) or it is refused cleanly.
    let rt = Runtime::new();
    let mut b = Bundle::busybox(&[
        "sh",
        "-c",
        "awk '$5 ~ \"^/n\"' /proc/self/mountinfo | wc -l",
    ]);
    let mut ms = vec![];
    let mut p = String::new();
    for _ in 0..200 {
        p.push_str("/n");
        ms.push(tmpfs(&p));
    }
    with_mounts(&mut b, ms);
    let (code, out, err) = rt.run(&b);
    assert!(
        code == 0 && out.trim() == "200" || code == 1 && err.trim().lines().count() == 1,
        "exit {code}: {out} {err}"
    );
    assert!(host_mounts_with(b.id()).is_empty());
    assert!(std::fs::read_dir(&rt.root).map(|r| r.count()).unwrap_or(0) == 0);
}

#[test]
fn dotdot_climbing_out_of_the_root() {
    let rt = Runtime::new();
    let mut b = Bundle::busybox(&["true"]);
    with_mounts(&mut b, vec![tmpfs("/../../../../tmp/berth-test-escaped")]);
    assert_refused(&rt, &b, "..");
    assert!(!std::path::Path::new("/tmp/berth-test-escaped").exists());
}

type SpecEdit = Box<dyn Fn(&mut Bundle)>;

#[test]
fn nul_bytes_anywhere() {
    let rt = Runtime::new();
    let edits: Vec<(&str, SpecEdit)> = vec![
        (
            "process.args",
            Box::new(|b: &mut Bundle| set_args(b, &["sh", "-c", "true\u{0}; reboot"])),
        ),
        (
            "hostname",
            Box::new(|b: &mut Bundle| {
                b.spec_mut().set_hostname(Some("a\u{0}b".into()));
            }),
        ),
        (
            "destination",
            Box::new(|b: &mut Bundle| {
                let mut ms = b.spec().mounts().clone().unwrap_or_default();
                ms.push(tmpfs("/tmp/a\u{0}/../../x"));
                b.spec_mut().set_mounts(Some(ms));
            }),
        ),
        (
            "process.cwd",
            Box::new(|b: &mut Bundle| {
                b.spec_mut()
                    .process_mut()
                    .as_mut()
                    .unwrap()
                    .set_cwd("/tmp\u{0}/x".into());
            }),
        ),
        (
            "source",
            Box::new(|b: &mut Bundle| {
                let mut ms = b.spec().mounts().clone().unwrap_or_default();
                ms.push(
                    MountBuilder::default()
                        .destination("/mnt")
                        .typ("bind")
                        .source("/etc\u{0}/shadow")
                        .options(vec!["bind".to_string()])
                        .build()
                        .unwrap(),
                );
                b.spec_mut().set_mounts(Some(ms));
            }),
        ),
    ];
    for (what, edit) in edits {
        let mut b = Bundle::busybox(&["true"]);
        edit(&mut b);
        b.write().unwrap();
        let raw = std::fs::read_to_string(b.config_path()).unwrap();
        assert!(raw.contains("\\u0000"), "config carries a JSON NUL escape");
        let err = assert_refused(&rt, &b, "NUL");
        assert!(err.contains(what), "{what}: {err}");
    }
}

#[test]
fn component_of_4096_bytes() {
    let rt = Runtime::new();
    let mut b = Bundle::busybox(&["true"]);
    with_mounts(&mut b, vec![tmpfs(&format!("/{}", "c".repeat(4096)))]);
    assert_refused(&rt, &b, "longer than");
    let mut b = Bundle::busybox(&["true"]);
    b.spec_mut()
        .process_mut()
        .as_mut()
        .unwrap()
        .set_cwd(format!("/{}", "c".repeat(4096)).into());
    b.write().unwrap();
    assert_refused(&rt, &b, "cwd");
}

fn user_namespace(b: &mut Bundle, size: u32) {
    let linux = b.spec_mut().linux_mut().as_mut().unwrap();
    let mut ns = linux.namespaces().clone().unwrap();
    ns.push(
        LinuxNamespaceBuilder::default()
            .typ(LinuxNamespaceType::User)
            .build()
            .unwrap(),
    );
    linux.set_namespaces(Some(ns));
    let base = 600_000 + (std::process::id() % 1000) * 65536;
    let map = LinuxIdMappingBuilder::default()
        .container_id(0u32)
        .host_id(base)
        .size(size)
        .build()
        .unwrap();
    linux.set_uid_mappings(Some(vec![map]));
    linux.set_gid_mappings(Some(vec![map]));
}

#[test]
fn ids_outside_the_mapping() {
    let rt = Runtime::new();
    for (uid, gid, extra, what) in [
        (70_000u32, 0u32, vec![], "uid 70000"),
        (0, 70_000, vec![], "gid 70000"),
        (0, 0, vec![4_000_000_000u32], "gid 4000000000"),
    ] {
        let mut b = Bundle::busybox(&["true"]);
        user_namespace(&mut b, 65536);
        {
            let u = b.spec_mut().process_mut().as_mut().unwrap().user_mut();
            u.set_uid(uid);
            u.set_gid(gid);
            u.set_additional_gids(Some(extra));
        }
        b.write().unwrap();
        let err = assert_refused(&rt, &b, what);
        assert!(err.contains("mapping"), "{err}");
    }
}
