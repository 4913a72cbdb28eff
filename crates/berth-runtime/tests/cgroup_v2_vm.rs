//! berth-runtime on a pure cgroup v2 host: boots a qemu guest (crates/testkit/src/vm) with this
//! crate's binary and runs vm/payloads/cgroup_v2.sh: memory, pids, cpu quota and weight, io
//! weight and write throttle, and the eBPF device filter, each checked from outside (the cgroup
//! files) and by its effect inside the container. The same payload passes with Debian's runc
//! (crates/testkit/tests/vm_runc.rs), which validates the harness.

use std::path::Path;

use berth_testkit::vm::cgroup_suite::{assert_cgroup_v2_checks, CgroupV2Suite};

#[test]
fn cgroup_v2_limits_apply_in_vm() {
    berth_testkit::require_root();
    let runtime = Path::new(env!("CARGO_BIN_EXE_berth-runtime"));
    let out = CgroupV2Suite::new(runtime).unwrap().run().unwrap();
    println!("{}", out.console);
    assert_cgroup_v2_checks(&out);
}
