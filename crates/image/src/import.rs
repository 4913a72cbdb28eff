//! `berth import`: a root file system tarball (plain, gzip or zstd) as a one-layer image.

use std::path::Path;

use serde_json::json;

use crate::compression::Compression;
use crate::fsutil;
use crate::progress::NoProgress;
use crate::pull::Platform;
use crate::reference;
use crate::register::Registration;
use crate::store::Store;
use crate::{Digest, Error, ImageId};

pub(crate) const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub(crate) const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";

/// Builds an OCI image manifest for a config and layers (`(digest, size, media type)`).
pub(crate) fn build_manifest(config: (&Digest, u64), layers: &[(Digest, u64, String)]) -> Vec<u8> {
    let layers: Vec<_> = layers
        .iter()
        .map(|(d, size, mt)| json!({"mediaType": mt, "digest": d.as_str(), "size": size}))
        .collect();
    let m = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": config.0.as_str(), "size": config.1},
        "layers": layers,
    });
    m.to_string().into_bytes()
}

impl Store {
    /// Imports a root file system tarball as a single-layer image, optionally named.
    pub fn import(&self, tarball: &Path, reference: Option<&str>) -> Result<ImageId, Error> {
        let names = match reference {
            Some(r) => vec![reference::normalize(r)?],
            None => Vec::new(),
        };
        let _lock = self.lock()?;
        let res = self.import_locked(tarball, &names);
        self.undo_on_error(res)
    }

    fn import_locked(&self, tarball: &Path, names: &[String]) -> Result<ImageId, Error> {
        let mut file = std::io::BufReader::new(fsutil::open(tarball)?);
        let head = std::io::BufRead::fill_buf(&mut file).map_err(|source| Error::Read {
            path: tarball.to_owned(),
            source,
        })?;
        let compression = Compression::detect(head);
        let what = tarball.display().to_string();
        let (blob, blob_size) = self.put_blob(file, None, &what)?;
        let layer = self.ensure_layer(&blob, None)?;
        let platform = Platform::host();
        let config = json!({
            "created": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "architecture": platform.architecture,
            "os": platform.os,
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": [layer.diff_id.as_str()]},
            "history": [{"created_by": format!("berth import {}", tarball.display())}],
        })
        .to_string()
        .into_bytes();
        let config_digest = self.put_blob_bytes(&config, None, "image config")?;
        let manifest = build_manifest(
            (&config_digest, config.len() as u64),
            &[(blob, blob_size, compression.layer_media_type().to_owned())],
        );
        let manifest = self.put_blob_bytes(&manifest, None, "image manifest")?;
        self.register(
            Registration {
                manifest,
                index: None,
                names,
                repo_digests: Vec::new(),
            },
            &NoProgress,
        )
    }
}
