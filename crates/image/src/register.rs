//! Turning stored blobs (manifest, config, layers) into an image: unpack its layers, write
//! its record, point names at it. Shared by pull, import and load.

use oci_spec::image::{ImageConfiguration, ImageManifest};

use crate::lock::FileLock;
use crate::progress::Progress;
use crate::record::{ImageRecord, LayerRecord};
use crate::store::Store;
use crate::{Digest, Error, ImageId};

/// Layer media types we can unpack (compression itself is detected from the bytes).
fn is_layer_type(media_type: &str) -> bool {
    [
        ".tar",
        ".tar+gzip",
        ".tar+zstd",
        ".tar.gzip",
        ".tar.zstd",
        "rootfs.diff.tar",
    ]
    .iter()
    .any(|s| media_type.ends_with(s))
}

pub(crate) fn parse_manifest(data: &[u8], digest: &Digest) -> Result<ImageManifest, Error> {
    serde_json::from_slice(data).map_err(|source| Error::ParseJson {
        what: "image manifest",
        path: digest.as_str().into(),
        source,
    })
}

pub(crate) fn parse_config(data: &[u8], digest: &Digest) -> Result<ImageConfiguration, Error> {
    serde_json::from_slice(data).map_err(|source| Error::ParseJson {
        what: "image config",
        path: digest.as_str().into(),
        source,
    })
}

/// What to register: a manifest already in the blob store (with its config and layers).
pub(crate) struct Registration<'a> {
    pub(crate) manifest: Digest,
    pub(crate) index: Option<Digest>,
    pub(crate) names: &'a [String],
    pub(crate) repo_digests: Vec<String>,
}

impl Store {
    /// Registers an image. Call with the store lock held (shared is enough).
    pub(crate) fn register(
        &self,
        reg: Registration<'_>,
        progress: &dyn Progress,
    ) -> Result<ImageId, Error> {
        let mbytes = self.read_blob(&reg.manifest)?;
        let manifest = parse_manifest(&mbytes, &reg.manifest)?;
        let id = Digest::parse(manifest.config().digest().as_ref())?;
        let cbytes = self.read_blob(&id)?;
        if Digest::of(&cbytes) != id {
            return Err(Error::DigestMismatch {
                what: "stored image config".into(),
                expected: id.to_string(),
                actual: Digest::of(&cbytes).to_string(),
            });
        }
        let config = parse_config(&cbytes, &id)?;
        let diff_ids = config.rootfs().diff_ids();
        if diff_ids.len() != manifest.layers().len() {
            return Err(Error::LayerCountMismatch {
                image: id.to_string(),
                manifest: manifest.layers().len(),
                config: diff_ids.len(),
            });
        }
        let mut layers = Vec::new();
        let mut work: Vec<(Digest, Digest)> = Vec::new();
        for (desc, diff_id) in manifest.layers().iter().zip(diff_ids) {
            let media_type = desc.media_type().to_string();
            if !is_layer_type(&media_type) {
                return Err(Error::UnsupportedMediaType {
                    what: format!("layer {}", desc.digest()),
                    media_type,
                });
            }
            let blob = Digest::parse(desc.digest().as_ref())?;
            let diff_id = Digest::parse(diff_id)?;
            if !work.iter().any(|(_, d)| *d == diff_id) {
                work.push((blob.clone(), diff_id.clone()));
            }
            layers.push(LayerRecord {
                blob_size: self.blob_size(&blob)?,
                blob,
                media_type,
                diff_id,
            });
        }
        let size = self.ensure_layers(&work, progress)?;
        // Concurrent pulls hold the store lock shared: serialise the read-modify-writes.
        let _refs_lock = FileLock::acquire(&self.refs_lock_path())?;
        let mut repo_digests = reg.repo_digests;
        if let Some(old) = self.read_record(&id)? {
            for d in old.repo_digests {
                if !repo_digests.contains(&d) {
                    repo_digests.push(d);
                }
            }
        }
        let record = ImageRecord {
            id: id.clone(),
            manifest: reg.manifest,
            manifest_media_type: manifest
                .media_type()
                .as_ref()
                .map(|m| m.to_string())
                .unwrap_or_else(|| "application/vnd.oci.image.manifest.v1+json".into()),
            index: reg.index,
            layers,
            created: config.created().clone(),
            repo_digests,
            size,
        };
        self.write_record(&record)?;
        if !reg.names.is_empty() {
            let mut refs = self.read_refs()?;
            for name in reg.names {
                refs.insert(name.clone(), id.clone());
            }
            self.write_refs(&refs)?;
        }
        Ok(id)
    }
}
