//! `berth save`: images to a docker archive or an OCI layout tar.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::Path;

use serde_json::json;

use super::{
    blob_member, ArchiveFormat, DockerManifestEntry, ANNOTATION_NAME, ANNOTATION_REF,
    DOCKER_MANIFEST, OCI_INDEX, OCI_LAYOUT,
};
use crate::fsutil::{self, TempPath};
use crate::record::{tags_of, ImageRecord};
use crate::reference;
use crate::store::Store;
use crate::{Digest, Error};

struct Writer {
    tar: tar::Builder<BufWriter<File>>,
    out: std::path::PathBuf,
    written: BTreeSet<Digest>,
}

impl Writer {
    fn err(&self, source: std::io::Error) -> Error {
        Error::Write {
            path: self.out.clone(),
            source,
        }
    }

    fn add(&mut self, name: &str, size: u64, data: impl Read) -> Result<(), Error> {
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_size(size);
        h.set_mode(0o644);
        h.set_mtime(0);
        h.set_uid(0);
        h.set_gid(0);
        let res = self.tar.append_data(&mut h, name, data);
        res.map_err(|e| self.err(e))
    }

    fn add_dir(&mut self, name: &str) -> Result<(), Error> {
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_size(0);
        h.set_mode(0o755);
        h.set_mtime(0);
        h.set_uid(0);
        h.set_gid(0);
        let res = self.tar.append_data(&mut h, name, std::io::empty());
        res.map_err(|e| self.err(e))
    }

    fn add_blob(&mut self, store: &Store, digest: &Digest) -> Result<(), Error> {
        if !self.written.insert(digest.clone()) {
            return Ok(());
        }
        let size = store.blob_size(digest)?;
        let file = store.open_blob(digest)?;
        self.add(&blob_member(digest), size, file)
    }
}

impl Store {
    /// Writes the named images (any form [`Store::resolve`] takes) to `out` as one archive.
    /// A name saves that tag; an id saves the image with all its tags.
    pub fn save(&self, images: &[&str], out: &Path, format: ArchiveFormat) -> Result<(), Error> {
        // Shared: keeps garbage collection from removing blobs while they are copied.
        let _lock = crate::lock::FileLock::acquire_shared(&self.lock_path())?;
        let refs = self.read_refs()?;
        let mut selected: Vec<(ImageRecord, Vec<String>)> = Vec::new();
        for name in images {
            let id = self.resolve(name)?;
            let tags = match reference::normalize(name) {
                Ok(n) if refs.get(&n) == Some(&id) => vec![n],
                _ => tags_of(&refs, &id),
            };
            selected.push((self.record(&id)?, tags));
        }
        let file_name = out
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let tmp = TempPath::new(out.with_file_name(fsutil::unique_name(&format!(".{file_name}"))));
        let file = fsutil::create_new(tmp.path())?;
        let mut w = Writer {
            tar: tar::Builder::new(BufWriter::new(file)),
            out: out.to_owned(),
            written: BTreeSet::new(),
        };
        let layout = json!({"imageLayoutVersion": "1.0.0"}).to_string();
        w.add(OCI_LAYOUT, layout.len() as u64, layout.as_bytes())?;
        w.add_dir("blobs/")?;
        w.add_dir("blobs/sha256/")?;
        let mut index = Vec::new();
        let mut docker = Vec::new();
        for (rec, tags) in &selected {
            w.add_blob(self, &rec.manifest)?;
            w.add_blob(self, &rec.id)?;
            for l in &rec.layers {
                w.add_blob(self, &l.blob)?;
            }
            let manifest_size = self.blob_size(&rec.manifest)?;
            let desc = |ann: Option<serde_json::Value>| {
                let mut d = json!({
                    "mediaType": rec.manifest_media_type,
                    "digest": rec.manifest.as_str(),
                    "size": manifest_size,
                });
                if let Some(a) = ann {
                    d["annotations"] = a;
                }
                d
            };
            if tags.is_empty() {
                index.push(desc(None));
            }
            for t in tags {
                let tag = t.rsplit_once(':').map(|(_, t)| t).unwrap_or("latest");
                index.push(desc(Some(json!({ANNOTATION_NAME: t, ANNOTATION_REF: tag}))));
            }
            docker.push(DockerManifestEntry {
                config: blob_member(&rec.id),
                repo_tags: Some(tags.iter().map(|t| reference::familiar(t)).collect()),
                layers: rec.layers.iter().map(|l| blob_member(&l.blob)).collect(),
            });
        }
        let index = json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": index,
        })
        .to_string();
        w.add(OCI_INDEX, index.len() as u64, index.as_bytes())?;
        if format == ArchiveFormat::Docker {
            let m = serde_json::to_vec(&docker).map_err(|source| Error::EncodeJson {
                what: "docker archive manifest",
                source,
            })?;
            w.add(DOCKER_MANIFEST, m.len() as u64, m.as_slice())?;
        }
        let res = w.tar.into_inner();
        let mut buf = res.map_err(|source| Error::Write {
            path: out.to_owned(),
            source,
        })?;
        buf.flush().map_err(|source| Error::Write {
            path: out.to_owned(),
            source,
        })?;
        let file = buf.into_inner().map_err(|e| Error::Write {
            path: out.to_owned(),
            source: e.into_error(),
        })?;
        fsutil::sync_file(&file, tmp.path())?;
        fsutil::rename(tmp.path(), out)?;
        tmp.keep();
        Ok(())
    }
}
