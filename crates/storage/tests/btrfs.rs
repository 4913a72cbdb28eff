//! Btrfs backend against the real kernel: a btrfs file system on a loop-mounted sparse
//! image is the store; each container is a subvolume limited by its qgroup. Run as root.

mod common;

use berth_storage::{Error, Lower, QuotaBackend, StorageDriver};
use common::*;

/// A fresh btrfs file system (common::btrfs_mount), its store directory.
fn btrfs_store(t: &TestDir) -> std::path::PathBuf {
    btrfs_mount(t).join("store")
}

fn qgroups(mnt: &std::path::Path) -> String {
    run("btrfs", &["qgroup", "show", "--raw", mnt.to_str().unwrap()])
}

fn subvolume_id(path: &std::path::Path) -> String {
    run(
        "btrfs",
        &["inspect-internal", "rootid", path.to_str().unwrap()],
    )
    .trim()
    .to_owned()
}

#[test]
fn btrfs_quota_enforced_resized_and_removed() {
    let t = TestDir::new("btrfs");
    let store = btrfs_store(&t);
    let driver = StorageDriver::open(&store, None).unwrap();
    assert_eq!(driver.backend(), QuotaBackend::Btrfs);

    let layer = t.join("layer");
    create_file(&layer.join("etc/hostname"), "layer\n");
    let lower = Lower::Layers(vec![layer]);
    driver.create("q", &lower, Some(64 * MIB)).unwrap();
    driver.create("n", &lower, Some(64 * MIB)).unwrap();
    let mq = driver.mount("q").unwrap();
    let mn = driver.mount("n").unwrap();
    let subvol = subvolume_id(&store.join("q/fs"));
    assert!(qgroups(&t.join("mnt")).contains(&format!("0/{subvol} ")));

    let err = write_file(&mq.join("big"), 100 * MIB).unwrap_err();
    assert!(is_full(&err), "expected EDQUOT, got {err}");
    // The neighbour is not affected.
    write_file(&mn.join("ten"), 10 * MIB).unwrap();

    // Shrinking below the usage is refused; growing works while mounted.
    std::fs::remove_file(mq.join("big")).unwrap();
    write_file(&mq.join("some"), 20 * MIB).unwrap();
    assert!(matches!(
        driver.resize("q", 8 * MIB),
        Err(Error::ShrinkBelowUsage { .. })
    ));
    driver.resize("q", 256 * MIB).unwrap();
    write_file(&mq.join("big"), 100 * MIB).unwrap();
    let usage = driver.usage("q").unwrap();
    assert_eq!(usage.quota, Some(256 * MIB));
    assert!(
        usage.used >= 120 * MIB && usage.used < 125 * MIB,
        "used {}",
        usage.used
    );

    driver.remove("q").unwrap();
    assert!(!store.join("q").exists());
    assert!(mounts_under(&store.join("q")).is_empty());
    let list = run(
        "btrfs",
        &["subvolume", "list", t.join("mnt").to_str().unwrap()],
    );
    assert!(!list.contains("store/q/"), "{list}");
    qgroup_goes_away(&driver, &t.join("mnt"), &subvol, &["n"]);
    // The neighbour survives.
    assert_eq!(driver.list().unwrap(), vec!["n".to_owned()]);
    driver.remove("n").unwrap();
}

#[test]
fn btrfs_repair_removes_orphaned_subvolumes() {
    let t = TestDir::new("btrfsrepair");
    let store = btrfs_store(&t);
    {
        let driver = StorageDriver::open(&store, Some(QuotaBackend::Btrfs)).unwrap();
        driver
            .create("lost", &Lower::HostTree, Some(32 * MIB))
            .unwrap();
        driver.mount("lost").unwrap();
    }
    let subvol = subvolume_id(&store.join("lost/fs"));
    let driver = StorageDriver::open(&store, None).unwrap();
    assert_eq!(driver.repair(&[]).unwrap(), vec!["lost".to_owned()]);
    assert!(!store.join("lost").exists());
    assert!(mounts_under(&store).is_empty());
    qgroup_goes_away(&driver, &t.join("mnt"), &subvol, &[]);
}

/// Kills the child on drop.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn btrfs_remove_while_another_namespace_holds_the_overlay() {
    let t = TestDir::new("btrfsns");
    let store = btrfs_store(&t);
    let driver = StorageDriver::open(&store, None).unwrap();
    driver
        .create("held", &Lower::HostTree, Some(32 * MIB))
        .unwrap();
    let merged = driver.mount("held").unwrap();
    write_file(&merged.join("data"), MIB).unwrap();
    let subvol = subvolume_id(&store.join("held/fs"));
    // A process in a private copy of our mount namespace keeps the overlay on the
    // subvolume after we unmount ours (as a container not yet reaped does).
    let holder = Child(
        std::process::Command::new("unshare")
            .args(["--mount", "--propagation", "private", "sleep", "60"])
            .spawn()
            .unwrap(),
    );
    let start = std::time::Instant::now();
    while !std::fs::read_to_string(format!("/proc/{}/mountinfo", holder.0.id()))
        .unwrap_or_default()
        .contains(merged.to_str().unwrap())
    {
        assert!(start.elapsed().as_secs() < 10);
        std::thread::sleep(std::time::Duration::from_millis(10));
    }

    let start = std::time::Instant::now();
    driver.remove("held").unwrap();
    assert!(start.elapsed().as_secs() < 10, "{:?}", start.elapsed());
    assert!(!store.join("held").exists());
    drop(holder);
    qgroup_goes_away(&driver, &t.join("mnt"), &subvol, &[]);
}

/// `remove` waits a bounded time for the cleaner to drop a deleted subvolume before its
/// qgroup can go; if it could not, `repair` removes the qgroup later.
fn qgroup_goes_away(driver: &StorageDriver, mnt: &std::path::Path, subvol: &str, known: &[&str]) {
    let start = std::time::Instant::now();
    while qgroups(mnt).contains(&format!("0/{subvol} ")) {
        assert!(start.elapsed().as_secs() < 90, "{}", qgroups(mnt));
        driver.repair(known).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}
