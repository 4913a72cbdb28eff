//! On-disk records: one JSON file per image, and the name -> image map.

use std::collections::BTreeMap;
use std::fs;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::fsutil;
use crate::store::Store;
use crate::{Digest, Error, ImageId};

/// One layer of an image, bottom first in [`ImageRecord::layers`].
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct LayerRecord {
    /// Digest of the blob as stored (possibly compressed).
    pub(crate) blob: Digest,
    pub(crate) media_type: String,
    /// Blob size in bytes.
    pub(crate) blob_size: u64,
    /// Digest of the uncompressed tar: names the unpacked directory.
    pub(crate) diff_id: Digest,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct ImageRecord {
    pub(crate) id: ImageId,
    pub(crate) manifest: Digest,
    pub(crate) manifest_media_type: String,
    /// The index (manifest list) this image was chosen from, if any.
    pub(crate) index: Option<Digest>,
    pub(crate) layers: Vec<LayerRecord>,
    pub(crate) created: Option<String>,
    /// `registry/repo@digest` forms this image was pulled by.
    pub(crate) repo_digests: Vec<String>,
    /// Unpacked size of all layers.
    pub(crate) size: u64,
}

/// Full name (`registry/repo:tag`) -> image id.
pub(crate) type Refs = BTreeMap<String, ImageId>;

impl Store {
    pub(crate) fn record_path(&self, id: &ImageId) -> PathBuf {
        self.images_dir().join(format!("{}.json", id.hex()))
    }

    pub(crate) fn read_record(&self, id: &ImageId) -> Result<Option<ImageRecord>, Error> {
        let path = self.record_path(id);
        match fs::read(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(Error::Read { path, source }),
            Ok(data) => {
                serde_json::from_slice(&data)
                    .map(Some)
                    .map_err(|source| Error::ParseJson {
                        what: "image record",
                        path,
                        source,
                    })
            }
        }
    }

    pub(crate) fn write_record(&self, rec: &ImageRecord) -> Result<(), Error> {
        let data = serde_json::to_vec_pretty(rec).map_err(|source| Error::EncodeJson {
            what: "image record",
            source,
        })?;
        fsutil::write_atomic(&self.tmp_dir(), &self.record_path(&rec.id), &data)
    }

    pub(crate) fn records(&self) -> Result<Vec<ImageRecord>, Error> {
        let dir = self.images_dir();
        let rd = fs::read_dir(&dir).map_err(|source| Error::Read {
            path: dir.clone(),
            source,
        })?;
        let mut out = Vec::new();
        for entry in rd {
            let entry = entry.map_err(|source| Error::Read {
                path: dir.clone(),
                source,
            })?;
            let name = entry.file_name();
            let Some(hex) = name.to_str().and_then(|n| n.strip_suffix(".json")) else {
                continue;
            };
            let Ok(id) = Digest::parse(&format!("sha256:{hex}")) else {
                continue;
            };
            if let Some(rec) = self.read_record(&id)? {
                out.push(rec);
            }
        }
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(out)
    }

    pub(crate) fn remove_record(&self, id: &ImageId) -> Result<(), Error> {
        fsutil::remove_any(&self.record_path(id))?;
        fsutil::sync_dir(&self.images_dir())
    }

    pub(crate) fn read_refs(&self) -> Result<Refs, Error> {
        let path = self.refs_path();
        match fs::read(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Refs::new()),
            Err(source) => Err(Error::Read { path, source }),
            Ok(data) => serde_json::from_slice(&data).map_err(|source| Error::ParseJson {
                what: "reference map",
                path,
                source,
            }),
        }
    }

    pub(crate) fn write_refs(&self, refs: &Refs) -> Result<(), Error> {
        let data = serde_json::to_vec_pretty(refs).map_err(|source| Error::EncodeJson {
            what: "reference map",
            source,
        })?;
        fsutil::write_atomic(&self.tmp_dir(), &self.refs_path(), &data)
    }
}

/// Names pointing at `id`, sorted.
pub(crate) fn tags_of(refs: &Refs, id: &ImageId) -> Vec<String> {
    refs.iter()
        .filter(|(_, v)| *v == id)
        .map(|(k, _)| k.clone())
        .collect()
}
