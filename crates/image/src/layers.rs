//! Unpacked layers: `layers/<diff-id-hex>/diff`, created once per diff-id and shared.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use crate::compression::decompress;
use crate::fsutil;
use crate::progress::Progress;
use crate::store::Store;
use crate::unpack::unpack;
use crate::{Digest, Error};

#[derive(Serialize, Deserialize)]
pub(crate) struct LayerMeta {
    pub(crate) diff_id: Digest,
    /// Total bytes of regular files.
    pub(crate) size: u64,
}

impl Store {
    /// Unpacks the distinct layers `work` (`(blob, diff_id)`) on up to 4 threads: gzip and
    /// the file system work of independent layers overlap. Returns their total size. On the
    /// first error the other workers stop after their current layer.
    pub(crate) fn ensure_layers(
        &self,
        work: &[(Digest, Digest)],
        progress: &dyn Progress,
    ) -> Result<u64, Error> {
        let workers = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .clamp(1, 4)
            .min(work.len().max(1));
        let next = AtomicUsize::new(0);
        let failed = AtomicBool::new(false);
        let worker = || -> Result<u64, Error> {
            let mut total = 0;
            while !failed.load(Ordering::Relaxed) {
                let Some((blob, diff_id)) = work.get(next.fetch_add(1, Ordering::Relaxed)) else {
                    break;
                };
                match self.ensure_layer(blob, Some(diff_id)) {
                    Ok(meta) => {
                        progress.layer_ready(diff_id);
                        total += meta.size;
                    }
                    Err(e) => {
                        failed.store(true, Ordering::Relaxed);
                        return Err(e);
                    }
                }
            }
            Ok(total)
        };
        let results: Vec<Result<u64, Error>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..workers).map(|_| s.spawn(worker)).collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
                .collect()
        });
        results.into_iter().sum()
    }

    pub(crate) fn layer_path(&self, diff_id: &Digest) -> PathBuf {
        self.layers_dir().join(diff_id.hex())
    }

    fn layer_meta_path(&self, diff_id: &Digest) -> PathBuf {
        self.layer_path(diff_id).join("meta.json")
    }

    pub(crate) fn layer_meta(&self, diff_id: &Digest) -> Result<Option<LayerMeta>, Error> {
        let path = self.layer_meta_path(diff_id);
        if !path.is_file() {
            return Ok(None);
        }
        let data = fsutil::read(&path)?;
        serde_json::from_slice(&data)
            .map(Some)
            .map_err(|source| Error::ParseJson {
                what: "layer metadata",
                path,
                source,
            })
    }

    /// Makes sure the layer in `blob` is unpacked, checking its uncompressed digest against
    /// `expected_diff_id` when given. Returns the diff-id and unpacked size. Call with the
    /// store lock held (shared is enough: publishing is one rename).
    pub(crate) fn ensure_layer(
        &self,
        blob: &Digest,
        expected_diff_id: Option<&Digest>,
    ) -> Result<LayerMeta, Error> {
        if let Some(diff_id) = expected_diff_id {
            if let Some(meta) = self.layer_meta(diff_id)? {
                return Ok(meta);
            }
        }
        let tmp = self.temp_path("layer");
        let diff = tmp.path().join("diff");
        fsutil::create_dir_all(&diff)?;
        let what = format!("layer {blob}");
        let (_, reader) = decompress(self.open_blob(blob)?).map_err(|source| Error::TarRead {
            what: what.clone(),
            source,
        })?;
        let stats = unpack(reader, &diff, &self.unpack, &what)?;
        if let Some(expected) = expected_diff_id {
            if *expected != stats.diff_id {
                return Err(Error::DiffIdMismatch {
                    layer: blob.to_string(),
                    expected: expected.to_string(),
                    actual: stats.diff_id.to_string(),
                });
            }
        }
        let meta = LayerMeta {
            diff_id: stats.diff_id.clone(),
            size: stats.size,
        };
        if let Some(existing) = self.layer_meta(&meta.diff_id)? {
            return Ok(existing);
        }
        let data = serde_json::to_vec(&meta).map_err(|source| Error::EncodeJson {
            what: "layer metadata",
            source,
        })?;
        let meta_tmp = tmp.path().join("meta.json");
        let f = fsutil::create_new(&meta_tmp)?;
        std::io::Write::write_all(&mut &f, &data).map_err(|source| Error::Write {
            path: meta_tmp.clone(),
            source,
        })?;
        fsutil::sync_file(&f, &meta_tmp)?;
        fsutil::sync_dir(tmp.path())?;
        let dest = self.layer_path(&meta.diff_id);
        if let Err(e) = std::fs::rename(tmp.path(), &dest) {
            // A concurrent pull (shared lock) published the same layer first: use it.
            if let Some(existing) = self.layer_meta(&meta.diff_id)? {
                return Ok(existing);
            }
            // meta.json is written before the rename, so a directory here without it was
            // not published by us (damaged): replace it.
            if !matches!(
                e.kind(),
                std::io::ErrorKind::DirectoryNotEmpty | std::io::ErrorKind::AlreadyExists
            ) {
                return Err(Error::Rename {
                    from: tmp.path().to_owned(),
                    to: dest,
                    source: e,
                });
            }
            fsutil::remove_any(&dest)?;
            fsutil::rename(tmp.path(), &dest)?;
        }
        fsutil::sync_dir(&self.layers_dir())?;
        tmp.keep();
        Ok(meta)
    }
}
