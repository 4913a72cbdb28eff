//! The cgroup v2 checks (vm/payloads/cgroup_v2.sh) for any runc-compatible runtime: one bundle
//! per resource, each container checked from outside (the cgroup files the runtime wrote) and
//! by its effect inside (OOM kill, fork failure, throttling, device denial).

use std::path::Path;

use serde_json::{json, Value};
use tempfile::TempDir;

use super::{Guest, GuestOutput, VmError};
use crate::{busybox_rootfs, spec, unique, TestkitError};

const PAYLOAD: &str = include_str!("../../../../vm/payloads/cgroup_v2.sh");

/// Where the runtime under test sits in the guest (the payload's `$RUNTIME`).
pub const GUEST_RUNTIME: &str = "/usr/local/bin/oci-runtime";

const MEMORY_LIMIT: u64 = 32 << 20;
const PIDS_LIMIT: i64 = 10;
const LOOP_WRITE_BPS: u64 = 1 << 20;

/// `runc spec` defaults (rootfs `/rootfs` shared, read-only), `args`, cgroupsPath
/// `/berth-test-<name>`, and `resources` merged into `linux.resources`.
fn bundle_config(name: &str, args: &[&str], resources: Value) -> Result<String, VmError> {
    let mut spec = serde_json::to_value(spec::runc_default()?)?;
    spec["root"]["path"] = json!("/rootfs");
    spec["process"]["terminal"] = json!(false);
    spec["process"]["args"] = json!(args);
    spec["hostname"] = json!(format!("berth-test-{name}"));
    spec["linux"]["cgroupsPath"] = json!(format!("/berth-test-{name}"));
    if let (Some(target), Value::Object(add)) =
        (spec["linux"]["resources"].as_object_mut(), resources)
    {
        for (key, value) in add {
            if key == "devices" {
                // Keep runc's leading deny-all rule; allow rules come after it.
                if let Some(rules) = target.get_mut("devices").and_then(Value::as_array_mut) {
                    rules.extend(value.as_array().cloned().unwrap_or_default());
                    continue;
                }
            }
            target.insert(key, value);
        }
    }
    Ok(spec.to_string())
}

/// The configs of the five checks (the containers' programs are busybox shell one-liners).
fn bundles() -> Result<Vec<(&'static str, String)>, VmError> {
    let mut io = bundle_config(
        "io",
        &[
            "sh",
            "-c",
            "a=$(cut -d' ' -f1 /proc/uptime); \
             dd if=/dev/zero of=/dev/loop0 bs=64k count=32 oflag=direct 2>/dev/null; \
             echo dd-exit $?; b=$(cut -d' ' -f1 /proc/uptime); \
             awk -v a=$a -v b=$b 'BEGIN { printf \"io-elapsed %.2f\\n\", b - a }'",
        ],
        json!({
            "blockIO": {
                "weight": 500,
                "throttleWriteBpsDevice": [{ "major": 7, "minor": 0, "rate": LOOP_WRITE_BPS }]
            },
            "devices": [{ "allow": true, "type": "b", "major": 7, "minor": 0, "access": "rw" }]
        }),
    )?;
    io = add_device(&io, "/dev/loop0", "b", 7, 0)?;
    let devices = add_device(
        &bundle_config(
            "devices",
            &[
                "sh",
                "-c",
                "cat /dev/null && echo null-ok; \
                 head -c1 /dev/kmsg >/dev/null; echo kmsg-exit $?",
            ],
            json!({}),
        )?,
        "/dev/kmsg",
        "c",
        1,
        11,
    )?;
    Ok(vec![
        (
            "memory",
            bundle_config(
                "memory",
                &[
                    "sh",
                    "-c",
                    "echo hog-start; x=0123456789abcdef; while :; do x=$x$x; done",
                ],
                json!({ "memory": { "limit": MEMORY_LIMIT } }),
            )?,
        ),
        (
            "pids",
            bundle_config(
                "pids",
                &[
                    "sh",
                    "-c",
                    "i=0; while [ $i -lt 40 ]; do sleep 3 & i=$((i+1)); done; echo forked-all",
                ],
                json!({ "pids": { "limit": PIDS_LIMIT } }),
            )?,
        ),
        (
            "cpu",
            bundle_config(
                "cpu",
                &[
                    "sh",
                    "-c",
                    "timeout 2 sh -c 'while :; do :; done'; echo busy-done",
                ],
                json!({ "cpu": { "quota": 50000, "period": 100000, "shares": 512 } }),
            )?,
        ),
        ("io", io),
        ("devices", devices),
    ])
}

/// Add a device node to `linux.devices` of a serialized config.
fn add_device(
    config: &str,
    path: &str,
    kind: &str,
    major: i64,
    minor: i64,
) -> Result<String, VmError> {
    let mut spec: Value = serde_json::from_str(config)?;
    spec["linux"]["devices"] = json!([{
        "path": path, "type": kind, "major": major, "minor": minor, "fileMode": 0o666, "uid": 0, "gid": 0
    }]);
    Ok(spec.to_string())
}

