//! Images: thin wrappers over berth_image's store, which knows which images containers use.

use berth_image::{ArchiveFormat, ImageDetails, ImageId, ImageSummary, PullOptions, Store};

use crate::db::Db;
use crate::error::{sys, Result};
use crate::manager::Manager;

impl Manager {
    /// The image store; images used by a container cannot be removed or pruned.
    pub fn images(&self) -> Result<Store> {
        let db = Db::new(&self.layout);
        Ok(
            Store::open(&self.layout.images())?.with_in_use(move |id: &ImageId| {
                let id = id.to_string();
                // If the metadata cannot be read, count the image as used: never delete blindly.
                db.list()
                    .map(|all| {
                        all.iter()
                            .any(|r| r.image_id.as_deref() == Some(id.as_str()))
                    })
                    .unwrap_or(true)
            }),
        )
    }

    /// `reference` to an image id. Names are matched against the store's fully qualified
    /// tags first: berth_image's resolve parses references with oci-client's grammar, which
    /// costs 40-60 ms of CPU per process (measured here) on the `run` path; ids, digests and
    /// anything not found that way still go through it.
    pub fn resolve_image(&self, store: &Store, reference: &str) -> Result<ImageId> {
        if let Some(full) = qualify(reference) {
            for image in store.list()? {
                if image.repo_tags.contains(&full) {
                    return Ok(image.id);
                }
            }
        }
        Ok(store.resolve(reference)?)
    }

    pub fn pull(
        &self,
        reference: &str,
        opts: &PullOptions,
        progress: &dyn berth_image::Progress,
    ) -> Result<ImageId> {
        let store = self.images()?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(sys("start the async runtime for pull"))?;
        Ok(rt.block_on(store.pull(reference, opts, progress))?)
    }

    pub fn import(&self, tarball: &std::path::Path, reference: Option<&str>) -> Result<ImageId> {
        Ok(self.images()?.import(tarball, reference)?)
    }

    pub fn load(&self, archive: &std::path::Path) -> Result<Vec<ImageId>> {
        Ok(self.images()?.load(archive)?)
    }

    pub fn save(
        &self,
        images: &[&str],
        out: &std::path::Path,
        format: ArchiveFormat,
    ) -> Result<()> {
        Ok(self.images()?.save(images, out, format)?)
    }

    pub fn image_list(&self) -> Result<Vec<ImageSummary>> {
        Ok(self.images()?.list()?)
    }

    pub fn image_inspect(&self, reference: &str) -> Result<ImageDetails> {
        Ok(self.images()?.inspect(reference)?)
    }

    pub fn image_remove(&self, reference: &str, force: bool) -> Result<()> {
        Ok(self.images()?.remove(reference, force)?)
    }

    /// Remove images no container uses (only untagged ones unless `all`); bytes freed.
    pub fn image_prune(&self, all: bool) -> Result<u64> {
        let store = self.images()?;
        let tagged: Vec<ImageId> = store
            .list()?
            .into_iter()
            .filter(|i| !i.repo_tags.is_empty())
            .map(|i| i.id)
            .collect();
        Ok(store.prune(&|id| !all && tagged.contains(id))?)
    }
}

/// docker's normalization of `name[:tag]`: `busybox` is `docker.io/library/busybox:latest`,
/// `me/app:1` is `docker.io/me/app:1`, `127.0.0.1:5000/app` keeps its registry. `None` for
/// digests and ids (left to the store).
pub fn qualify(reference: &str) -> Option<String> {
    if reference.contains('@') || reference.starts_with("sha256:") || reference.is_empty() {
        return None;
    }
    let (name, tag) = match reference.rsplit_once(':') {
        Some((n, t)) if !t.contains('/') => (n, t),
        _ => (reference, "latest"),
    };
    let (first, rest) = name.split_once('/').unwrap_or(("", name));
    let is_registry = first.contains('.') || first.contains(':') || first == "localhost";
    let full = if is_registry {
        format!("{first}/{rest}")
    } else if first.is_empty() {
        format!("docker.io/library/{rest}")
    } else {
        format!("docker.io/{first}/{rest}")
    };
    Some(format!("{full}:{tag}"))
}

#[cfg(test)]
mod tests {
    use super::qualify;

    #[test]
    fn qualified_names() {
        assert_eq!(
            qualify("busybox").unwrap(),
            "docker.io/library/busybox:latest"
        );
        assert_eq!(qualify("me/app:1").unwrap(), "docker.io/me/app:1");
        assert_eq!(
            qualify("127.0.0.1:5000/a/b:v2").unwrap(),
            "127.0.0.1:5000/a/b:v2"
        );
        assert_eq!(
            qualify("127.0.0.1:5000/a").unwrap(),
            "127.0.0.1:5000/a:latest"
        );
        assert_eq!(qualify("localhost/x").unwrap(), "localhost/x:latest");
        assert_eq!(
            qualify("quay.io/org/img:3.1").unwrap(),
            "quay.io/org/img:3.1"
        );
        assert!(qualify("sha256:abc").is_none());
        assert!(qualify("busybox@sha256:abc").is_none());
    }
}
