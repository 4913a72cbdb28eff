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
