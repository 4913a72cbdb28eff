//! Overlay root file systems against the real kernel: the host tree as lower, shared image
//! layers, whiteouts and opaque directories. Run as root.

mod common;

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use berth_storage::{Lower, QuotaBackend, StorageDriver};
use common::*;

fn host_tree_case(backend: QuotaBackend, quota: Option<u64>) {
    let t = TestDir::new("hosttree");
    let store = t.join("store");
    create_file(&t.join("secret-dir/key"), "secret");
    create_file(&t.join("secret-file"), "secret");
    create_file(&t.join("public"), "public");
    let mut driver = StorageDriver::open(&store, Some(backend)).unwrap();
    driver
        .set_host_masks(&[
            t.join("secret-dir"),
            t.join("secret-file"),
            t.join("absent"),
        ])
        .unwrap();
    driver.create("h", &Lower::HostTree, quota).unwrap();
    let merged = driver.mount("h").unwrap();

    // The host's files are there, read through the lower layer.
    let host_os = std::fs::read("/etc/os-release").unwrap();
    assert_eq!(
        std::fs::read(merged.join("etc/os-release")).unwrap(),
        host_os
    );
    // A write lands in the container only.
    let name = format!("berth-test-hosttree-{}", std::process::id());
    std::fs::write(merged.join("etc").join(&name), b"inside").unwrap();
    std::fs::write(merged.join("etc/os-release"), b"changed inside").unwrap();
    assert_eq!(
        std::fs::read(merged.join("etc").join(&name)).unwrap(),
        b"inside"
    );
    assert!(!Path::new("/etc").join(&name).exists());
    assert_eq!(std::fs::read("/etc/os-release").unwrap(), host_os);
    // Mounts on the host's / (here /proc) are not part of the lower: empty directories.
    assert!(merged.join("proc").is_dir());
    assert!(!merged.join("proc/self").exists());
    // The store itself is masked: other containers' images and uppers are invisible.
    let inside = merged.join(store.strip_prefix("/").unwrap());
    assert!(inside.is_dir(), "{}", inside.display());
    assert_eq!(std::fs::read_dir(&inside).unwrap().count(), 0);
    // Paths the manager asked to hide: a directory is empty, a file absent.
    let inside_t = merged.join(t.path.strip_prefix("/").unwrap());
    assert!(inside_t.join("secret-dir").is_dir());
    assert!(!inside_t.join("secret-dir/key").exists());
    assert!(std::fs::symlink_metadata(inside_t.join("secret-file")).is_err());
    assert_eq!(std::fs::read(inside_t.join("public")).unwrap(), b"public");
    // Deleting and recreating a masked directory does not uncover it.
    std::fs::remove_dir(inside_t.join("secret-dir")).unwrap();
    std::fs::create_dir(inside_t.join("secret-dir")).unwrap();
    assert!(!inside_t.join("secret-dir/key").exists());
    assert!(t.join("secret-dir/key").exists());
    // The rest of the test directory is visible (only the store is masked), and the
    // directories leading to the mask keep the host's mode (/tmp stays 1777).
    assert!(merged.join(t.path.strip_prefix("/").unwrap()).is_dir());
    let tmp = std::env::temp_dir();
    assert_eq!(
        std::fs::metadata(merged.join(tmp.strip_prefix("/").unwrap()))
            .unwrap()
            .mode(),
        std::fs::metadata(&tmp).unwrap().mode()
    );

    driver.remove("h").unwrap();
    assert!(mounts_under(&store).is_empty());
    assert!(!Path::new("/etc").join(&name).exists());
}

#[test]
fn host_tree_on_loop_image() {
    host_tree_case(QuotaBackend::LoopImage, Some(32 * MIB));
}

#[test]
fn host_tree_on_plain_directories() {
    // Upper on the same file system as the lower `/`: the kernel accepts it.
    host_tree_case(QuotaBackend::None, None);
}

