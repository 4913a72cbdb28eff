//! `berth pull`: fetch an image from a registry (oci-client), verify every blob, register it.

mod auth;
mod platform;

use std::net::IpAddr;

use futures_util::{stream, StreamExt, TryStreamExt};
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::manifest::OciDescriptor;
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use oci_spec::image::ImageIndex;
use tokio::io::AsyncWriteExt;

pub(crate) use platform::select as select_platform;
pub use platform::Platform;

use crate::digest::HashingAsyncWriter;
use crate::lock::FileLock;
use crate::progress::Progress;
use crate::reference;
use crate::register::{parse_manifest, Registration};
use crate::store::Store;
use crate::{Digest, Error, ImageId};

const PARALLEL_DOWNLOADS: usize = 4;

const ACCEPTED: &[&str] = &[
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
];

/// Options for [`Store::pull`].
#[derive(Clone, Debug, Default)]
pub struct PullOptions {
    /// Use plain HTTP for this registry (`--insecure`). Loopback registries
    /// (127.0.0.0/8, ::1, localhost) always use plain HTTP.
    pub insecure: bool,
    /// Platform to pick from a multi-arch index; the host's by default.
    pub platform: Option<Platform>,
}

fn is_loopback(registry: &str) -> bool {
    let host = if let Some(rest) = registry.strip_prefix('[') {
        rest.split(']').next().unwrap_or(rest)
    } else {
        registry.split(':').next().unwrap_or(registry)
    };
    host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

fn is_index(data: &[u8]) -> bool {
    #[derive(serde::Deserialize)]
    struct Probe {
        #[serde(rename = "mediaType")]
        media_type: Option<String>,
        manifests: Option<serde_json::Value>,
    }
    serde_json::from_slice::<Probe>(data).is_ok_and(|p| {
        p.manifests.is_some()
            || p.media_type
                .as_deref()
                .is_some_and(|m| m.contains("index") || m.contains("list"))
    })
}

struct Puller<'a> {
    client: Client,
    auth: RegistryAuth,
    reference: Reference,
    store: &'a Store,
    progress: &'a dyn Progress,
}

impl Puller<'_> {
    fn registry_error(&self, e: oci_client::errors::OciDistributionError) -> Error {
        Error::Registry {
            reference: self.reference.whole(),
            source: Box::new(e),
        }
    }

    /// Fetches a manifest (by the reference's tag or by `digest`), verifies its digest and
    /// stores it. Returns its digest.
    async fn manifest(&self, digest: Option<&Digest>) -> Result<(Digest, Vec<u8>), Error> {
        let r = match digest {
            Some(d) => self.reference.clone_with_digest(d.to_string()),
            None => self.reference.clone(),
        };
        let (body, claimed) = self
            .client
            .pull_manifest_raw(&r, &self.auth, ACCEPTED)
            .await
            .map_err(|e| self.registry_error(e))?;
        crate::blobs::check_json_size(&format!("manifest of {}", r.whole()), body.len() as u64)?;
        let actual = Digest::of(&body);
        let expected = match (digest, r.digest()) {
            (Some(d), _) => Some(d.clone()),
            (None, Some(d)) => Some(Digest::parse(d)?),
            (None, None) => Digest::parse(&claimed).ok(),
        };
        if let Some(expected) = expected {
            if expected != actual {
                return Err(Error::DigestMismatch {
                    what: format!("manifest of {}", r.whole()),
                    expected: expected.to_string(),
                    actual: actual.to_string(),
                });
            }
        }
        self.store
            .put_blob_bytes(&body, Some(&actual), &format!("manifest of {}", r.whole()))?;
        Ok((actual, body.to_vec()))
    }

    /// Downloads one blob unless already stored; verifies digest and size.
    async fn blob(&self, digest: &Digest, size: u64, media_type: &str) -> Result<(), Error> {
        if self.store.has_blob(digest) {
            self.progress.blob_exists(digest);
            return Ok(());
        }
        self.progress.blob_started(digest, size);
        let tmp = self.store.temp_path("download");
        let write_err = |source| Error::Write {
            path: tmp.path().to_owned(),
            source,
        };
        let file = tokio::fs::File::create(tmp.path())
            .await
            .map_err(write_err)?;
        let progress = self.progress;
        let mut out = HashingAsyncWriter::new(file, size, |n| progress.blob_progress(digest, n));
        let desc = OciDescriptor {
            media_type: media_type.to_owned(),
            digest: digest.to_string(),
            size: i64::try_from(size).unwrap_or(i64::MAX),
            ..Default::default()
        };
        self.client
            .pull_blob(&self.reference, &desc, &mut out)
            .await
            .map_err(|e| self.registry_error(e))?;
        out.flush().await.map_err(write_err)?;
        let (file, actual, len) = out.finish();
        let file = file.into_std().await;
        // oci-client checks the digest too; the store checks again, with the size.
        self.store.put_downloaded_blob(
            tmp,
            &file,
            (actual, len),
            (digest, Some(size)),
            &format!("blob {digest}"),
        )?;
        self.progress.blob_done(digest);
        Ok(())
    }
}

