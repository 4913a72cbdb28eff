//! `berth load`: docker archives and OCI layouts (tar, compressed tar or directory).

use std::io::{BufReader, Read};
use std::path::Path;

use oci_spec::image::{Descriptor, ImageIndex};

use super::{DockerManifestEntry, ANNOTATION_NAME, ANNOTATION_REF, DOCKER_MANIFEST, OCI_INDEX};
use crate::compression::{decompress, Compression};
use crate::fsutil;
use crate::import::build_manifest;
use crate::progress::NoProgress;
use crate::pull::Platform;
use crate::reference;
use crate::register::{parse_config, Registration};
use crate::store::Store;
use crate::unpack::{open_member, unpack, UnpackOptions};
use crate::{Digest, Error, ImageId};

fn archive_err(path: &Path, reason: impl Into<String>) -> Error {
    Error::Archive {
        path: path.to_owned(),
        reason: reason.into(),
    }
}

fn read_member(dir: &Path, archive: &Path, rel: &str) -> Result<Vec<u8>, Error> {
    let mut f = open_member(dir, rel).map_err(|e| match e {
        Error::EntryIo { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
            Error::ArchiveMissing {
                path: archive.to_owned(),
                entry: rel.to_owned(),
            }
        }
        other => other,
    })?;
    let mut data = Vec::new();
    (&mut f)
        .take(crate::blobs::MAX_JSON_BLOB + 1)
        .read_to_end(&mut data)
        .map_err(|source| Error::Read {
            path: archive.join(rel),
            source,
        })?;
    crate::blobs::check_json_size(rel, data.len() as u64)?;
    Ok(data)
}

fn member_exists(dir: &Path, rel: &str) -> bool {
    open_member(dir, rel).is_ok()
}

impl Store {
    /// Loads every image of a docker archive (`docker save`) or OCI layout (tar, gzip/zstd
    /// tar, or directory). Returns their ids in archive order.
    pub fn load(&self, archive: &Path) -> Result<Vec<ImageId>, Error> {
        let _lock = self.lock()?;
        let res = self.load_locked(archive);
        self.undo_on_error(res)
    }

    fn load_locked(&self, archive: &Path) -> Result<Vec<ImageId>, Error> {
        let extracted;
        let dir = if archive.is_dir() {
            archive.to_owned()
        } else {
            extracted = self.temp_path("load");
            fsutil::create_dir_all(extracted.path())?;
            let what = archive.display().to_string();
            let file = BufReader::new(fsutil::open(archive)?);
            let (_, reader) = decompress(file).map_err(|source| Error::TarRead {
                what: what.clone(),
                source,
            })?;
            let opts = UnpackOptions {
                keep_setid: false,
                ..self.unpack.clone()
            };
            unpack(reader, extracted.path(), &opts, &what)?;
            extracted.path().to_owned()
        };
        if member_exists(&dir, DOCKER_MANIFEST) {
            self.load_docker(&dir, archive)
        } else if member_exists(&dir, OCI_INDEX) {
            self.load_oci(&dir, archive)
        } else {
            Err(archive_err(
                archive,
                "neither manifest.json (docker archive) nor index.json (OCI layout)",
            ))
        }
    }

