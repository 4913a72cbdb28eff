//! Image archives: `docker save` format (manifest.json + blobs) and OCI image layout
//! (oci-layout, index.json, blobs/sha256), as tar files or (for load) directories.

mod load;
mod save;

/// Output format of [`crate::Store::save`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArchiveFormat {
    /// `docker save`/`docker load` format. Written as modern docker does: `manifest.json`
    /// next to a full OCI layout, layers as stored (docker load detects compression).
    Docker,
    /// OCI image layout (`oci-archive`).
    Oci,
}

pub(crate) const OCI_LAYOUT: &str = "oci-layout";
pub(crate) const OCI_INDEX: &str = "index.json";
pub(crate) const DOCKER_MANIFEST: &str = "manifest.json";
pub(crate) const ANNOTATION_NAME: &str = "io.containerd.image.name";
pub(crate) const ANNOTATION_REF: &str = "org.opencontainers.image.ref.name";

/// `manifest.json` entry of a docker archive.
#[derive(serde::Serialize, serde::Deserialize)]
pub(crate) struct DockerManifestEntry {
    #[serde(rename = "Config")]
    pub(crate) config: String,
    #[serde(rename = "RepoTags", default)]
    pub(crate) repo_tags: Option<Vec<String>>,
    #[serde(rename = "Layers")]
    pub(crate) layers: Vec<String>,
}

pub(crate) fn blob_member(digest: &crate::Digest) -> String {
    format!("blobs/sha256/{}", digest.hex())
}
