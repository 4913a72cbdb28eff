//! Hostile images: every case is refused with a clear error and leaves nothing stored.

mod common;

use std::path::Path;

use berth_image::{Error, Store, UnpackOptions};
use common::*;

fn find_name(root: &Path, name: &str) -> bool {
    let Ok(rd) = std::fs::read_dir(root) else {
        return false;
    };
    rd.flatten().any(|e| {
        e.file_name() == name
            || (e.file_type().is_ok_and(|t| t.is_dir()) && find_name(&e.path(), name))
    })
}

/// Loads a one-layer image made of `layer` and returns the error, checking that the store
/// holds nothing afterwards and that `marker` was written nowhere under the test dir.
fn refused(tmp: &TempDir, store: &Store, layer: Layer, marker: &str) -> Error {
    let err = load(store, &image(&[&layer]), Some("evil:1")).expect_err("hostile layer accepted");
    assert_eq!(
        contents(store),
        Vec::<String>::new(),
        "store not empty after {err}"
    );
    assert!(store.list().unwrap().is_empty());
    assert!(store.resolve("evil:1").is_err());
    assert!(!find_name(tmp.path(), marker), "{marker} written somewhere");
    err
}

#[test]
fn dotdot_entry_is_refused() {
    let (tmp, store) = store();
    let err = refused(
        &tmp,
        &store,
        Layer::new().file("a/../../pwned-dotdot", b"x"),
        "pwned-dotdot",
    );
    assert!(
        matches!(&err, Error::EntryPath { entry, .. } if entry.contains("pwned-dotdot")),
        "{err}"
    );
    assert!(err.to_string().contains("'..'"), "{err}");
}

