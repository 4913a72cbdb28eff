//! docker-archive and OCI layout load/save round trips, legacy docker archives, import.

mod common;

use std::io::Read;
use std::path::Path;

use berth_image::{ArchiveFormat, Error, Store};
use common::*;
use serde_json::Value;

fn two_images(store: &Store) -> (berth_image::ImageId, berth_image::ImageId) {
    let base = Layer::new().dir("etc/").file("etc/hostname", b"berth");
    let a = image(&[&base, &Layer::new().file("a", b"A")]);
    let b = image_with(&[(zstd(&base.tar()), base.tar())], "amd64", &["echo", "b"]);
    (
        load(store, &a, Some("example.org/team/a:1")).unwrap(),
        load(store, &b, Some("b")).unwrap(),
    )
}

/// The members of a tar file as (name -> bytes).
fn members(path: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    let mut ar = tar::Archive::new(std::fs::File::open(path).unwrap());
    let mut out = std::collections::BTreeMap::new();
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        let name = e.path().unwrap().to_string_lossy().into_owned();
        let mut data = Vec::new();
        e.read_to_end(&mut data).unwrap();
        out.insert(name, data);
    }
    out
}

fn round_trip(format: ArchiveFormat) {
    let (tmp, src) = store();
    let (a, b) = two_images(&src);
    let out = tmp.path().join("images.tar");
    src.save(&["example.org/team/a:1", b.as_str()], &out, format)
        .unwrap();
    let m = members(&out);
    assert!(m.contains_key("oci-layout"));
    let index: Value = serde_json::from_slice(&m["index.json"]).unwrap();
    let names: Vec<_> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            d["annotations"]["io.containerd.image.name"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(
        names,
        ["example.org/team/a:1", "docker.io/library/b:latest"]
    );
    if format == ArchiveFormat::Docker {
        let dm: Value = serde_json::from_slice(&m["manifest.json"]).unwrap();
        assert_eq!(dm[0]["RepoTags"][0], "example.org/team/a:1");
        assert_eq!(dm[1]["RepoTags"][0], "b:latest");
        assert_eq!(dm[0]["Config"], format!("blobs/sha256/{}", a.hex()));
        assert_eq!(dm[0]["Layers"].as_array().unwrap().len(), 2);
    } else {
        assert!(!m.contains_key("manifest.json"));
    }

    let dst_dir = TempDir::new("dst");
    let dst = Store::open(&dst_dir.path().join("image")).unwrap();
    let ids = dst.load(&out).unwrap();
    assert_eq!(
        ids,
        vec![a.clone(), b.clone()],
        "image ids (config digests) survive"
    );
    assert_eq!(dst.resolve("example.org/team/a:1").unwrap(), a);
    assert_eq!(dst.resolve("b").unwrap(), b);
    let da = dst.layer_dirs(&a).unwrap();
    assert_eq!(std::fs::read(da[0].join("a")).unwrap(), b"A");
    assert_eq!(std::fs::read(da[1].join("etc/hostname")).unwrap(), b"berth");
    // The base layer is shared by both images in the destination too.
    assert_eq!(dst.layer_dirs(&b).unwrap()[0], da[1]);
    let details = dst.inspect("b").unwrap();
    let cfg = details.config.config().as_ref().unwrap();
    assert_eq!(cfg.cmd().as_ref().unwrap(), &["echo", "b"]);
    assert_eq!(
        details.summary.repo_tags,
        vec!["docker.io/library/b:latest".to_owned()]
    );
    if format == ArchiveFormat::Oci {
        assert_eq!(
            details.manifest_digest,
            src.inspect("b").unwrap().manifest_digest
        );
    }
}

#[test]
fn docker_archive_round_trip() {
    round_trip(ArchiveFormat::Docker);
}

#[test]
fn oci_archive_round_trip() {
    round_trip(ArchiveFormat::Oci);
}

/// Writes a tar file of (name, bytes) members.
fn write_tar(path: &Path, files: &[(&str, &[u8])]) {
    let mut b = tar::Builder::new(std::fs::File::create(path).unwrap());
    for (name, data) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, name, *data).unwrap();
    }
    b.finish().unwrap();
}

#[test]
fn legacy_docker_save_archive_loads() {
    // docker < 25: <id>/layer.tar uncompressed, <config-hex>.json, manifest.json.
    let tmp = TempDir::new("legacy");
    let (_d, store) = store();
    let l1 = Layer::new().dir("bin/").file("bin/tool", b"#!/bin/sh\n");
    let l2 = Layer::new().file("bin/.wh.tool", b"").file("etc", b"e");
    let img = image_with(
        &[(l1.tar(), l1.tar()), (l2.tar(), l2.tar())],
        "amd64",
        &["sh"],
    );
    let cfg_name = format!("{}.json", &img.config_digest()[7..]);
    let manifest = serde_json::json!([{
        "Config": cfg_name, "RepoTags": ["legacy:2"],
        "Layers": ["aaa/layer.tar", "bbb/layer.tar"],
    }])
    .to_string();
    let path = tmp.path().join("legacy.tar");
    write_tar(
        &path,
        &[
            ("aaa/layer.tar", &l1.tar()),
            ("bbb/layer.tar", &l2.tar()),
            (&cfg_name, &img.config),
            ("manifest.json", manifest.as_bytes()),
            ("repositories", b"{}"),
        ],
    );
    let ids = store.load(&path).unwrap();
    assert_eq!(ids, vec![img.id()]);
    assert_eq!(store.resolve("legacy:2").unwrap(), img.id());
    let dirs = store.layer_dirs(&img.id()).unwrap();
    assert_eq!(
        std::fs::read(dirs[1].join("bin/tool")).unwrap(),
        b"#!/bin/sh\n"
    );
    use std::os::unix::fs::FileTypeExt;
    assert!(std::fs::symlink_metadata(dirs[0].join("bin/tool"))
        .unwrap()
        .file_type()
        .is_char_device());
}

