//! Read-only queries: resolve, list, inspect, layer_dirs. They take no lock: every file they
//! read is replaced atomically by writers.

use std::path::PathBuf;

use oci_spec::image::ImageConfiguration;

use crate::record::{tags_of, ImageRecord};
use crate::reference;
use crate::register::parse_config;
use crate::store::Store;
use crate::{Digest, Error, ImageId};

/// One line of `berth images`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageSummary {
    pub id: ImageId,
    /// Fully qualified names (`docker.io/library/busybox:latest`).
    pub repo_tags: Vec<String>,
    pub repo_digests: Vec<String>,
    /// RFC 3339 creation time from the image config.
    pub created: Option<String>,
    /// Unpacked size of all layers, in bytes.
    pub size: u64,
}

/// One layer as `berth image inspect` shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LayerInfo {
    pub digest: Digest,
    pub diff_id: Digest,
    pub media_type: String,
    pub size: u64,
}

/// `berth image inspect`.
#[derive(Clone, Debug)]
pub struct ImageDetails {
    pub summary: ImageSummary,
    pub manifest_digest: Digest,
    pub manifest_media_type: String,
    pub index_digest: Option<Digest>,
    /// The full image config: `config.config()` has Env, Entrypoint, Cmd, WorkingDir, User,
    /// ExposedPorts, Labels, StopSignal, Volumes.
    pub config: ImageConfiguration,
    /// Bottom layer first.
    pub layers: Vec<LayerInfo>,
}

fn is_hex(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

impl Store {
    /// Resolves `name[:tag]`, `name@digest`, a full image id (`sha256:...`) or an id prefix.
    pub fn resolve(&self, reference: &str) -> Result<ImageId, Error> {
        if let Ok(d) = Digest::parse(reference) {
            if self.read_record(&d)?.is_some() {
                return Ok(d);
            }
            return Err(Error::NotFound(reference.to_owned()));
        }
        if let Ok(r) = reference::parse(reference) {
            if let Some(digest) = r.digest() {
                let repo = reference::repository(&r);
                let wanted = format!("{repo}@{digest}");
                for rec in self.records()? {
                    let by_manifest = rec.manifest.as_str() == digest
                        || rec.index.as_ref().is_some_and(|i| i.as_str() == digest);
                    if rec.repo_digests.contains(&wanted) || by_manifest {
                        return Ok(rec.id);
                    }
                }
            } else if let Some(id) = self.read_refs()?.get(&r.whole()) {
                return Ok(id.clone());
            }
        }
        let prefix = reference.strip_prefix("sha256:").unwrap_or(reference);
        if is_hex(prefix) {
            let mut found = self
                .records()?
                .into_iter()
                .filter(|r| r.id.hex().starts_with(prefix));
            if let Some(first) = found.next() {
                if found.next().is_some() {
                    return Err(Error::AmbiguousId(reference.to_owned()));
                }
                return Ok(first.id);
            }
        }
        Err(Error::NotFound(reference.to_owned()))
    }

    pub(crate) fn record(&self, id: &ImageId) -> Result<ImageRecord, Error> {
        self.read_record(id)?
            .ok_or_else(|| Error::NotFound(id.to_string()))
    }

    /// All images, with their names.
    pub fn list(&self) -> Result<Vec<ImageSummary>, Error> {
        let refs = self.read_refs()?;
        Ok(self
            .records()?
            .into_iter()
            .map(|rec| summary(rec, &refs))
            .collect())
    }

    /// Config, layers and digests of one image.
    pub fn inspect(&self, reference: &str) -> Result<ImageDetails, Error> {
        let id = self.resolve(reference)?;
        let rec = self.record(&id)?;
        let config = parse_config(&self.read_blob(&id)?, &id)?;
        let refs = self.read_refs()?;
        let layers = rec
            .layers
            .iter()
            .map(|l| LayerInfo {
                digest: l.blob.clone(),
                diff_id: l.diff_id.clone(),
                media_type: l.media_type.clone(),
                size: l.blob_size,
            })
            .collect();
        Ok(ImageDetails {
            manifest_digest: rec.manifest.clone(),
            manifest_media_type: rec.manifest_media_type.clone(),
            index_digest: rec.index.clone(),
            summary: summary(rec, &refs),
            config,
            layers,
        })
    }

    /// The unpacked layer directories of an image, TOP layer first (overlayfs `lowerdir`
    /// order). Each directory is shared: mount it read-only.
    ///
    /// A layer listed twice (builders emit repeated empty layers) appears once, at its
    /// topmost position: overlayfs refuses a lower dir given twice, and the lower copy is
    /// fully shadowed by the upper one (same paths, same whiteouts, same opaque dirs).
    pub fn layer_dirs(&self, id: &ImageId) -> Result<Vec<PathBuf>, Error> {
        let rec = self.record(id)?;
        let mut seen = std::collections::HashSet::new();
        let mut dirs = Vec::new();
        for l in rec.layers.iter().rev() {
            if !seen.insert(&l.diff_id) {
                continue;
            }
            let dir = self.layer_path(&l.diff_id).join("diff");
            if !dir.is_dir() {
                return Err(Error::NotFound(format!(
                    "layer {} of image {id}",
                    l.diff_id
                )));
            }
            dirs.push(dir);
        }
        Ok(dirs)
    }
}

fn summary(rec: ImageRecord, refs: &crate::record::Refs) -> ImageSummary {
    ImageSummary {
        repo_tags: tags_of(refs, &rec.id),
        id: rec.id,
        repo_digests: rec.repo_digests,
        created: rec.created,
        size: rec.size,
    }
}
