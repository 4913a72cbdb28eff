//! Limits on the command line, each measured taking effect, and changed live by `update`.
//! Timing-sensitive tests are named `serial_...`.

mod common;

use std::time::{Duration, Instant};

use common::Env;

fn read_u64(path: &std::path::Path) -> u64 {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn serial_memory_limit_and_live_update() {
    let env = Env::new("memory");
    let id = env.ok(&[
        "run",
        "-d",
        "--memory",
        "32m",
        "--memory-swap",
        "32m",
        "--",
        "sleep",
        "1000",
    ]);
    let id = id.trim();
    let limit = env.cgroup_dir("memory", id).join("memory.limit_in_bytes");
    assert_eq!(read_u64(&limit), 32 << 20);
    // dd holds a 96M buffer: more than the limit, the kernel's OOM killer ends it.
    let dd = [
        "exec",
        id,
        "dd",
        "if=/dev/zero",
        "of=/dev/null",
        "bs=96M",
        "count=1",
    ];
    let r = env.run(&dd);
    assert_ne!(r.status.code(), Some(0), "96M in a 32M container must fail");
    env.ok(&["update", "--memory", "256m", "--memory-swap", "256m", id]);
    assert_eq!(read_u64(&limit), 256 << 20);
    let r = env.run(&dd);
    assert_eq!(
        r.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&r.stderr)
    );
    assert_eq!(env.inspect(id)["config"]["limits"]["memory"], 256u64 << 20);
}

/// CPU time a container's cgroup used per second of wall time over `secs`.
fn cpu_rate(env: &Env, id: &str, secs: f64) -> f64 {
    let usage = env.cgroup_dir("cpuacct", id).join("cpuacct.usage");
    let (t0, u0) = (Instant::now(), read_u64(&usage));
    std::thread::sleep(Duration::from_secs_f64(secs));
    let (t1, u1) = (Instant::now(), read_u64(&usage));
    (u1 - u0) as f64 / (t1 - t0).as_nanos() as f64
}

#[test]
fn serial_cpus_limit_and_live_update() {
    let env = Env::new("cpus");
    let id = env.ok(&[
        "run",
        "-d",
        "--cpus",
        "0.3",
        "--",
        "sh",
        "-c",
        "while :; do :; done",
    ]);
    let id = id.trim();
    assert_eq!(
        read_u64(&env.cgroup_dir("cpu", id).join("cpu.cfs_quota_us")),
        30_000
    );
    std::thread::sleep(Duration::from_millis(300));
    let limited = cpu_rate(&env, id, 2.0);
    assert!(limited < 0.36, "--cpus 0.3 but used {limited:.2} CPUs");
    let throttled = |env: &Env| -> u64 {
        let stat = std::fs::read_to_string(env.cgroup_dir("cpu", id).join("cpu.stat")).unwrap();
        stat.lines()
            .find_map(|l| l.strip_prefix("nr_throttled "))
            .unwrap()
            .parse()
            .unwrap()
    };
    assert!(throttled(&env) > 0, "the busy loop hit the 0.3 CPU quota");
    env.ok(&["update", "--cpus", "2", id]);
    assert_eq!(
        read_u64(&env.cgroup_dir("cpu", id).join("cpu.cfs_quota_us")),
        200_000
    );
    // One thread can never use two CPUs' quota: no more throttling, however busy the host
    // (an absolute CPU share would depend on the other tests running meanwhile).
    std::thread::sleep(Duration::from_millis(200));
    let before = throttled(&env);
    let freed = cpu_rate(&env, id, 1.5);
    assert_eq!(
        throttled(&env),
        before,
        "still throttled after update --cpus 2"
    );
    assert!(
        freed > limited,
        "--cpus 2 gave {freed:.2} CPUs, --cpus 0.3 gave {limited:.2}"
    );
}

#[test]
fn serial_pids_limit_and_live_update() {
    let env = Env::new("pids");
    let id = env.ok(&["run", "-d", "--pids-limit", "6", "--", "sleep", "1000"]);
    let id = id.trim();
    let max = env.cgroup_dir("pids", id).join("pids.max");
    assert_eq!(std::fs::read_to_string(&max).unwrap().trim(), "6");
    let spawn = [
        "exec", id, "sh", "-c",
        "n=0; for i in 1 2 3 4 5 6 7 8 9 10; do sleep 30 >/dev/null 2>&1 & n=$((n+1)); done; echo $n",
    ];
    let r = env.run(&spawn);
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(
        r.status.code() != Some(0) || err.contains("fork") || err.contains("Resource"),
        "10 children under pids.max=6 must fail: {err}"
    );
    assert!(read_u64(&env.cgroup_dir("pids", id).join("pids.current")) <= 6);
    env.ok(&["update", "--pids-limit", "100", id]);
    assert_eq!(std::fs::read_to_string(&max).unwrap().trim(), "100");
    let r = env.run(&spawn);
    assert_eq!(
        r.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&r.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&r.stdout).trim(), "10");
}

