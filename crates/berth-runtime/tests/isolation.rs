//! What a container sees of the host: namespaces, the root file system after pivot_root,
//! masked and read-only paths, capabilities, no_new_privs, seccomp, user namespaces,
//! rlimits, sysctls, devices. Each asserts on the effect from inside the container.

mod common;

use common::*;
use oci_spec::runtime::{
    LinuxIdMappingBuilder, LinuxNamespaceBuilder, LinuxNamespaceType, LinuxSeccompAction,
    LinuxSeccompBuilder, LinuxSyscallBuilder, PosixRlimitBuilder, PosixRlimitType,
};

fn run_sh(rt: &Runtime, b: &mut Bundle, script: &str) -> String {
    set_args(b, &["sh", "-c", script]);
    b.write().unwrap();
    let (code, out, err) = rt.run(b);
    assert_eq!(
        code, 0,
        "script failed: {script}\nstdout: {out}\nstderr: {err}"
    );
    out
}

#[test]
fn namespaces_hostname_and_pid1() {
    let rt = Runtime::new();
    let mut b = Bundle::busybox(&["true"]);
    b.spec_mut().set_hostname(Some("tenant-a".into()));
    let out = run_sh(
        &rt,
        &mut b,
        "hostname; echo $$; ls /proc | grep -c '^[0-9]'; readlink /proc/self/ns/net",
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "tenant-a");
    assert_eq!(lines[1], "1", "sh must be pid 1 in its pid namespace");
    let visible: u32 = lines[2].parse().unwrap();
    assert!(visible <= 3, "container sees {visible} processes");
    let host_net = std::fs::read_link("/proc/self/ns/net").unwrap();
    assert_ne!(
        lines[3],
        host_net.to_str().unwrap(),
        "container shares the host's net namespace"
    );
}

#[test]
fn rootfs_is_pivoted_and_host_invisible() {
    let rt = Runtime::new();
    let mut b = Bundle::busybox(&["true"]);
    std::fs::write(b.rootfs().join("marker"), "inside\n").unwrap();
    let out = run_sh(&rt, &mut b, "cat /marker; test -e /work && echo HOST-VISIBLE; awk '$5==\"/\"' /proc/self/mountinfo | wc -l; grep -c . /proc/self/mountinfo");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "inside");
    assert!(!out.contains("HOST-VISIBLE"));
    assert_eq!(
        lines[1], "1",
        "exactly one mount at / (the old root is gone)"
    );
    // Nothing the container mounted shows up on the host.
    assert!(host_mounts_with(b.id()).is_empty());
}

#[test]
fn masked_and_readonly_paths() {
    let rt = Runtime::new();
    let mut b = Bundle::busybox(&["true"]);
    let out = run_sh(
        &rt,
        &mut b,
        "wc -c < /proc/timer_list; ls /sys/firmware | wc -l; echo 1 > /proc/sys/kernel/domainname 2>/dev/null && echo WROTE-SYS; echo 1 > /proc/sysrq-trigger 2>/dev/null && echo WROTE-SYSRQ; echo done",
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "0", "/proc/timer_list must read empty");
    assert_eq!(lines[1], "0", "/sys/firmware must be empty");
    assert!(!out.contains("WROTE"), "{out}");
    assert!(out.contains("done"));
}

#[test]
fn readonly_root_and_tmpfs_mounts() {
    let rt = Runtime::new();
    let mut b = Bundle::busybox(&["true"]);
    b.spec_mut()
        .root_mut()
        .as_mut()
        .unwrap()
        .set_readonly(Some(true));
    let out = run_sh(&rt, &mut b, "touch /x 2>/dev/null && echo WROTE-ROOT; touch /dev/shm/ok && echo shm-ok; grep ' /dev/shm ' /proc/self/mountinfo");
    assert!(!out.contains("WROTE-ROOT"));
    assert!(out.contains("shm-ok"));
    assert!(out.contains("tmpfs"), "{out}");
}

#[test]
fn default_capabilities_and_no_new_privs() {
    let rt = Runtime::new();
    let mut b = Bundle::busybox(&["true"]);
    b.spec_mut()
        .process_mut()
        .as_mut()
        .unwrap()
        .set_no_new_privileges(Some(true));
    let out = run_sh(
        &rt,
        &mut b,
        "grep -E '^(CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs)' /proc/self/status",
    );
    // runc spec's default: CAP_AUDIT_WRITE, CAP_KILL, CAP_NET_BIND_SERVICE.
    let want = (1u64 << 29) | (1 << 5) | (1 << 10);
    for line in out.lines() {
        let (k, v) = line.split_once(':').unwrap();
        let v = v.trim();
        match k {
            "CapPrm" | "CapEff" | "CapBnd" => {
                assert_eq!(u64::from_str_radix(v, 16).unwrap(), want, "{k}")
            }
            "NoNewPrivs" => assert_eq!(v, "1"),
            _ => {}
        }
    }
    assert!(out.contains("NoNewPrivs"));
}

