//! Layer unpacking against the real kernel: whiteouts, opaque dirs, overlay view, sharing,
//! compression, metadata.

mod common;

use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

/// An overlay mount of only lower dirs, unmounted on drop.
struct Overlay(PathBuf);

impl Overlay {
    fn mount(lower: &[PathBuf], at: &Path) -> Overlay {
        std::fs::create_dir_all(at).unwrap();
        let lowerdir = lower
            .iter()
            .map(|p| p.to_str().unwrap())
            .collect::<Vec<_>>()
            .join(":");
        let st = Command::new("mount")
            .args(["-t", "overlay", "berth-test-overlay", "-o"])
            .arg(format!("lowerdir={lowerdir}"))
            .arg(at)
            .status()
            .unwrap();
        assert!(st.success(), "mount overlay");
        Overlay(at.to_owned())
    }
}

impl Drop for Overlay {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

fn xattr(path: &Path, name: &str) -> Option<Vec<u8>> {
    let mut buf = [0u8; 64];
    rustix::fs::lgetxattr(path, name, &mut buf[..])
        .ok()
        .map(|n| buf[..n].to_vec())
}

#[test]
fn whiteouts_and_opaque_dirs_become_overlay_form() {
    let (tmp, store) = store();
    let base = Layer::new()
        .dir("a/")
        .file("a/x", b"x")
        .file("a/y", b"y")
        .dir("b/")
        .file("b/z", b"z")
        .file("f", b"f");
    let top = Layer::new()
        .dir("a/")
        .file("a/.wh.x", b"")
        .dir("b/")
        .file("b/.wh..wh..opq", b"")
        .file("b/new", b"new")
        .file(".wh.f", b"");
    let img = image(&[&base, &top]);
    let id = load(&store, &img, Some("wh:1")).unwrap();
    let dirs = store.layer_dirs(&id).unwrap();
    assert_eq!(dirs.len(), 2);
    let (t, b) = (&dirs[0], &dirs[1]);
    assert!(b.join("a/x").is_file(), "bottom layer is listed last");

    for w in ["a/x", "f"] {
        let m = std::fs::symlink_metadata(t.join(w)).unwrap();
        assert!(m.file_type().is_char_device(), "{w} is a whiteout device");
        assert_eq!(m.rdev(), 0);
    }
    assert!(!t.join("a/.wh.x").exists());
    assert!(!t.join("b/.wh..wh..opq").exists());
    assert_eq!(
        xattr(&t.join("b"), "trusted.overlay.opaque").as_deref(),
        Some(&b"y"[..])
    );

    // The stack of lower dirs shows what the image means.
    let mnt = Overlay::mount(&dirs, &tmp.path().join("mnt"));
    let m = &mnt.0;
    assert!(!m.join("a/x").exists());
    assert_eq!(std::fs::read(m.join("a/y")).unwrap(), b"y");
    assert!(!m.join("b/z").exists(), "opaque dir hides lower content");
    assert_eq!(std::fs::read(m.join("b/new")).unwrap(), b"new");
    assert!(!m.join("f").exists());
}

#[test]
fn shared_base_layer_is_unpacked_once() {
    let (_tmp, store) = store();
    let base = Layer::new().dir("etc/").file("etc/os-release", b"berth");
    let one = image(&[&base, &Layer::new().file("one", b"1")]);
    let two = image(&[&base, &Layer::new().file("two", b"2")]);
    let a = load(&store, &one, Some("one")).unwrap();
    let b = load(&store, &two, Some("two")).unwrap();
    assert_ne!(a, b);
    let da = store.layer_dirs(&a).unwrap();
    let db = store.layer_dirs(&b).unwrap();
    assert_eq!(da[1], db[1]);
    let ia = std::fs::metadata(da[1].join("etc/os-release"))
        .unwrap()
        .ino();
    let ib = std::fs::metadata(db[1].join("etc/os-release"))
        .unwrap()
        .ino();
    assert_eq!(ia, ib, "same inode: one directory on disk");
    let layers = std::fs::read_dir(store.root().join("layers"))
        .unwrap()
        .count();
    assert_eq!(layers, 3);
}

#[test]
fn gzip_zstd_and_plain_layers_unpack() {
    let (_tmp, store) = store();
    let l1 = Layer::new().file("plain", b"p");
    let l2 = Layer::new().file("gz", b"g");
    let l3 = Layer::new().file("zst", b"z");
    let img = image_with(
        &[
            (l1.tar(), l1.tar()),
            (gzip(&l2.tar()), l2.tar()),
            (zstd(&l3.tar()), l3.tar()),
        ],
        "amd64",
        &["true"],
    );
    let id = load(&store, &img, None).unwrap();
    let dirs = store.layer_dirs(&id).unwrap();
    assert_eq!(std::fs::read(dirs[0].join("zst")).unwrap(), b"z");
    assert_eq!(std::fs::read(dirs[1].join("gz")).unwrap(), b"g");
    assert_eq!(std::fs::read(dirs[2].join("plain")).unwrap(), b"p");
    let d = store.inspect(id.as_str()).unwrap();
    assert!(d.layers[2].media_type.ends_with("+zstd"));
}

#[test]
fn metadata_links_and_setid_stripping() {
    let (_tmp, store) = store();
    let l = Layer::new()
        .dir("bin/")
        .file_mode("bin/su", 0o4755, b"su")
        .file_mode("bin/wall", 0o2755, b"wall")
        .hardlink("bin/su2", "bin/su")
        .symlink("bin/sh", "/bin/busybox")
        .symlink("lib", "usr/lib")
        .fifo("run.fifo")
        .file_mode("ro", 0o400, b"r");
    let id = load(&store, &image(&[&l]), None).unwrap();
    let d = &store.layer_dirs(&id).unwrap()[0];
    let su = std::fs::metadata(d.join("bin/su")).unwrap();
    assert_eq!(su.permissions().mode() & 0o7777, 0o755, "setuid stripped");
    let wall = std::fs::metadata(d.join("bin/wall")).unwrap();
    assert_eq!(wall.permissions().mode() & 0o7777, 0o755, "setgid stripped");
    assert_eq!(su.mtime(), 1_700_000_000);
    let bin = std::fs::metadata(d.join("bin")).unwrap();
    assert_eq!(
        bin.mtime(),
        1_700_000_000,
        "directory mtime survives its entries"
    );
    assert_eq!(
        std::fs::metadata(d.join("bin/su2")).unwrap().ino(),
        su.ino(),
        "hard link"
    );
    assert_eq!(
        std::fs::read_link(d.join("bin/sh")).unwrap(),
        PathBuf::from("/bin/busybox")
    );
    assert_eq!(
        std::fs::read_link(d.join("lib")).unwrap(),
        PathBuf::from("usr/lib")
    );
    assert!(std::fs::symlink_metadata(d.join("run.fifo"))
        .unwrap()
        .file_type()
        .is_fifo());
    assert_eq!(
        std::fs::metadata(d.join("ro"))
            .unwrap()
            .permissions()
            .mode()
            & 0o7777,
        0o400
    );
}

#[test]
fn setid_bits_kept_only_when_asked() {
    let dir = TempDir::new("keep-setid");
    let store = berth_image::Store::open(&dir.path().join("image"))
        .unwrap()
        .with_unpack_options(berth_image::UnpackOptions {
            keep_setid: true,
            ..Default::default()
        });
    let l = Layer::new().file_mode("su", 0o4755, b"su");
    let id = load(&store, &image(&[&l]), None).unwrap();
    let d = &store.layer_dirs(&id).unwrap()[0];
    let mode = std::fs::metadata(d.join("su"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o7777, 0o4755);
}

#[test]
fn later_entries_replace_earlier_ones() {
    let (_tmp, store) = store();
    let l = Layer::new()
        .symlink("x", "/etc")
        .dir("x/")
        .file("x/f", b"inside")
        .file("y", b"old")
        .file("y", b"new");
    let id = load(&store, &image(&[&l]), None).unwrap();
    let d = &store.layer_dirs(&id).unwrap()[0];
    assert!(std::fs::symlink_metadata(d.join("x")).unwrap().is_dir());
    assert_eq!(std::fs::read(d.join("x/f")).unwrap(), b"inside");
    assert_eq!(std::fs::read(d.join("y")).unwrap(), b"new");
}

#[test]
fn only_user_xattrs_are_applied() {
    let (_tmp, store) = store();
    let l = Layer::new().dir("d/").file_xattrs(
        "d/f",
        b"f",
        &[
            ("user.berth", b"ok"),
            ("trusted.overlay.redirect", b"/etc"),
            ("trusted.overlay.opaque", b"y"),
            ("security.capability", b"\x01\x00\x00\x02"),
        ],
    );
    let id = load(&store, &image(&[&l]), None).unwrap();
    let f = store.layer_dirs(&id).unwrap()[0].join("d/f");
    assert_eq!(xattr(&f, "user.berth").as_deref(), Some(&b"ok"[..]));
    assert_eq!(xattr(&f, "trusted.overlay.redirect"), None);
    assert_eq!(xattr(&f, "trusted.overlay.opaque"), None);
    assert_eq!(xattr(&f, "security.capability"), None);
}

#[test]
fn repeated_layers_are_listed_once_and_mount() {
    let (tmp, store) = store();
    let a = Layer::new().file("x", b"from a").file("y", b"a");
    let b = Layer::new()
        .file(".wh.x", b"")
        .file("y", b"b")
        .file("z", b"b");
    let empty = Layer::new();
    let id = load(&store, &image(&[&empty, &a, &b, &empty, &a, &empty]), None).unwrap();
    let dirs = store.layer_dirs(&id).unwrap();
    assert_eq!(dirs.len(), 3, "{dirs:?}");
    let mnt = Overlay::mount(&dirs, &tmp.path().join("mnt"));
    assert_eq!(std::fs::read(mnt.0.join("x")).unwrap(), b"from a");
    assert_eq!(std::fs::read(mnt.0.join("y")).unwrap(), b"a");
    assert_eq!(std::fs::read(mnt.0.join("z")).unwrap(), b"b");
}