/// The block device holding `path` (`/dev/vda`), from sysfs.
fn block_device_of(path: &std::path::Path) -> String {
    use std::os::unix::fs::MetadataExt;
    let dev = std::fs::metadata(path).unwrap().dev();
    let (major, minor) = (rustix::fs::major(dev), rustix::fs::minor(dev));
    let uevent = std::fs::read_to_string(format!("/sys/dev/block/{major}:{minor}/uevent")).unwrap();
    let name = uevent
        .lines()
        .find_map(|l| l.strip_prefix("DEVNAME="))
        .unwrap();
    format!("/dev/{name}")
}

#[test]
fn serial_device_write_bps_and_live_update() {
    let env = Env::new("blkio");
    let dev = block_device_of(&env.root);
    let id = env.ok(&[
        "run",
        "-d",
        "--device-write-bps",
        &format!("{dev}:2mb"),
        "--",
        "sleep",
        "1000",
    ]);
    let id = id.trim();
    let dd = [
        "exec",
        id,
        "dd",
        "if=/dev/zero",
        "of=/var/tmp/berth-test-blkio",
        "bs=1M",
        "count=6",
        "oflag=direct",
    ];
    let t = Instant::now();
    env.ok(&dd);
    let slow = t.elapsed();
    assert!(
        slow >= Duration::from_millis(2000),
        "6M at 2MB/s took only {slow:?}"
    );
    env.ok(&["update", "--device-write-bps", &format!("{dev}:200mb"), id]);
    let t = Instant::now();
    env.ok(&dd);
    let fast = t.elapsed();
    assert!(
        fast < Duration::from_millis(1500),
        "6M at 200MB/s took {fast:?}"
    );
}

/// The remaining limits land in their cgroup files, at create and through `update`.
#[test]
fn limits_reach_their_cgroup_files() {
    let env = Env::new("cgfiles");
    let dev = block_device_of(&env.root);
    let id = env.ok(&[
        "run",
        "-d",
        "--cpu-shares",
        "512",
        "--cpuset-cpus",
        "0",
        "--cpu-quota",
        "20000",
        "--cpu-period",
        "50000",
        "--memory-reservation",
        "16m",
        "--device-read-iops",
        &format!("{dev}:100"),
        "--device-write-iops",
        &format!("{dev}:50"),
        "--device-read-bps",
        &format!("{dev}:1mb"),
        "--",
        "sleep",
        "1000",
    ]);
    let id = id.trim();
    let read = |ctrl: &str, file: &str| {
        std::fs::read_to_string(env.cgroup_dir(ctrl, id).join(file))
            .unwrap()
            .trim()
            .to_string()
    };
    assert_eq!(read("cpu", "cpu.shares"), "512");
    assert_eq!(read("cpuset", "cpuset.cpus"), "0");
    assert_eq!(read("cpu", "cpu.cfs_quota_us"), "20000");
    assert_eq!(read("cpu", "cpu.cfs_period_us"), "50000");
    assert_eq!(
        read("memory", "memory.soft_limit_in_bytes"),
        (16u64 << 20).to_string()
    );
    assert!(read("blkio", "blkio.throttle.read_iops_device").ends_with(" 100"));
    assert!(read("blkio", "blkio.throttle.write_iops_device").ends_with(" 50"));
    assert!(read("blkio", "blkio.throttle.read_bps_device").ends_with(&format!(" {}", 1 << 20)));
    // The container sees its cpuset.
    assert_eq!(env.ok(&["exec", id, "nproc"]).trim(), "1");
    env.ok(&["update", "--cpu-shares", "2048", "--cpuset-cpus", "0-1", id]);
    assert_eq!(read("cpu", "cpu.shares"), "2048");
    assert_eq!(read("cpuset", "cpuset.cpus"), "0-1");
    let rec = env.inspect(id);
    assert_eq!(rec["config"]["limits"]["cpu_shares"], 2048);
    assert_eq!(
        rec["config"]["limits"]["pids_limit"],
        serde_json::Value::Null
    );
}