#[test]
fn absolute_entry_is_refused() {
    let (tmp, store) = store();
    let target = tmp.path().join("pwned-abs");
    let err = refused(
        &tmp,
        &store,
        Layer::new().file(target.to_str().unwrap(), b"x"),
        "pwned-abs",
    );
    assert!(
        matches!(
            err,
            Error::EntryPath {
                reason: "absolute path",
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn symlink_climbing_out_is_refused() {
    let (tmp, store) = store();
    let err = refused(
        &tmp,
        &store,
        Layer::new().dir("a/").symlink("a/up", "../../etc"),
        "up",
    );
    assert!(
        matches!(&err, Error::EntryEscapes { kind: "symlink", target, .. } if target == "../../etc"),
        "{err}"
    );
}

#[test]
fn write_through_absolute_symlink_is_refused() {
    let (tmp, store) = store();
    let outside = tmp.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    let layer = Layer::new()
        .symlink("l", outside.to_str().unwrap())
        .file("l/pwned-through", b"x");
    let err = refused(&tmp, &store, layer, "pwned-through");
    assert!(
        matches!(&err, Error::ThroughLink { entry, .. } if entry == "l/pwned-through"),
        "{err}"
    );
}

#[test]
fn write_through_relative_symlink_chain_is_refused() {
    let (tmp, store) = store();
    let layer = Layer::new()
        .dir("d/")
        .symlink("s1", "d")
        .symlink("d/s2", "../s1")
        .file("d/s2/pwned-chain", b"x");
    let err = refused(&tmp, &store, layer, "pwned-chain");
    assert!(matches!(err, Error::ThroughLink { .. }), "{err}");
}

#[test]
fn hard_links_outside_are_refused() {
    for (target, want_escape) in [
        ("../../../etc/passwd", true),
        ("/etc/passwd", true),
        ("s/passwd", false),
    ] {
        let (tmp, store) = store();
        let layer = Layer::new()
            .symlink("s", "/etc")
            .hardlink("h-pwned", target);
        let err = refused(&tmp, &store, layer, "h-pwned");
        if want_escape {
            assert!(
                matches!(
                    err,
                    Error::EntryEscapes {
                        kind: "hard link",
                        ..
                    }
                ),
                "{target}: {err}"
            );
        } else {
            assert!(matches!(err, Error::ThroughLink { .. }), "{target}: {err}");
        }
    }
}

#[test]
fn hard_link_to_missing_target_is_refused() {
    let (tmp, store) = store();
    let err = refused(&tmp, &store, Layer::new().hardlink("h", "nope"), "h");
    assert!(
        matches!(
            err,
            Error::EntryIo {
                step: "find hard link target",
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn device_nodes_are_refused() {
    let (tmp, store) = store();
    let err = refused(
        &tmp,
        &store,
        Layer::new().dir("dev/").chardev("dev/kmem-pwned"),
        "kmem-pwned",
    );
    assert!(
        matches!(&err, Error::DeviceNode { entry } if entry == "dev/kmem-pwned"),
        "{err}"
    );
}

fn limited(tmp: &TempDir, max_bytes: u64, max_entries: u64) -> Store {
    Store::open(&tmp.path().join("image"))
        .unwrap()
        .with_unpack_options(UnpackOptions {
            max_bytes,
            max_entries,
            keep_setid: false,
        })
}

#[test]
fn tar_bomb_size_is_capped() {
    let tmp = TempDir::new("bomb-size");
    let store = limited(&tmp, 64 * 1024, 1000);
    // 1 MiB of zeros gzips to ~1 KiB.
    let layer = Layer::new()
        .file("ok", b"small")
        .file("bomb", &vec![0u8; 1 << 20]);
    let err = refused(&tmp, &store, layer, "bomb");
    assert!(
        matches!(&err, Error::TooLarge { limit: 65536, entry } if entry == "bomb"),
        "{err}"
    );
}

#[test]
fn tar_bomb_entry_count_is_capped() {
    let tmp = TempDir::new("bomb-count");
    let store = limited(&tmp, 1 << 30, 50);
    let mut layer = Layer::new();
    for i in 0..100 {
        layer = layer.file(&format!("f{i}"), b"");
    }
    let err = refused(&tmp, &store, layer, "f99");
    assert!(matches!(err, Error::TooManyEntries { limit: 50 }), "{err}");
}

#[test]
fn blob_digest_mismatch_is_refused() {
    let (_tmp, store) = store();
    let layer = Layer::new().file("a", b"a");
    let img = image(&[&layer]);
    let dir = TempDir::new("bad-blob");
    write_layout(dir.path(), &[(&img, Some("evil:1"))]);
    let blob = &img.layers[0].0;
    let path = dir.path().join("blobs/sha256").join(&sha(blob)[7..]);
    let mut tampered = gzip(&Layer::new().file("a", b"B").tar());
    tampered.resize(blob.len(), 0);
    std::fs::write(&path, &tampered).unwrap();
    let err = store.load(dir.path()).expect_err("tampered blob accepted");
    assert!(
        matches!(&err, Error::DigestMismatch { expected, .. } if *expected == sha(blob)),
        "{err}"
    );
    assert_eq!(contents(&store), Vec::<String>::new());
}

#[test]
fn diff_id_mismatch_is_refused() {
    let (_tmp, store) = store();
    let real = Layer::new().file("a", b"a");
    let claimed = Layer::new().file("a", b"b");
    let img = image_with(&[(gzip(&real.tar()), claimed.tar())], "amd64", &["sh"]);
    let err = load(&store, &img, Some("evil:1")).expect_err("wrong diff-id accepted");
    assert!(
        matches!(&err, Error::DiffIdMismatch { expected, actual, .. } if *expected == sha(&claimed.tar()) && *actual == sha(&real.tar())),
        "{err}"
    );
    assert_eq!(contents(&store), Vec::<String>::new());
}

#[test]
fn malformed_or_redirected_whiteouts_are_refused() {
    let (tmp, store) = store();
    let err = refused(&tmp, &store, Layer::new().file(".wh...", b""), "..");
    assert!(
        matches!(
            err,
            Error::EntryPath {
                reason: "malformed whiteout name",
                ..
            }
        ),
        "{err}"
    );

    let outside = tmp.path().join("victim-dir");
    std::fs::create_dir(&outside).unwrap();
    std::fs::write(outside.join("victim"), b"keep").unwrap();
    let layer = Layer::new()
        .symlink("l", outside.to_str().unwrap())
        .file("l/.wh.victim", b"")
        .file("l/.wh..wh..opq", b"");
    let err =
        load(&store, &image(&[&layer]), Some("evil:1")).expect_err("whiteout through symlink");
    assert!(matches!(err, Error::ThroughLink { .. }), "{err}");
    assert_eq!(std::fs::read(outside.join("victim")).unwrap(), b"keep");
    assert_eq!(contents(&store), Vec::<String>::new());
}

#[test]
fn path_like_digests_are_refused() {
    let (_tmp, store) = store();
    let dir = TempDir::new("evil-index");
    std::fs::create_dir_all(dir.path().join("blobs/sha256")).unwrap();
    let evil = "sha256:../../../../../../etc/passwd";
    let index = serde_json::json!({"schemaVersion": 2, "manifests": [
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": evil, "size": 10}
    ]});
    std::fs::write(dir.path().join("index.json"), index.to_string()).unwrap();
    let err = store.load(dir.path()).expect_err("path-like digest used");
    // oci-spec already refuses it while parsing; our Digest type would too.
    assert!(
        matches!(&err, Error::ParseJson { .. } | Error::InvalidDigest(_)),
        "{err}"
    );
    assert!(err.to_string().contains("etc/passwd"), "{err}");
    assert!(matches!(
        berth_image::Digest::parse(evil),
        Err(Error::InvalidDigest(_))
    ));
    assert_eq!(contents(&store), Vec::<String>::new());
}

#[test]
fn inconsistent_manifests_are_refused() {
    let (_tmp, store) = store();
    let l = Layer::new().file("a", b"a");
    // Config lists two diff-ids, manifest one layer.
    let mut img = image(&[&l]);
    let mut config: serde_json::Value = serde_json::from_slice(&img.config).unwrap();
    config["rootfs"]["diff_ids"] = serde_json::json!([sha(&l.tar()), sha(&l.tar())]);
    img.config = config.to_string().into_bytes();
    let mut m: serde_json::Value = serde_json::from_slice(&img.manifest).unwrap();
    m["config"]["digest"] = sha(&img.config).into();
    m["config"]["size"] = img.config.len().into();
    img.manifest = m.to_string().into_bytes();
    let err = load(&store, &img, Some("evil:1")).expect_err("layer count mismatch accepted");
    assert!(
        matches!(
            err,
            Error::LayerCountMismatch {
                manifest: 1,
                config: 2,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(contents(&store), Vec::<String>::new());

    // A layer type we cannot unpack (encrypted).
    let mut img = image(&[&l]);
    let m = String::from_utf8(img.manifest.clone())
        .unwrap()
        .replace("tar+gzip", "tar+gzip+encrypted");
    img.manifest = m.into_bytes();
    let err = load(&store, &img, None).expect_err("encrypted layer accepted");
    assert!(matches!(err, Error::UnsupportedMediaType { .. }), "{err}");
    assert_eq!(contents(&store), Vec::<String>::new());
}

#[test]
fn oversized_config_is_refused() {
    let (_tmp, store) = store();
    let l = Layer::new().file("a", b"a");
    let mut img = image(&[&l]);
    let mut config: serde_json::Value = serde_json::from_slice(&img.config).unwrap();
    config["config"]["Labels"] = serde_json::json!({"pad": "x".repeat(9 << 20)});
    img.config = config.to_string().into_bytes();
    let mut m: serde_json::Value = serde_json::from_slice(&img.manifest).unwrap();
    m["config"]["digest"] = sha(&img.config).into();
    m["config"]["size"] = img.config.len().into();
    img.manifest = m.to_string().into_bytes();
    let err = load(&store, &img, Some("evil:1")).expect_err("9 MiB config accepted");
    assert!(
        matches!(err, Error::JsonTooLarge { limit, .. } if limit == 8 << 20),
        "{err}"
    );
    assert_eq!(contents(&store), Vec::<String>::new());
}
