//! Validates the VM harness and the cgroup v2 payload with Debian's runc (package runc), so that
//! a failure of crates/berth-runtime/tests/cgroup_v2_vm.rs points at berth-runtime, not at the
//! harness. Harness validation only: berth's own test is the berth-runtime one.

use std::path::Path;

use berth_testkit::vm::cgroup_suite::{assert_cgroup_v2_checks, CgroupV2Suite};

#[test]
fn cgroup_v2_checks_pass_with_debian_runc() {
    berth_testkit::require_root();
    let runc = Path::new("/usr/sbin/runc");
    assert!(
        runc.is_file(),
        "install Debian's runc (scripts/packages/base.list)"
    );
    let out = CgroupV2Suite::new(runc).unwrap().run().unwrap();
    println!("{}", out.console);
    assert_cgroup_v2_checks(&out);
}
