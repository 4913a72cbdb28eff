//! Untagging, removing images and garbage-collecting blobs and layers no image uses.

use std::collections::HashSet;
use std::fs;

use crate::fsutil;
use crate::record::tags_of;
use crate::reference;
use crate::store::Store;
use crate::{Digest, Error, ImageId};

impl Store {
    /// `berth tag`: points the name `target` at the image `source` resolves to.
    pub fn tag(&self, source: &str, target: &str) -> Result<(), Error> {
        let name = reference::parse(target)?;
        if name.digest().is_some() {
            return Err(Error::InvalidReference {
                reference: target.to_owned(),
                reason: "a tag cannot contain a digest".into(),
            });
        }
        let _lock = self.lock()?;
        let id = self.resolve(source)?;
        let mut refs = self.read_refs()?;
        refs.insert(name.whole(), id);
        self.write_refs(&refs)
    }

    /// `berth rmi`. A tag shared with other tags is only untagged. Otherwise the image is
    /// removed with its now unused blobs and layers; refused while a container uses it
    /// (see [`Store::with_in_use`]) or, by id, while several tags name it — unless `force`.
    /// A forced removal of an image in use only drops its names (its layers stay mounted).
    pub fn remove(&self, reference: &str, force: bool) -> Result<(), Error> {
        let _lock = self.lock()?;
        let id = self.resolve(reference)?;
        let mut refs = self.read_refs()?;
        let tags = tags_of(&refs, &id);
        let by_tag = reference::normalize(reference)
            .ok()
            .filter(|n| refs.contains_key(n));
        if let Some(name) = &by_tag {
            if tags.len() > 1 {
                refs.remove(name);
                return self.write_refs(&refs);
            }
        } else if tags.len() > 1 && !force {
            return Err(Error::MultipleTags {
                id: id.to_string(),
                tags: tags.join(", "),
            });
        }
        let in_use = self.is_in_use(&id);
        if in_use && !force {
            return Err(Error::InUse {
                reference: reference.to_owned(),
                id: id.to_string(),
            });
        }
        refs.retain(|_, v| *v != id);
        self.write_refs(&refs)?;
        if !in_use {
            self.remove_record(&id)?;
            self.collect_garbage()?;
        }
        Ok(())
    }

    /// `berth image prune`: removes every image that `keep` does not keep and that no
    /// container uses, then every blob and layer no remaining image references, and what
    /// killed writers left behind. Returns the bytes freed. (Docker's default prune keeps
    /// tagged images: pass `|id| tagged.contains(id)`.)
    pub fn prune(&self, keep: &dyn Fn(&ImageId) -> bool) -> Result<u64, Error> {
        let _lock = self.lock()?;
        let mut refs = self.read_refs()?;
        let before = refs.len();
        for rec in self.records()? {
            if !keep(&rec.id) && !self.is_in_use(&rec.id) {
                refs.retain(|_, v| *v != rec.id);
                self.remove_record(&rec.id)?;
            }
        }
        if refs.len() != before {
            self.write_refs(&refs)?;
        }
        let freed = fsutil::disk_usage(&self.tmp_dir());
        self.clean_tmp()?;
        Ok(freed + self.collect_garbage()?)
    }

    /// Removes blobs and layers that no image record references. Writer lock held.
    pub(crate) fn collect_garbage(&self) -> Result<u64, Error> {
        let mut blobs = HashSet::new();
        let mut layers = HashSet::new();
        for rec in self.records()? {
            blobs.insert(rec.id.hex().to_owned());
            blobs.insert(rec.manifest.hex().to_owned());
            if let Some(i) = &rec.index {
                blobs.insert(i.hex().to_owned());
            }
            for l in &rec.layers {
                blobs.insert(l.blob.hex().to_owned());
                layers.insert(l.diff_id.hex().to_owned());
            }
        }
        let mut freed = self.sweep(&self.blobs_dir(), &blobs)?;
        freed += self.sweep(&self.layers_dir(), &layers)?;
        Ok(freed)
    }

    /// After a failed writer operation: drop the blobs and layers it stored (nothing
    /// references them), so a refused image leaves nothing behind. Writer lock held.
    pub(crate) fn undo_on_error<T>(&self, res: Result<T, Error>) -> Result<T, Error> {
        if res.is_err() {
            let _ = self.clean_tmp();
            let _ = self.collect_garbage();
        }
        res
    }

    fn sweep(&self, dir: &std::path::Path, live: &HashSet<String>) -> Result<u64, Error> {
        let rd = fs::read_dir(dir).map_err(|source| Error::Read {
            path: dir.to_owned(),
            source,
        })?;
        let mut freed = 0;
        for entry in rd {
            let entry = entry.map_err(|source| Error::Read {
                path: dir.to_owned(),
                source,
            })?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let known = Digest::parse(&format!("sha256:{name}")).is_ok();
            if !known || !live.contains(&name) {
                let path = entry.path();
                freed += fsutil::disk_usage(&path);
                fsutil::remove_any(&path)?;
            }
        }
        Ok(freed)
    }
}