/// Two layers: `bottom` has files, `top` deletes one (whiteout: a 0/0 character device)
/// and replaces a directory (opaque: trusted.overlay.opaque=y).
fn make_layers(t: &TestDir) -> (std::path::PathBuf, std::path::PathBuf) {
    let bottom = t.join("layers/bottom");
    let top = t.join("layers/top");
    create_file(&bottom.join("shared.txt"), "from the image\n");
    create_file(&bottom.join("gone.txt"), "deleted by the top layer\n");
    create_file(&bottom.join("opq/old.txt"), "hidden by the opaque dir\n");
    create_file(&bottom.join("keep/a.txt"), "merged dir\n");
    create_file(&top.join("opq/new.txt"), "replaces the dir\n");
    create_file(&top.join("keep/b.txt"), "merged dir\n");
    rustix::fs::mknodat(
        rustix::fs::CWD,
        top.join("gone.txt"),
        rustix::fs::FileType::CharacterDevice,
        rustix::fs::Mode::empty(),
        rustix::fs::makedev(0, 0),
    )
    .unwrap();
    rustix::fs::setxattr(
        top.join("opq"),
        "trusted.overlay.opaque",
        b"y",
        rustix::fs::XattrFlags::empty(),
    )
    .unwrap();
    (top, bottom)
}

#[test]
fn layers_are_shared_and_writes_are_private() {
    let t = TestDir::new("layers");
    let (top, bottom) = make_layers(&t);
    let driver = StorageDriver::open(&t.join("store"), Some(QuotaBackend::LoopImage)).unwrap();
    let lower = Lower::Layers(vec![top.clone(), bottom.clone()]);
    driver.create("a", &lower, Some(32 * MIB)).unwrap();
    driver.create("b", &lower, None).unwrap();
    let ma = driver.mount("a").unwrap();
    let mb = driver.mount("b").unwrap();

    // An unmodified file is the lower file itself: overlay reports the lower inode number
    // (xino/index off here), for both containers, and the content comes from one page cache.
    let lower_ino = std::fs::metadata(bottom.join("shared.txt")).unwrap().ino();
    for m in [&ma, &mb] {
        let meta = std::fs::metadata(m.join("shared.txt")).unwrap();
        assert_eq!(meta.ino(), lower_ino, "{}", m.display());
    }

    // Writes are private to each container and never reach the layer.
    std::fs::write(ma.join("only-a.txt"), b"a").unwrap();
    std::fs::write(ma.join("shared.txt"), b"changed by a\n").unwrap();
    assert!(!mb.join("only-a.txt").exists());
    assert_eq!(
        std::fs::read_to_string(mb.join("shared.txt")).unwrap(),
        "from the image\n"
    );
    assert_eq!(
        std::fs::read_to_string(bottom.join("shared.txt")).unwrap(),
        "from the image\n"
    );
    // The copy lives in a's upper (overlay keeps reporting the origin's st_ino).
    assert!(driver.get("a").unwrap().upper.join("shared.txt").exists());

    // Whiteout and opaque directory of the top layer.
    for m in [&ma, &mb] {
        assert!(!m.join("gone.txt").exists());
        assert!(!m.join("opq/old.txt").exists());
        assert!(m.join("opq/new.txt").exists());
        assert!(m.join("keep/a.txt").exists() && m.join("keep/b.txt").exists());
    }
    // Deleting a lower file in a container makes a whiteout in its upper only.
    std::fs::remove_file(mb.join("keep/a.txt")).unwrap();
    assert!(!mb.join("keep/a.txt").exists());
    assert!(ma.join("keep/a.txt").exists());
    assert!(bottom.join("keep/a.txt").exists());

    driver.remove("a").unwrap();
    driver.remove("b").unwrap();
    assert!(bottom.join("shared.txt").exists() && top.join("opq/new.txt").exists());
}

#[test]
fn many_layers_beyond_one_option_page() {
    // 128 layers with long paths: far more than the 4 KiB a single mount(2) option string
    // may hold; each layer goes to the kernel on its own (`lowerdir+`).
    let t = TestDir::new("manylayers");
    let layers: Vec<_> = (0..128)
        .map(|i| {
            let dir = t.join(&format!("layers/{}-{i:03}", "l".repeat(40)));
            create_file(&dir.join(format!("file-{i:03}")), &i.to_string());
            create_file(&dir.join("top"), &i.to_string());
            dir
        })
        .collect();
    let total: usize = layers.iter().map(|l| l.as_os_str().len() + 1).sum();
    assert!(total > 4096, "{total}");
    let driver = StorageDriver::open(&t.join("store"), Some(QuotaBackend::None)).unwrap();
    driver.create("m", &Lower::Layers(layers), None).unwrap();
    let merged = driver.mount("m").unwrap();
    for i in [0, 64, 127] {
        assert!(merged.join(format!("file-{i:03}")).exists());
    }
    // The first layer is the top one.
    assert_eq!(std::fs::read_to_string(merged.join("top")).unwrap(), "0");
    driver.remove("m").unwrap();
}
