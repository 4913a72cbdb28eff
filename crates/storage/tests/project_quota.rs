//! ProjectQuota backend against the real kernel. The store is a fresh ext4 file system
//! with the `quota,project` features on a loop-mounted image. Kernels without
//! CONFIG_QUOTA (this CI's) refuse to mount it; then the test checks that detection
//! refuses project quotas on a quota-less ext4 and falls back to loop images. Run as root.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use berth_storage::{Error, Lower, QuotaBackend, StorageDriver};
use common::*;

/// Make an ext4 image with `features` and loop-mount it at `<test dir>/mnt`
/// (`prjquota` when asked); false if the kernel refuses the mount.
fn ext4_mount(t: &TestDir, features: Option<&str>, options: &str) -> Option<PathBuf> {
    let image = t.join("ext4.img");
    std::fs::File::create(&image)
        .unwrap()
        .set_len(256 * MIB)
        .unwrap();
    let mut args = vec!["-q", "-F"];
    if let Some(f) = features {
        args.extend(["-O", f]);
    }
    args.push(image.to_str().unwrap());
    run("mkfs.ext4", &args);
    let mnt = t.join("mnt");
    std::fs::create_dir_all(&mnt).unwrap();
    let ok = Command::new("mount")
        .args([
            "-o",
            options,
            image.to_str().unwrap(),
            mnt.to_str().unwrap(),
        ])
        .status()
        .unwrap()
        .success();
    ok.then_some(mnt)
}

fn layer(t: &TestDir) -> Lower {
    let dir = t.join("layer");
    create_file(&dir.join("etc/hostname"), "layer\n");
    Lower::Layers(vec![dir])
}

#[test]
fn project_quota_enforced_or_refused_by_detection() {
    let t = TestDir::new("prjquota");
    match ext4_mount(&t, Some("quota,project"), "loop,prjquota") {
        Some(mnt) => project_quota_enforced(&t, &mnt),
        None => {
            // No quota support in this kernel: an ext4 store without it must not claim
            // project quotas.
            let mnt = ext4_mount(&t, None, "loop").unwrap();
            let store = mnt.join("store");
            assert!(matches!(
                StorageDriver::open(&store, Some(QuotaBackend::ProjectQuota)),
                Err(Error::BackendUnavailable { .. })
            ));
            let driver = StorageDriver::open(&store, None).unwrap();
            assert_eq!(driver.backend(), QuotaBackend::LoopImage);
        }
    }
}

fn project_quota_enforced(t: &TestDir, mnt: &Path) {
    let store = mnt.join("store");
    let driver = StorageDriver::open(&store, None).unwrap();
    assert_eq!(driver.backend(), QuotaBackend::ProjectQuota);
    driver.create("p", &layer(t), Some(32 * MIB)).unwrap();
    driver.create("n", &layer(t), Some(32 * MIB)).unwrap();
    let mp = driver.mount("p").unwrap();
    let mn = driver.mount("n").unwrap();
    let err = write_file(&mp.join("big"), 64 * MIB).unwrap_err();
    assert!(is_full(&err), "{err}");
    write_file(&mn.join("ten"), 10 * MIB).unwrap();
    std::fs::remove_file(mp.join("big")).unwrap();
    write_file(&mp.join("some"), 20 * MIB).unwrap();
    assert!(matches!(
        driver.resize("p", 8 * MIB),
        Err(Error::ShrinkBelowUsage { .. })
    ));
    driver.resize("p", 128 * MIB).unwrap();
    write_file(&mp.join("big"), 64 * MIB).unwrap();
    let usage = driver.usage("p").unwrap();
    assert_eq!(usage.quota, Some(128 * MIB));
    assert!(usage.used >= 84 * MIB, "{}", usage.used);
    driver.remove("p").unwrap();
    driver.remove("n").unwrap();
    assert!(mounts_under(&store).is_empty());
}
