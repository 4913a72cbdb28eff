//! LoopImage backend against the real kernel: quota enforcement, online growth, usage,
//! removal and crash repair. Run as root.

mod common;

use berth_storage::{Error, Lower, QuotaBackend, StorageDriver};
use common::*;
use std::os::unix::fs::PermissionsExt;

fn layers(t: &TestDir) -> Lower {
    let layer = t.join("layer");
    create_file(&layer.join("etc/os-release"), "berth test layer\n");
    Lower::Layers(vec![layer])
}

#[test]
fn loop_quota_enforced_grows_online_and_reports_usage() {
    let t = TestDir::new("loopquota");
    let driver = StorageDriver::open(&t.join("store"), Some(QuotaBackend::LoopImage)).unwrap();
    assert_eq!(driver.backend(), QuotaBackend::LoopImage);
    let lower = layers(&t);
    driver.create("c1", &lower, Some(64 * MIB)).unwrap();
    driver.create("c2", &lower, Some(64 * MIB)).unwrap();
    let m1 = driver.mount("c1").unwrap();
    let m2 = driver.mount("c2").unwrap();

    // The image and the overlay are named so that the host's tools show berth.
    let line = mount_line(&m1).unwrap();
    assert!(line.contains(" - overlay berth-c1 "), "{line}");
    let losetup = run("losetup", &["-a"]);
    assert!(losetup.contains("berth-c1.img"), "{losetup}");

    let err = write_file(&m1.join("big"), 100 * MIB).unwrap_err();
    assert!(is_full(&err), "expected ENOSPC/EDQUOT, got {err}");
    // The neighbour and the host are not affected.
    write_file(&m2.join("ten"), 10 * MIB).unwrap();
    write_file(&t.join("host-file"), 10 * MIB).unwrap();

    // Grow while mounted and in use (a file is open for writing in the container).
    let busy = std::fs::File::create(m1.join("busy")).unwrap();
    driver.resize("c1", 128 * MIB).unwrap();
    write_file(&m1.join("big"), 100 * MIB).unwrap();
    drop(busy);

    let usage = driver.usage("c1").unwrap();
    assert_eq!(usage.quota, Some(128 * MIB));
    assert!(
        usage.used >= 100 * MIB && usage.used < 104 * MIB,
        "used {}",
        usage.used
    );
    // Measured the same way when not mounted.
    driver.unmount("c1").unwrap();
    assert!(mount_line(&m1).is_none());
    let offline = driver.usage("c1").unwrap();
    assert!(
        offline.used.abs_diff(usage.used) < MIB,
        "{} vs {}",
        offline.used,
        usage.used
    );
    // Remount: the data is still there.
    let m1 = driver.mount("c1").unwrap();
    assert_eq!(std::fs::metadata(m1.join("big")).unwrap().len(), 100 * MIB);

    for id in ["c1", "c2"] {
        driver.remove(id).unwrap();
    }
}

#[test]
fn loop_shrink_online_but_not_below_usage() {
    let t = TestDir::new("loopshrink");
    let driver = StorageDriver::open(&t.join("store"), Some(QuotaBackend::LoopImage)).unwrap();
    driver.create("c", &layers(&t), Some(64 * MIB)).unwrap();
    let merged = driver.mount("c").unwrap();
    write_file(&merged.join("data"), 40 * MIB).unwrap();
    match driver.resize("c", 32 * MIB) {
        Err(Error::ShrinkBelowUsage {
            used, requested, ..
        }) => {
            assert!(used >= 40 * MIB, "{used}");
            assert_eq!(requested, 32 * MIB);
        }
        other => panic!("expected ShrinkBelowUsage, got {other:?}"),
    }
    // Above the usage, shrinking works while mounted.
    std::fs::remove_file(merged.join("data")).unwrap();
    driver.resize("c", 32 * MIB).unwrap();
    assert_eq!(driver.usage("c").unwrap().quota, Some(32 * MIB));
    let err = write_file(&merged.join("data"), 40 * MIB).unwrap_err();
    assert!(is_full(&err), "{err}");
    // The quota is re-applied when the image is mounted again.
    std::fs::remove_file(merged.join("data")).unwrap();
    driver.unmount("c").unwrap();
    let merged = driver.mount("c").unwrap();
    let err = write_file(&merged.join("data"), 40 * MIB).unwrap_err();
    assert!(is_full(&err), "{err}");
    driver.remove("c").unwrap();
}

/// Whether this process has CAP_SYS_RESOURCE (online ext4 resizing needs it).
fn has_cap_sys_resource() -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let eff = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .unwrap()
        .trim();
    u64::from_str_radix(eff, 16).unwrap() & (1 << 24) != 0
}

