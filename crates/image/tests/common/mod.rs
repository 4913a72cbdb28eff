//! Test support: unique temp stores, in-memory layer tars, OCI layouts built on disk.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use berth_image::{Digest, ImageId, Store};
use serde_json::json;
use sha2::{Digest as _, Sha256};

static N: AtomicU32 = AtomicU32::new(0);

/// A directory `berth-test-image-<pid>-<n>-<tag>` removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let n = N.fetch_add(1, Ordering::Relaxed);
        let p =
            std::env::temp_dir().join(format!("berth-test-image-{}-{n}-{tag}", std::process::id()));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn sha(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

/// Builds a layer tar. Names are written raw into the header, so hostile names (with
/// `..`, absolute) can be produced: the tar crate's own path setters refuse them.
#[derive(Default)]
pub struct Layer {
    b: Vec<u8>,
}

impl Layer {
    pub fn new() -> Layer {
        Layer::default()
    }

    fn raw(
        mut self,
        name: &str,
        kind: tar::EntryType,
        mode: u32,
        link: &str,
        data: &[u8],
    ) -> Layer {
        let mut h = tar::Header::new_gnu();
        {
            let g = h.as_gnu_mut().unwrap();
            g.name[..name.len()].copy_from_slice(name.as_bytes());
            g.linkname[..link.len()].copy_from_slice(link.as_bytes());
        }
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(1_700_000_000);
        h.set_size(data.len() as u64);
        h.set_cksum();
        let mut b = tar::Builder::new(Vec::new());
        b.append(&h, data).unwrap();
        let mut bytes = b.into_inner().unwrap();
        bytes.truncate(bytes.len() - 1024); // drop the end-of-archive blocks
        self.b.extend_from_slice(&bytes);
        self
    }

    /// A regular file preceded by a PAX header carrying `SCHILY.xattr.<name>` records.
    pub fn file_xattrs(mut self, name: &str, data: &[u8], xattrs: &[(&str, &[u8])]) -> Layer {
        let mut b = tar::Builder::new(Vec::new());
        let keys: Vec<_> = xattrs
            .iter()
            .map(|(k, v)| (format!("SCHILY.xattr.{k}"), *v))
            .collect();
        b.append_pax_extensions(keys.iter().map(|(k, v)| (k.as_str(), *v)))
            .unwrap();
        let mut h = tar::Header::new_ustar();
        h.set_path(name).unwrap();
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        h.set_size(data.len() as u64);
        h.set_cksum();
        b.append(&h, data).unwrap();
        let mut bytes = b.into_inner().unwrap();
        bytes.truncate(bytes.len() - 1024);
        self.b.extend_from_slice(&bytes);
        self
    }

    pub fn dir(self, name: &str) -> Layer {
        self.raw(name, tar::EntryType::Directory, 0o755, "", b"")
    }
    pub fn file(self, name: &str, data: &[u8]) -> Layer {
        self.raw(name, tar::EntryType::Regular, 0o644, "", data)
    }
    pub fn file_mode(self, name: &str, mode: u32, data: &[u8]) -> Layer {
        self.raw(name, tar::EntryType::Regular, mode, "", data)
    }
    pub fn symlink(self, name: &str, target: &str) -> Layer {
        self.raw(name, tar::EntryType::Symlink, 0o777, target, b"")
    }
    pub fn hardlink(self, name: &str, target: &str) -> Layer {
        self.raw(name, tar::EntryType::Link, 0o644, target, b"")
    }
    pub fn chardev(self, name: &str) -> Layer {
        self.raw(name, tar::EntryType::Char, 0o666, "", b"")
    }
    pub fn fifo(self, name: &str) -> Layer {
        self.raw(name, tar::EntryType::Fifo, 0o644, "", b"")
    }
    /// The uncompressed tar.
    pub fn tar(&self) -> Vec<u8> {
        let mut out = self.b.clone();
        out.extend_from_slice(&[0u8; 1024]);
        out
    }
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

pub fn zstd(data: &[u8]) -> Vec<u8> {
    zstd::encode_all(data, 1).unwrap()
}

/// One image's blobs: manifest, config, layers.
pub struct Built {
    pub manifest: Vec<u8>,
    pub config: Vec<u8>,
    /// (blob bytes, media type)
    pub layers: Vec<(Vec<u8>, String)>,
}

impl Built {
    pub fn manifest_digest(&self) -> String {
        sha(&self.manifest)
    }
    pub fn config_digest(&self) -> String {
        sha(&self.config)
    }
    pub fn id(&self) -> ImageId {
        Digest::parse(&self.config_digest()).unwrap()
    }
}

/// An image of `layers` (each: stored blob bytes and the uncompressed tar for its diff-id).
pub fn image_with(layers: &[(Vec<u8>, Vec<u8>)], arch: &str, cmd: &[&str]) -> Built {
    let config = json!({
        "architecture": arch,
        "os": "linux",
        "created": "2024-01-02T03:04:05Z",
        "config": {"Env": ["PATH=/bin", "A=b"], "Cmd": cmd, "WorkingDir": "/w", "User": "1:2",
                   "ExposedPorts": {"80/tcp": {}}},
        "rootfs": {"type": "layers", "diff_ids": layers.iter().map(|(_, t)| sha(t)).collect::<Vec<_>>()},
    })
    .to_string()
    .into_bytes();
    let descs: Vec<_> = layers
        .iter()
        .map(|(b, _)| {
            let mt = media_type(b);
            (b.clone(), mt)
        })
        .collect();
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha(&config), "size": config.len()},
        "layers": descs.iter().map(|(b, mt)| json!({"mediaType": mt, "digest": sha(b), "size": b.len()})).collect::<Vec<_>>(),
    })
    .to_string()
    .into_bytes();
    Built {
        manifest,
        config,
        layers: descs,
    }
}