#[test]
fn archive_member_symlink_to_host_file_is_refused() {
    // A hostile archive names a "layer" that is a symlink to a host file.
    let tmp = TempDir::new("evil-archive");
    let (_d, store) = store();
    let secret = tmp.path().join("host-secret");
    std::fs::write(&secret, b"secret").unwrap();
    let l = Layer::new().file("x", b"x");
    let img = image_with(&[(l.tar(), l.tar())], "amd64", &["sh"]);
    let manifest = serde_json::json!([{
        "Config": "config.json", "RepoTags": ["evil:1"], "Layers": ["layer.tar"],
    }])
    .to_string();
    let archive = Layer::new()
        .file("config.json", &img.config)
        .symlink("layer.tar", secret.to_str().unwrap())
        .file("manifest.json", manifest.as_bytes());
    let path = tmp.path().join("evil.tar");
    std::fs::write(&path, archive.tar()).unwrap();
    let err = store.load(&path).expect_err("symlinked member followed");
    assert!(
        matches!(&err, Error::EntryIo { entry, .. } if entry == "layer.tar"),
        "{err}"
    );
    assert_eq!(contents(&store), Vec::<String>::new());

    let manifest = serde_json::json!([{
        "Config": "config.json", "RepoTags": ["evil:1"], "Layers": ["../../host-secret"],
    }])
    .to_string();
    let dir = TempDir::new("evil-layout");
    std::fs::write(dir.path().join("config.json"), &img.config).unwrap();
    std::fs::write(dir.path().join("manifest.json"), manifest).unwrap();
    let err = store.load(dir.path()).expect_err("'..' member followed");
    assert!(matches!(err, Error::EntryPath { .. }), "{err}");
    assert_eq!(contents(&store), Vec::<String>::new());
}

#[test]
fn import_rootfs_tarballs() {
    let tmp = TempDir::new("import");
    let (_d, store) = store();
    let rootfs = Layer::new()
        .dir("bin/")
        .file_mode("bin/sh", 0o755, b"sh")
        .symlink("sbin", "bin");
    for (name, bytes) in [
        ("plain.tar", rootfs.tar()),
        ("rootfs.tar.gz", gzip(&rootfs.tar())),
        ("rootfs.tar.zst", zstd(&rootfs.tar())),
    ] {
        let path = tmp.path().join(name);
        std::fs::write(&path, &bytes).unwrap();
        let reference = format!("imported/{}:v1", name.replace('.', "-"));
        let id = store.import(&path, Some(&reference)).unwrap();
        assert_eq!(store.resolve(&reference).unwrap(), id);
        let dirs = store.layer_dirs(&id).unwrap();
        assert_eq!(dirs.len(), 1);
        assert_eq!(std::fs::read(dirs[0].join("bin/sh")).unwrap(), b"sh");
        let d = store.inspect(&reference).unwrap();
        assert_eq!(d.layers.len(), 1);
        assert_eq!(d.layers[0].diff_id.as_str(), sha(&rootfs.tar()));
        assert_eq!(d.config.architecture().to_string(), "amd64");
    }
    // Same content, one unpacked directory.
    assert_eq!(
        std::fs::read_dir(store.root().join("layers"))
            .unwrap()
            .count(),
        1
    );
    let none = store.import(&tmp.path().join("plain.tar"), None).unwrap();
    assert!(store.list().unwrap().iter().any(|s| s.id == none));
}

#[test]
fn oci_layout_with_nested_multi_arch_index_loads_host_platform() {
    let (_d, store) = store();
    let amd = Layer::new().file("arch", b"amd64");
    let arm = Layer::new().file("arch", b"arm64");
    let amd_img = image_with(&[(gzip(&amd.tar()), amd.tar())], "amd64", &["sh"]);
    let arm_img = image_with(&[(gzip(&arm.tar()), arm.tar())], "arm64", &["sh"]);
    let dir = TempDir::new("nested");
    write_layout(dir.path(), &[(&arm_img, None), (&amd_img, None)]);
    let nested = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": arm_img.manifest_digest(),
             "size": arm_img.manifest.len(), "platform": {"architecture": "arm64", "os": "linux"}},
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": amd_img.manifest_digest(),
             "size": amd_img.manifest.len(), "platform": {"architecture": "amd64", "os": "linux"}},
        ],
    })
    .to_string();
    std::fs::write(
        dir.path()
            .join("blobs/sha256")
            .join(&sha(nested.as_bytes())[7..]),
        &nested,
    )
    .unwrap();
    let index = serde_json::json!({"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "digest": sha(nested.as_bytes()), "size": nested.len(),
        "annotations": {"io.containerd.image.name": "example.org/multi:1",
                        "org.opencontainers.image.ref.name": "1"},
    }]});
    std::fs::write(dir.path().join("index.json"), index.to_string()).unwrap();
    let ids = store.load(dir.path()).unwrap();
    assert_eq!(ids, vec![amd_img.id()]);
    assert_eq!(store.resolve("example.org/multi:1").unwrap(), amd_img.id());
    let d = store.inspect("example.org/multi:1").unwrap();
    assert_eq!(d.index_digest.unwrap().as_str(), sha(nested.as_bytes()));
    let layer = &store.layer_dirs(&amd_img.id()).unwrap()[0];
    assert_eq!(std::fs::read(layer.join("arch")).unwrap(), b"amd64");
}