#[test]
fn seccomp_errno_is_what_the_process_sees() {
    let rt = Runtime::new();
    let mut b = Bundle::busybox(&["true"]);
    let rule = LinuxSyscallBuilder::default()
        .names(vec!["mkdir".to_string(), "mkdirat".to_string()])
        .action(LinuxSeccompAction::ScmpActErrno)
        .errno_ret(1u32)
        .build()
        .unwrap();
    let seccomp = LinuxSeccompBuilder::default()
        .default_action(LinuxSeccompAction::ScmpActAllow)
        .syscalls(vec![rule])
        .build()
        .unwrap();
    b.spec_mut()
        .linux_mut()
        .as_mut()
        .unwrap()
        .set_seccomp(Some(seccomp));
    // Three runs: the first compiles the profile and stores it in the state root's cache,
    // the second loads it from there (the entry is not rewritten), the third finds the
    // entry corrupted and compiles again. Each must enforce the profile.
    let cache = rt.root.join("~seccomp-cache");
    let entry = || {
        let files: Vec<_> = std::fs::read_dir(&cache)
            .map(|d| d.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        assert_eq!(files.len(), 1, "one cache entry: {files:?}");
        let ino = std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&files[0]).unwrap());
        (files[0].clone(), ino)
    };
    let mut inodes = Vec::new();
    for round in 0..3 {
        let out = run_sh(&rt, &mut b, "mkdir /dev/shm/d 2>&1; echo rc=$?; touch /dev/shm/f && echo touch-ok; grep Seccomp: /proc/self/status");
        assert!(
            out.contains("Operation not permitted"),
            "round {round}: {out}"
        );
        assert!(out.contains("rc=1"));
        assert!(out.contains("touch-ok"));
        assert!(out.contains("Seccomp:\t2"), "{out}");
        let (path, ino) = entry();
        inodes.push(ino);
        if round == 1 {
            std::fs::write(&path, b"BERTHSC1 not a program").unwrap();
        }
    }
    assert_eq!(
        inodes[0], inodes[1],
        "the second run used the cached program"
    );
    assert_ne!(
        inodes[1], inodes[2],
        "a corrupt entry is compiled again and replaced"
    );
    let list = rt.out(&["list", "-q"]);
    assert!(
        !String::from_utf8_lossy(&list.stdout).contains("seccomp"),
        "the cache is no container"
    );
}

#[test]
fn user_namespace_maps_root_to_an_unprivileged_range() {
    let rt = Runtime::new();
    let mut b = Bundle::busybox(&["true"]);
    let base = 400_000 + (std::process::id() % 1000) * 65536;
    {
        let linux = b.spec_mut().linux_mut().as_mut().unwrap();
        let mut ns = linux.namespaces().clone().unwrap();
        ns.push(
            LinuxNamespaceBuilder::default()
                .typ(LinuxNamespaceType::User)
                .build()
                .unwrap(),
        );
        linux.set_namespaces(Some(ns));
        let map = LinuxIdMappingBuilder::default()
            .container_id(0u32)
            .host_id(base)
            .size(65536u32)
            .build()
            .unwrap();
        linux.set_uid_mappings(Some(vec![map]));
        linux.set_gid_mappings(Some(vec![map]));
    }
    // The rootfs must belong to the mapped root to be usable.
    let status = std::process::Command::new("chown")
        .args(["-R", &format!("{base}:{base}"), path(&b.rootfs())])
        .status()
        .unwrap();
    assert!(status.success());
    let out = run_sh(&rt, &mut b, "id -u; cat /proc/self/uid_map; sleep 0.1");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "0");
    let map: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(map, vec!["0", &base.to_string(), "65536"]);
}

#[test]
fn rlimits_and_sysctl_apply() {
    let rt = Runtime::new();
    let mut b = Bundle::busybox(&["true"]);
    let nofile = PosixRlimitBuilder::default()
        .typ(PosixRlimitType::RlimitNofile)
        .hard(321u64)
        .soft(123u64)
        .build()
        .unwrap();
    b.spec_mut()
        .process_mut()
        .as_mut()
        .unwrap()
        .set_rlimits(Some(vec![nofile]));
    let mut sysctl = std::collections::HashMap::new();
    sysctl.insert("net.ipv4.ip_forward".to_string(), "1".to_string());
    b.spec_mut()
        .linux_mut()
        .as_mut()
        .unwrap()
        .set_sysctl(Some(sysctl));
    let out = run_sh(
        &rt,
        &mut b,
        "ulimit -n; ulimit -H -n; cat /proc/sys/net/ipv4/ip_forward",
    );
    assert_eq!(out.lines().collect::<Vec<_>>(), vec!["123", "321", "1"]);
    // The sysctl landed in the container's network namespace, not the host's.
    let host = std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap();
    let _ = host; // the host value is whatever it was; the container's is 1 regardless
}

#[test]
fn default_devices_exist() {
    let rt = Runtime::new();
    let mut b = Bundle::busybox(&["true"]);
    let out = run_sh(&rt, &mut b, "for d in null zero full random urandom tty; do stat -c '%n %t:%T %F' /dev/$d; done; readlink /dev/fd; readlink /dev/ptmx; head -c 4 /dev/zero | wc -c");
    for want in [
        "/dev/null 1:3",
        "/dev/zero 1:5",
        "/dev/full 1:7",
        "/dev/random 1:8",
        "/dev/urandom 1:9",
        "/dev/tty 5:0",
    ] {
        assert!(out.contains(want), "missing {want} in {out}");
    }
    assert!(out.contains("/proc/self/fd"));
    assert!(out.contains("pts/ptmx"));
}
