//! Containers in a user namespace: the overlay shows its lower layers (the host tree or
//! image layers) through idmapped mounts, and the upper stores shifted ids, with every
//! quota backend. Run as root.

mod common;

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use berth_storage::{Error, IdShift, Lower, QuotaBackend, StorageDriver};
use common::*;

const SHIFT: IdShift = IdShift {
    uid: 3_100_000_000,
    gid: 3_200_000_000,
    count: 65536,
};

fn owner(path: &Path) -> (u32, u32) {
    let m = std::fs::symlink_metadata(path).unwrap();
    (m.uid(), m.gid())
}

/// A lower directory with a root-owned file and one owned by 1000:1000.
fn make_layer(dir: &Path) {
    create_file(&dir.join("etc/passwd"), "root:x:0:0::/root:/bin/sh\n");
    create_file(&dir.join("home/user/file"), "user's\n");
    std::os::unix::fs::chown(dir.join("home/user/file"), Some(1000), Some(1000)).unwrap();
}

fn case(store: &Path, backend: QuotaBackend, quota: Option<u64>, lower: Lower) {
    let mut driver = StorageDriver::open(store, Some(backend)).unwrap();
    let t_dir = store.parent().unwrap().to_owned();
    driver.set_host_masks(&[t_dir.join("secret")]).unwrap();
    let layer = driver
        .create_shifted("s", &lower, quota, Some(SHIFT))
        .unwrap();
    assert_eq!(layer.ids, Some(SHIFT));
    // The container's directory: root and the container's root group only.
    let dir = std::fs::metadata(store.join("s")).unwrap();
    assert_eq!(
        (dir.uid(), dir.gid(), dir.mode() & 0o7777),
        (0, SHIFT.gid, 0o710)
    );
    // The upper's root is the overlay's root: shifted once, at create.
    let merged = driver.mount("s").unwrap();
    assert_eq!(owner(&merged), (SHIFT.uid, SHIFT.gid));

    // Lower files show shifted ids (a process of the container's user namespace sees them
    // with their own owners: host 0 -> SHIFT.uid -> 0 inside).
    assert_eq!(owner(&merged.join("etc/passwd")), (SHIFT.uid, SHIFT.gid));
    if let Lower::Layers(_) = lower {
        assert_eq!(
            owner(&merged.join("home/user/file")),
            (SHIFT.uid + 1000, SHIFT.gid + 1000)
        );
    } else {
        // The host masks in the upper are shifted like the host tree they stand for.
        let inside = merged.join(t_dir.strip_prefix("/").unwrap());
        assert_eq!(owner(&inside.join("secret")), (SHIFT.uid, SHIFT.gid));
        assert_eq!(std::fs::read_dir(inside.join("secret")).unwrap().count(), 0);
        // Mounts on the host's / stay out (non-recursive clone).
        assert!(!merged.join("proc/self").exists());
    }

    // Copy-up stores the shifted ids in the upper; the lower is untouched.
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(merged.join("etc/passwd"))
        .unwrap();
    std::io::Write::write_all(&mut f, b"x:x:1:1::/:/bin/sh\n").unwrap();
    drop(f);
    let upper = layer.upper.clone();
    assert_eq!(owner(&upper.join("etc/passwd")), (SHIFT.uid, SHIFT.gid));
    assert_eq!(owner(&upper.join("etc")), (SHIFT.uid, SHIFT.gid));
    let lower_passwd = match &lower {
        Lower::HostTree => PathBuf::from("/etc/passwd"),
        Lower::Layers(l) => l[0].join("etc/passwd"),
    };
    assert_eq!(owner(&lower_passwd), (0, 0));
    assert!(!std::fs::read_to_string(&lower_passwd)
        .unwrap()
        .contains("x:x:1:1::/:/bin/sh"));

    // The idmapped clones were private to the overlay: only merged (and the loop
    // image's fs/) are mounted under the store.
    let mounts = mounts_under(store);
    assert!(
        mounts
            .iter()
            .all(|m| m.ends_with("s/merged") || m.ends_with("s/fs")),
        "{mounts:?}"
    );
    driver.unmount("s").unwrap();
    // Mounted again: the same view (the record keeps the shift).
    let merged = driver.mount("s").unwrap();
    assert_eq!(owner(&merged.join("etc/passwd")), (SHIFT.uid, SHIFT.gid));
    driver.remove("s").unwrap();
    assert!(mounts_under(store).is_empty());
}