impl Store {
    /// Pulls `reference` (e.g. `busybox`, `127.0.0.1:5000/app:1`, `repo@sha256:...`).
    /// Credentials come from the docker config (`$DOCKER_CONFIG` or `~/.docker`), bearer
    /// tokens are fetched by oci-client. A multi-arch index is resolved to `opts.platform`
    /// or the host's. Every blob is verified against its digest before it is stored, every
    /// layer against its diff-id when unpacked. Blocking disk work (unpacking) runs on the
    /// calling task.
    pub async fn pull(
        &self,
        reference: &str,
        opts: &PullOptions,
        progress: &dyn Progress,
    ) -> Result<ImageId, Error> {
        let r = reference::parse(reference)?;
        let registry = r.resolve_registry().to_owned();
        let auth = auth::auth_for(r.registry(), self.docker_config.as_deref())?;
        let protocol = if opts.insecure || is_loopback(&registry) {
            ClientProtocol::HttpsExcept(vec![registry.clone()])
        } else {
            ClientProtocol::Https
        };
        let client = Client::try_from(ClientConfig {
            protocol,
            platform_resolver: None,
            ..Default::default()
        })
        .map_err(|e| Error::Registry {
            reference: r.whole(),
            source: Box::new(e),
        })?;
        let lock_path = self.lock_path();
        // Shared: pulls only add content-addressed files, so several run at once; removal
        // and clean-up wait. flock blocks: keep it off the async worker threads.
        let lock = tokio::task::spawn_blocking(move || FileLock::acquire_shared(&lock_path))
            .await
            .map_err(|e| Error::Lock {
                path: self.lock_path(),
                source: std::io::Error::other(e),
            })??;
        let res = self.pull_locked(client, auth, r, opts, progress).await;
        drop(lock);
        if res.is_err() {
            // Drop what this pull stored, if no other writer is busy; else prune will.
            if let Ok(Some(_lock)) = FileLock::try_acquire(&self.lock_path()) {
                return self.undo_on_error(res);
            }
        }
        res
    }

    async fn pull_locked(
        &self,
        client: Client,
        auth: RegistryAuth,
        r: Reference,
        opts: &PullOptions,
        progress: &dyn Progress,
    ) -> Result<ImageId, Error> {
        let puller = Puller {
            client,
            auth,
            reference: r.clone(),
            store: self,
            progress,
        };
        let (top, body) = puller.manifest(None).await?;
        let (index, manifest, body) = if is_index(&body) {
            let idx: ImageIndex =
                serde_json::from_slice(&body).map_err(|source| Error::ParseJson {
                    what: "image index",
                    path: top.as_str().into(),
                    source,
                })?;
            let want = opts.platform.clone().unwrap_or_else(Platform::host);
            let chosen =
                platform::select(&idx, &want).ok_or_else(|| Error::NoMatchingPlatform {
                    reference: r.whole(),
                    platform: want.to_string(),
                })?;
            let chosen = Digest::parse(chosen.digest().as_ref())?;
            let (d, b) = puller.manifest(Some(&chosen)).await?;
            (Some(top.clone()), d, b)
        } else {
            (None, top.clone(), body)
        };
        progress.resolved(&r.whole(), &manifest);
        let m = parse_manifest(&body, &manifest)?;
        let mut wanted = Vec::new();
        crate::blobs::check_json_size(
            &format!("config {}", m.config().digest()),
            m.config().size(),
        )?;
        for desc in std::iter::once(m.config()).chain(m.layers()) {
            let digest = Digest::parse(desc.digest().as_ref())?;
            wanted.push((digest, desc.size(), desc.media_type().to_string()));
        }
        // Blobs download concurrently (each verified on its own); the shared lock keeps
        // clean-up and garbage collection away meanwhile.
        let p = &puller;
        stream::iter(wanted)
            .map(|(digest, size, media_type)| async move {
                p.blob(&digest, size, &media_type).await
            })
            .buffer_unordered(PARALLEL_DOWNLOADS)
            .try_collect::<Vec<()>>()
            .await?;
        let names = if r.digest().is_none() {
            vec![r.whole()]
        } else {
            Vec::new()
        };
        self.register(
            Registration {
                manifest,
                index,
                names: &names,
                repo_digests: vec![format!("{}@{}", reference::repository(&r), top)],
            },
            progress,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The manager spawns pulls on a multi-threaded runtime: the future must be Send.
    /// (Checked at compile time; the body only builds the future.)
    #[test]
    fn pull_future_is_send() {
        fn assert_send<T: Send>(_: &T) {}
        let dir =
            std::env::temp_dir().join(format!("berth-test-image-send-{}", std::process::id()));
        let store = Store::open(&dir).unwrap();
        let opts = PullOptions::default();
        let fut = store.pull("busybox", &opts, &crate::NoProgress);
        assert_send(&fut);
        drop(fut);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn loopback_registries_are_recognised() {
        assert!(is_loopback("127.0.0.1:5000"));
        assert!(is_loopback("localhost:5000"));
        assert!(is_loopback("[::1]:5000"));
        assert!(!is_loopback("registry.example:5000"));
        assert!(!is_loopback("docker.io"));
    }
}