#[test]
fn loop_grow_past_the_image() {
    let t = TestDir::new("loopgrow");
    let store = t.join("store");
    let driver = StorageDriver::open(&store, Some(QuotaBackend::LoopImage)).unwrap();
    driver.create("c", &layers(&t), Some(64 * MIB)).unwrap();
    let image = store.join("c/berth-c.img");
    let before = std::fs::metadata(&image).unwrap().len();
    // Unmounted: the image and its file system grow offline.
    driver.resize("c", 2 * before).unwrap();
    let after = std::fs::metadata(&image).unwrap().len();
    assert!(after > 2 * before, "{before} -> {after}");
    let merged = driver.mount("c").unwrap();
    let st = rustix::fs::statvfs(&merged).unwrap();
    let avail = st.f_bavail * st.f_frsize;
    assert!(
        avail > 2 * before - 64 * MIB && avail <= 2 * before,
        "avail {avail}"
    );
    write_file(&merged.join("data"), 100 * MIB).unwrap();
    // Mounted: past the image needs online ext4 resizing, i.e. CAP_SYS_RESOURCE.
    match driver.resize("c", 2 * after) {
        Ok(()) => assert!(has_cap_sys_resource()),
        Err(Error::GrowNeedsCapability { .. }) => assert!(!has_cap_sys_resource()),
        Err(e) => panic!("{e}"),
    }
    driver.remove("c").unwrap();
}

#[test]
fn loop_remove_leaves_nothing() {
    let t = TestDir::new("loopremove");
    let store = t.join("store");
    let driver = StorageDriver::open(&store, Some(QuotaBackend::LoopImage)).unwrap();
    driver.create("gone", &layers(&t), Some(32 * MIB)).unwrap();
    let merged = driver.mount("gone").unwrap();
    // Idempotent mount.
    assert_eq!(driver.mount("gone").unwrap(), merged);
    write_file(&merged.join("f"), MIB).unwrap();
    assert_eq!(driver.list().unwrap(), vec!["gone".to_owned()]);
    assert_eq!(loops_under(&store).len(), 1);
    // Unmounting releases the loop device (auto-clear).
    driver.unmount("gone").unwrap();
    assert!(mounts_under(&store).is_empty());
    let start = std::time::Instant::now();
    while !loops_under(&store).is_empty() {
        assert!(start.elapsed().as_secs() < 5, "loop device not released");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let merged = driver.mount("gone").unwrap();
    assert!(merged.join("f").exists());
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&store.join("gone/berth-gone.img")), 0o600);
    assert_eq!(mode(&store.join("gone")), 0o711);

    driver.remove("gone").unwrap();
    assert!(mounts_under(&store).is_empty());
    assert!(loops_under(&store).is_empty());
    assert!(!store.join("gone").exists());
    assert!(driver.list().unwrap().is_empty());
    // Idempotent.
    driver.remove("gone").unwrap();
    assert!(matches!(driver.mount("gone"), Err(Error::NotFound { .. })));
}

#[test]
fn repair_removes_leftovers_of_a_crash() {
    let t = TestDir::new("repair");
    let store = t.join("store");
    {
        let driver = StorageDriver::open(&store, Some(QuotaBackend::LoopImage)).unwrap();
        driver.create("lost", &layers(&t), Some(32 * MIB)).unwrap();
        driver.mount("lost").unwrap();
        driver.create("kept", &layers(&t), Some(32 * MIB)).unwrap();
        driver.mount("kept").unwrap();
        // The manager "crashes": the driver is dropped without removing anything.
    }
    // A half-made container directory without a record (crash during create).
    std::fs::create_dir_all(store.join("half/fs")).unwrap();
    assert_eq!(loops_under(&store).len(), 2);

    // The reopened store keeps its backend whatever is detected now.
    let driver = StorageDriver::open(&store, None).unwrap();
    assert_eq!(driver.backend(), QuotaBackend::LoopImage);
    assert!(matches!(
        StorageDriver::open(&store, Some(QuotaBackend::None)),
        Err(Error::BackendMismatch { .. })
    ));

    let removed = driver.repair(&["kept"]).unwrap();
    assert_eq!(removed, vec!["half".to_owned(), "lost".to_owned()]);
    assert!(!store.join("lost").exists());
    assert!(!store.join("half").exists());
    assert!(mounts_under(&store.join("lost")).is_empty());
    let loops = loops_under(&store);
    assert_eq!(loops.len(), 1, "{loops:?}");
    // The known container is untouched and still mounted.
    assert_eq!(driver.list().unwrap(), vec!["kept".to_owned()]);
    assert!(mount_line(&store.join("kept/merged")).is_some());
    assert!(driver.repair(&["kept"]).unwrap().is_empty());
    driver.remove("kept").unwrap();
    assert!(loops_under(&store).is_empty());
}

#[test]
fn quota_below_minimum_is_refused_and_leaves_nothing() {
    let t = TestDir::new("loopmin");
    let store = t.join("store");
    let driver = StorageDriver::open(&store, Some(QuotaBackend::LoopImage)).unwrap();
    assert!(matches!(
        driver.create("tiny", &layers(&t), Some(MIB)),
        Err(Error::QuotaTooSmall { .. })
    ));
    assert!(!store.join("tiny").exists());
    assert!(matches!(
        driver.create("bad/id", &layers(&t), None),
        Err(Error::InvalidId { .. })
    ));
    assert!(matches!(
        driver.create("nolayer", &Lower::Layers(vec![t.join("missing")]), None),
        Err(Error::Lower { .. })
    ));
    assert!(matches!(
        driver.create("relative", &Lower::Layers(vec!["layer".into()]), None),
        Err(Error::LowerNotAbsolute { .. })
    ));
    assert!(matches!(
        driver.create("nolayers", &Lower::Layers(vec![]), None),
        Err(Error::NoLayers)
    ));
    assert!(driver.list().unwrap().is_empty());
}

