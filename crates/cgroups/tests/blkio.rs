//! blkio throttling measured on a loop device made for the test. Needs root and losetup.

mod common;

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{Cg, Proc};
use oci_spec::runtime::{LinuxBlockIoBuilder, LinuxResourcesBuilder, LinuxThrottleDeviceBuilder};

/// A loop device over a sparse file, detached and removed on drop.
struct LoopDev {
    dev: String,
    file: PathBuf,
}

impl LoopDev {
    fn new() -> LoopDev {
        let file = std::env::temp_dir().join(format!("berth-test-{}-loop.img", std::process::id()));
        fs::File::create(&file).unwrap().set_len(32 << 20).unwrap();
        let out = Command::new("losetup")
            .args(["--find", "--show"])
            .arg(&file)
            .output()
            .expect("losetup (package mount)");
        if !out.status.success() {
            let _ = fs::remove_file(&file);
            panic!("losetup: {}", String::from_utf8_lossy(&out.stderr));
        }
        let dev = String::from_utf8(out.stdout).unwrap().trim().to_string();
        LoopDev { dev, file }
    }
}

impl Drop for LoopDev {
    fn drop(&mut self) {
        let _ = Command::new("losetup").args(["-d", &self.dev]).status();
        let _ = fs::remove_file(&self.file);
    }
}

const BYTES: u64 = 40 * 64 * 1024;

/// Seconds a direct-I/O dd of BYTES to `dev` takes inside `cg`.
fn timed_write(cg: &Cg, dev: &str) -> f64 {
    let script = format!("exec dd if=/dev/zero of={dev} bs=64k count=40 oflag=direct 2>&1");
    let start = Instant::now();
    let mut p = Proc::start_in(cg, &script);
    let (status, out, _) = p.finish(Duration::from_secs(15));
    assert!(status.success(), "dd: {out}");
    start.elapsed().as_secs_f64()
}

#[test]
fn serial_blkio_throttle_holds_write_rate() {
    let lo = LoopDev::new();
    let rdev = fs::metadata(&lo.dev).unwrap().rdev();
    let (major, minor) = (rustix::fs::major(rdev), rustix::fs::minor(rdev));

    let free = Cg::new("blkfree");
    let unthrottled = timed_write(&free, &lo.dev);

    let rate: u64 = 1 << 20; // 1 MiB/s: 2.5 MiB should take ~2.5 s
    let res = LinuxResourcesBuilder::default()
        .block_io(
            LinuxBlockIoBuilder::default()
                .throttle_write_bps_device(vec![LinuxThrottleDeviceBuilder::default()
                    .major(i64::from(major))
                    .minor(i64::from(minor))
                    .rate(rate)
                    .build()
                    .unwrap()])
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    let cg = Cg::with("blkthrottle", &res);
    assert_eq!(
        cg.read("blkio", "blkio.throttle.write_bps_device"),
        format!("{major}:{minor} {rate}")
    );
    let throttled = timed_write(&cg, &lo.dev);
    let expected = BYTES as f64 / rate as f64;
    assert!(
        throttled >= expected * 0.6,
        "throttled write took {throttled:.2}s, expected about {expected:.2}s"
    );
    assert!(
        throttled > unthrottled + 1.0,
        "throttled {throttled:.2}s vs unthrottled {unthrottled:.2}s"
    );
    let stats = cg.mgr.stats().unwrap();
    let written: u64 = stats
        .blkio
        .io_service_bytes_recursive
        .iter()
        .filter(|e| e.major == u64::from(major) && e.minor == u64::from(minor) && e.op == "Write")
        .map(|e| e.value)
        .sum();
    assert!(written >= BYTES, "blkio stats: {:?}", stats.blkio);
}