pub fn media_type(blob: &[u8]) -> String {
    if blob.starts_with(&[0x1f, 0x8b]) {
        "application/vnd.oci.image.layer.v1.tar+gzip".into()
    } else if blob.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        "application/vnd.oci.image.layer.v1.tar+zstd".into()
    } else {
        "application/vnd.oci.image.layer.v1.tar".into()
    }
}

/// A one-image-per-layer-list helper: gzip every layer.
pub fn image(layers: &[&Layer]) -> Built {
    let l: Vec<_> = layers.iter().map(|l| (gzip(&l.tar()), l.tar())).collect();
    image_with(&l, "amd64", &["sh"])
}

fn put(dir: &Path, data: &[u8]) {
    let p = dir.join("blobs/sha256").join(&sha(data)[7..]);
    std::fs::write(p, data).unwrap();
}

/// Writes an OCI layout directory with the given images and names.
pub fn write_layout(dir: &Path, images: &[(&Built, Option<&str>)]) {
    std::fs::create_dir_all(dir.join("blobs/sha256")).unwrap();
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let mut manifests = Vec::new();
    for (img, name) in images {
        put(dir, &img.manifest);
        put(dir, &img.config);
        for (b, _) in &img.layers {
            put(dir, b);
        }
        let mut d = json!({"mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "digest": img.manifest_digest(), "size": img.manifest.len()});
        if let Some(n) = name {
            d["annotations"] = json!({"io.containerd.image.name": n});
        }
        manifests.push(d);
    }
    let index = json!({"schemaVersion": 2, "manifests": manifests}).to_string();
    std::fs::write(dir.join("index.json"), index).unwrap();
}

/// Loads one image into `store` through an OCI layout directory.
pub fn load(store: &Store, img: &Built, name: Option<&str>) -> Result<ImageId, berth_image::Error> {
    let dir = TempDir::new("layout");
    write_layout(dir.path(), &[(img, name)]);
    store.load(dir.path()).map(|mut v| v.remove(0))
}

/// A fresh store in a temp dir (the dir guard must outlive the store).
pub fn store() -> (TempDir, Store) {
    let dir = TempDir::new("store");
    let store = Store::open(&dir.path().join("image")).unwrap();
    (dir, store)
}

/// Everything in the store's blobs/, layers/, images/ and tmp/ (to check nothing is left).
pub fn contents(store: &Store) -> Vec<String> {
    let mut out = Vec::new();
    for sub in ["blobs/sha256", "layers", "images", "tmp"] {
        if let Ok(rd) = std::fs::read_dir(store.root().join(sub)) {
            for e in rd.flatten() {
                out.push(format!("{sub}/{}", e.file_name().to_string_lossy()));
            }
        }
    }
    out.sort();
    out
}