/// The guest for `runtime` (a host binary) with the rootfs, bundles and payload; keep it alive
/// until [`CgroupV2Suite::run`] returns.
pub struct CgroupV2Suite {
    _rootfs: TempDir,
    guest: Guest,
}

impl CgroupV2Suite {
    pub fn new(runtime: &Path) -> Result<CgroupV2Suite, VmError> {
        let rootfs = tempfile::Builder::new()
            .prefix(&format!("{}-rootfs-", unique("berth-test")))
            .tempdir()
            .map_err(VmError::WorkDir)?;
        busybox_rootfs(rootfs.path()).map_err(|source| TestkitError::Rootfs {
            path: rootfs.path().to_path_buf(),
            source,
        })?;
        // ~25 s when all goes well; a hanging runtime costs each check at most 50 s (the
        // payload bounds every runtime call), so the whole suite still ends with a report.
        let mut guest = Guest::new()
            .timeout(std::time::Duration::from_secs(140))
            .binary(runtime, GUEST_RUNTIME)
            .file(rootfs.path(), "/rootfs")
            .script(&format!("RUNTIME={GUEST_RUNTIME}\n{PAYLOAD}"));
        for (name, config) in bundles()? {
            guest = guest.data(&format!("/bundles/{name}/config.json"), config, 0o644);
        }
        Ok(CgroupV2Suite {
            _rootfs: rootfs,
            guest,
        })
    }

    pub fn run(&self) -> Result<GuestOutput, VmError> {
        self.guest.run()
    }
}

fn number(out: &GuestOutput, key: &str) -> f64 {
    out.value_after(key)
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no number after {key:?} in the console:\n{}", out.console))
}

/// Assert every check line of the payload; panics with the console on the first miss.
pub fn assert_cgroup_v2_checks(out: &GuestOutput) {
    let c = &out.console;
    let has = |line: &str| out.lines().any(|l| l.contains(line));
    assert_eq!(out.status, 0, "payload failed:\n{c}");
    assert!(has("check done"), "payload did not finish:\n{c}");
    for bad in ["failed", "timeout", "left", "missing"] {
        let hits: Vec<&str> = out
            .lines()
            .filter(|l| l.starts_with("check ") && l.contains(bad) && !l.contains("io.bfq.weight"))
            .collect();
        assert!(hits.is_empty(), "{hits:?}\n{c}");
    }
    // memory: limit written, hog OOM-killed.
    assert_eq!(
        number(out, "check memory memory.max "),
        MEMORY_LIMIT as f64,
        "{c}"
    );
    assert!(
        number(out, "check memory oom_kill ") >= 1.0,
        "no OOM kill:\n{c}"
    );
    assert!(has("inside memory: hog-start"), "{c}");
    // pids: limit written, forks refused.
    assert_eq!(
        number(out, "check pids pids.max "),
        PIDS_LIMIT as f64,
        "{c}"
    );
    assert!(
        number(out, "check pids max_events ") >= 1.0,
        "pids.max never hit:\n{c}"
    );
    assert!(
        !has("inside pids: forked-all"),
        "all 40 forks succeeded:\n{c}"
    );
    // cpu: quota/period, weight (runc's conversion of shares 512), throttling.
    assert_eq!(
        out.value_after("check cpu cpu.max "),
        Some("50000 100000"),
        "{c}"
    );
    // shares 512 -> weight: 20 by runc 1.1's linear map, 59 by the map crun and runc >= 1.3
    // use (10^((log2(s)^2 + 125 log2(s)) / 612 - 7/34), rounded up); both are accepted.
    let weight = number(out, "check cpu cpu.weight ");
    assert!(
        weight == 20.0 || weight == 59.0,
        "cpu.weight {weight}:\n{c}"
    );
    assert!(
        number(out, "check cpu nr_throttled ") >= 1.0,
        "never throttled:\n{c}"
    );
    assert!(has("inside cpu: busy-done"), "{c}");
    // io: throttle written and effective (2 MiB at 1 MiB/s), weight written.
    let io_max = out.value_after("check io io.max ").unwrap_or_default();
    assert!(
        io_max.contains("7:0") && io_max.contains(&format!("wbps={LOOP_WRITE_BPS}")),
        "{c}"
    );
    let weight = out
        .value_after("check io io.bfq.weight ")
        .filter(|v| *v != "missing")
        .or(out.value_after("check io io.weight "))
        .unwrap_or_default();
    assert!(weight.contains("default"), "no io weight written:\n{c}");
    assert!(has("inside io: dd-exit 0"), "{c}");
    assert!(
        number(out, "inside io: io-elapsed ") >= 1.0,
        "write not throttled:\n{c}"
    );
    // devices: default allow list works, a device outside it is denied.
    assert!(has("inside devices: null-ok"), "{c}");
    assert!(has("inside devices: kmsg-exit 1"), "{c}");
    assert!(has("Operation not permitted"), "{c}");
}