fn layers(t: &TestDir, under: &Path) -> Lower {
    let _ = t;
    let top = under.join("layers/top");
    make_layer(&top);
    Lower::Layers(vec![top])
}

#[test]
fn idmapped_host_tree_on_plain_directories() {
    let t = TestDir::new("idmap-host-plain");
    create_file(&t.join("secret/key"), "secret");
    case(&t.join("store"), QuotaBackend::None, None, Lower::HostTree);
}

#[test]
fn idmapped_host_tree_on_loop_image() {
    let t = TestDir::new("idmap-host-loop");
    create_file(&t.join("secret/key"), "secret");
    case(
        &t.join("store"),
        QuotaBackend::LoopImage,
        Some(32 * MIB),
        Lower::HostTree,
    );
}

#[test]
fn idmapped_layers_on_plain_and_loop_image() {
    let t = TestDir::new("idmap-layers");
    let lower = layers(&t, &t.path);
    case(&t.join("store"), QuotaBackend::None, None, lower.clone());
    let t2 = TestDir::new("idmap-layers-loop");
    case(
        &t2.join("store"),
        QuotaBackend::LoopImage,
        Some(32 * MIB),
        lower,
    );
}

/// A btrfs file system as the store, with the image layer on it too (btrfs lowers are
/// idmapped as well) and the host tree.
#[test]
fn idmapped_on_btrfs() {
    let t = TestDir::new("idmap-btrfs");
    let mnt = btrfs_mount(&t);
    let lower = layers(&t, &mnt);
    create_file(&mnt.join("secret/key"), "secret");
    case(
        &mnt.join("store"),
        QuotaBackend::Btrfs,
        Some(64 * MIB),
        lower,
    );
    case(
        &mnt.join("store2"),
        QuotaBackend::Btrfs,
        Some(64 * MIB),
        Lower::HostTree,
    );
}

/// A layer that cannot be idmapped (gone since create): a clear error, nothing mounted.
#[test]
fn failed_idmapped_mount_leaves_nothing() {
    let t = TestDir::new("idmap-fail");
    let lower = layers(&t, &t.path);
    let store = t.join("store");
    let driver = StorageDriver::open(&store, Some(QuotaBackend::LoopImage)).unwrap();
    driver
        .create_shifted("f", &lower, Some(32 * MIB), Some(SHIFT))
        .unwrap();
    std::fs::remove_dir_all(t.join("layers")).unwrap();
    let err = driver.mount("f").unwrap_err();
    assert!(matches!(err, Error::IdmapLower { .. }), "{err}");
    assert!(err.to_string().contains("layers/top"), "{err}");
    assert!(
        mounts_under(&store).is_empty(),
        "{:?}",
        mounts_under(&store)
    );
    driver.remove("f").unwrap();
    assert!(!store.join("f").exists());
}

/// A crash between attaching the idmapped helpers and detaching them leaves mounts under
/// `<id>/lower/`: the next mount clears them, and so does `repair` for a container the
/// manager no longer knows.
#[test]
fn crash_leftover_helpers_are_cleared() {
    let t = TestDir::new("idmap-crash");
    let lower = layers(&t, &t.path);
    let store = t.join("store");
    let driver = StorageDriver::open(&store, Some(QuotaBackend::None)).unwrap();
    let leftover = |id: &str| {
        let slot = store.join(id).join("lower/0");
        std::fs::create_dir_all(&slot).unwrap();
        run(
            "mount",
            &[
                "--bind",
                t.join("layers").to_str().unwrap(),
                slot.to_str().unwrap(),
            ],
        );
        assert!(!mounts_under(&store.join(id).join("lower")).is_empty());
    };
    driver
        .create_shifted("c", &lower, None, Some(SHIFT))
        .unwrap();
    leftover("c");
    let merged = driver.mount("c").unwrap();
    assert_eq!(owner(&merged.join("etc/passwd")), (SHIFT.uid, SHIFT.gid));
    assert_eq!(mounts_under(&store), vec![merged.clone()]);
    driver.unmount("c").unwrap();
    leftover("c");
    assert_eq!(driver.repair(&[]).unwrap(), vec!["c".to_string()]);
    assert!(mounts_under(&store).is_empty());
    assert!(!store.join("c").exists());
}
