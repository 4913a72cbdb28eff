//! The VM harness itself: a real boot under qemu.

use berth_testkit::vm::Guest;

#[test]
fn guest_boots_with_cgroup2_controllers_modules_and_exit_status() {
    berth_testkit::require_root();
    let out = Guest::new()
        .data("/etc/berth-test-data", "payload-data\n", 0o644)
        .script(
            "echo \"controllers: $(cat /sys/fs/cgroup/cgroup.subtree_control)\"
             echo \"fs: $(grep -c -w -e overlay /proc/filesystems)\"
             echo \"modules: $(cut -d' ' -f1 /proc/modules | sort | tr '\\n' ' ')\"
             echo \"data: $(cat /etc/berth-test-data)\"
             echo \"rootmnt: $(awk '$5 == \"/\" {print $9}' /proc/self/mountinfo | tail -n1)\"
             exit 7",
        )
        .run()
        .unwrap();
    assert_eq!(out.status, 7, "{}", out.console);
    assert_eq!(
        out.value_after("controllers:"),
        Some("cpuset cpu io memory pids"),
        "{}",
        out.console
    );
    assert_eq!(out.value_after("fs:"), Some("1"), "{}", out.console);
    let modules = out.value_after("modules:").unwrap_or_default();
    for m in ["overlay", "veth", "bridge", "stp", "llc", "loop"] {
        assert!(modules.split(' ').any(|x| x == m), "{m} in {modules}");
    }
    assert_eq!(out.value_after("data:"), Some("payload-data"));
}