#[test]
fn parallel_operations_on_one_store() {
    let t = TestDir::new("parallel");
    let store = t.join("store");
    let lower = layers(&t);
    StorageDriver::open(&store, Some(QuotaBackend::LoopImage)).unwrap();
    std::thread::scope(|s| {
        for i in 0..4 {
            let (store, lower) = (&store, &lower);
            s.spawn(move || {
                // Each thread its own driver, as separate manager processes would have.
                let driver = StorageDriver::open(store, None).unwrap();
                let id = format!("p{i}");
                driver.create(&id, lower, Some(32 * MIB)).unwrap();
                let merged = driver.mount(&id).unwrap();
                write_file(&merged.join("f"), 4 * MIB).unwrap();
                // Same-id operations serialise; this one finds it mounted.
                assert_eq!(driver.mount(&id).unwrap(), merged);
                driver.remove(&id).unwrap();
            });
        }
    });
    assert!(mounts_under(&store).is_empty());
    assert!(loops_under(&store).is_empty());
    let driver = StorageDriver::open(&store, None).unwrap();
    assert!(driver.list().unwrap().is_empty());
}

#[test]
fn remove_while_busy_fails_and_keeps_the_data() {
    let t = TestDir::new("busy");
    let store = t.join("store");
    let driver = StorageDriver::open(&store, Some(QuotaBackend::LoopImage)).unwrap();
    driver.create("b", &layers(&t), Some(32 * MIB)).unwrap();
    let merged = driver.mount("b").unwrap();
    std::fs::write(merged.join("keep"), b"data").unwrap();
    let busy = std::fs::File::open(merged.join("keep")).unwrap();
    match driver.remove("b") {
        Err(Error::Unmount { path, source }) => {
            assert_eq!(path, merged);
            assert_eq!(source.raw_os_error(), Some(libc::EBUSY));
        }
        other => panic!("expected a busy unmount, got {other:?}"),
    }
    // Nothing was deleted through the mount.
    assert_eq!(std::fs::read(merged.join("keep")).unwrap(), b"data");
    assert_eq!(driver.list().unwrap(), vec!["b".to_owned()]);
    drop(busy);
    driver.remove("b").unwrap();
    assert!(!store.join("b").exists());
    assert!(loops_under(&store).is_empty());
}

/// Kills the child on drop.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A process in a private copy of our mount namespace (as a starting container is): it
/// keeps the container's file systems alive after we unmount ours.
fn namespace_holding(path: &std::path::Path) -> Child {
    let child = Child(
        std::process::Command::new("unshare")
            .args(["--mount", "--propagation", "private", "sleep", "60"])
            .spawn()
            .unwrap(),
    );
    let mountinfo = format!("/proc/{}/mountinfo", child.0.id());
    let start = std::time::Instant::now();
    loop {
        let ours = std::fs::read_link("/proc/self/ns/mnt").unwrap();
        let theirs = std::fs::read_link(format!("/proc/{}/ns/mnt", child.0.id())).unwrap();
        let text = std::fs::read_to_string(&mountinfo).unwrap_or_default();
        if ours != theirs && text.contains(path.to_str().unwrap()) {
            return child;
        }
        assert!(start.elapsed().as_secs() < 10, "unshare did not start");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

#[test]
fn file_system_alive_in_another_namespace_is_reused_not_doubled() {
    let t = TestDir::new("otherns");
    let store = t.join("store");
    let driver = StorageDriver::open(&store, Some(QuotaBackend::LoopImage)).unwrap();
    driver.create("c", &layers(&t), Some(64 * MIB)).unwrap();
    let merged = driver.mount("c").unwrap();
    write_file(&merged.join("before"), 8 * MIB).unwrap();
    let holder = namespace_holding(&merged);

    driver.unmount("c").unwrap();
    assert!(mount_line(&merged).is_none());
    // The file system lives on in the other namespace, on its loop device.
    let loops = loops_under(&store);
    assert_eq!(loops.len(), 1);
    // Usage and resize work on the live file system (its superblock on disk is stale).
    let usage = driver.usage("c").unwrap();
    assert!(usage.used >= 8 * MIB, "{}", usage.used);
    driver.resize("c", 96 * MIB).unwrap();
    // Mounting again uses the same loop device: one ext4 instance on the image.
    let merged = driver.mount("c").unwrap();
    assert_eq!(loops_under(&store), loops);
    assert!(merged.join("before").exists());
    write_file(&merged.join("after"), 80 * MIB).unwrap();
    let err = write_file(&merged.join("more"), 16 * MIB).unwrap_err();
    assert!(is_full(&err), "{err}");

    drop(holder);
    driver.remove("c").unwrap();
    assert!(loops_under(&store).is_empty());
}