    fn load_docker(&self, dir: &Path, archive: &Path) -> Result<Vec<ImageId>, Error> {
        let data = read_member(dir, archive, DOCKER_MANIFEST)?;
        let entries: Vec<DockerManifestEntry> =
            serde_json::from_slice(&data).map_err(|source| Error::ParseJson {
                what: "docker archive manifest",
                path: archive.join(DOCKER_MANIFEST),
                source,
            })?;
        let mut ids = Vec::new();
        for entry in entries {
            let config = read_member(dir, archive, &entry.config)?;
            let config_digest = self.put_blob_bytes(&config, None, &entry.config)?;
            let diff_ids = parse_config(&config, &config_digest)?
                .rootfs()
                .diff_ids()
                .len();
            if diff_ids != entry.layers.len() {
                return Err(Error::LayerCountMismatch {
                    image: config_digest.to_string(),
                    manifest: entry.layers.len(),
                    config: diff_ids,
                });
            }
            let mut layers = Vec::new();
            for rel in &entry.layers {
                let mut file = BufReader::new(open_member(dir, rel)?);
                let head = std::io::BufRead::fill_buf(&mut file).map_err(|source| Error::Read {
                    path: archive.join(rel),
                    source,
                })?;
                let media_type = Compression::detect(head).layer_media_type().to_owned();
                let (digest, size) = self.put_blob(file, None, rel)?;
                layers.push((digest, size, media_type));
            }
            let manifest = build_manifest((&config_digest, config.len() as u64), &layers);
            let manifest = self.put_blob_bytes(&manifest, None, "image manifest")?;
            let names = entry
                .repo_tags
                .unwrap_or_default()
                .iter()
                .map(|t| reference::normalize(t))
                .collect::<Result<Vec<_>, _>>()?;
            ids.push(self.register(
                Registration {
                    manifest,
                    index: None,
                    names: &names,
                    repo_digests: Vec::new(),
                },
                &NoProgress,
            )?);
        }
        Ok(ids)
    }

    /// Copies the blob `desc` from the layout into the store, verifying digest and size.
    fn copy_layout_blob(&self, dir: &Path, desc: &Descriptor) -> Result<Digest, Error> {
        let digest = Digest::parse(desc.digest().as_ref())?;
        if !self.has_blob(&digest) {
            let rel = super::blob_member(&digest);
            let file = open_member(dir, &rel)?;
            self.put_blob(file, Some((&digest, Some(desc.size()))), &rel)?;
        }
        Ok(digest)
    }

    fn load_oci(&self, dir: &Path, archive: &Path) -> Result<Vec<ImageId>, Error> {
        let data = read_member(dir, archive, OCI_INDEX)?;
        let index: ImageIndex =
            serde_json::from_slice(&data).map_err(|source| Error::ParseJson {
                what: "OCI index",
                path: archive.join(OCI_INDEX),
                source,
            })?;
        let mut ids = Vec::new();
        for desc in index.manifests() {
            let names = layout_names(desc)?;
            let mut top = self.copy_layout_blob(dir, desc)?;
            let mut nested = None;
            if desc.media_type().to_string().contains("index")
                || desc.media_type().to_string().contains("list")
            {
                let inner: ImageIndex =
                    serde_json::from_slice(&self.read_blob(&top)?).map_err(|source| {
                        Error::ParseJson {
                            what: "OCI index",
                            path: top.as_str().into(),
                            source,
                        }
                    })?;
                let want = Platform::host();
                let chosen = crate::pull::select_platform(&inner, &want).ok_or_else(|| {
                    Error::NoMatchingPlatform {
                        reference: top.to_string(),
                        platform: want.to_string(),
                    }
                })?;
                nested = Some(top.clone());
                top = self.copy_layout_blob(dir, chosen)?;
            }
            let manifest = crate::register::parse_manifest(&self.read_blob(&top)?, &top)?;
            self.copy_layout_blob(dir, manifest.config())?;
            for layer in manifest.layers() {
                self.copy_layout_blob(dir, layer)?;
            }
            ids.push(self.register(
                Registration {
                    manifest: top,
                    index: nested,
                    names: &names,
                    repo_digests: Vec::new(),
                },
                &NoProgress,
            )?);
        }
        Ok(ids)
    }
}

/// Names of an index entry: containerd's full-name annotation, else the OCI ref name when
/// it is a full reference (a bare tag such as `latest` names no repository).
fn layout_names(desc: &Descriptor) -> Result<Vec<String>, Error> {
    let Some(ann) = desc.annotations() else {
        return Ok(Vec::new());
    };
    if let Some(name) = ann.get(ANNOTATION_NAME) {
        return Ok(vec![reference::normalize(name)?]);
    }
    match ann.get(ANNOTATION_REF) {
        Some(r) if r.contains(':') || r.contains('/') => Ok(vec![reference::normalize(r)?]),
        _ => Ok(Vec::new()),
    }
}
