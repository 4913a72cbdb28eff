//! berth-image: the OCI image store.
//!
//! Layout under the store root (mode 0700, root-only: layer directories hold tenant files):
//! ```text
//! lock                    flock(2): shared by pulls and save, exclusive by the others
//! refs.lock               flock(2) around each update of refs.json / an image record
//! refs.json               { "docker.io/library/busybox:latest": "sha256:<config>" }
//! images/<id-hex>.json    one record per image (manifest, config, layers, repo digests)
//! blobs/sha256/<hex>      content-addressed blobs as pulled (manifests, configs, layers)
//! layers/<diff-id-hex>/   one unpacked layer: `diff/` (overlayfs lower dir) + meta.json
//! tmp/                    work in progress; emptied by the next open that finds no writer
//! ```
//! Everything is written to `tmp/`, synced and renamed into place, so a kill at any moment
//! leaves either the old or the new state; leftovers are unreferenced and removed by
//! [`Store::prune`]. An image's id is its config digest (as in docker). A layer is unpacked
//! once per diff-id and shared by every image that lists it.

mod archive;
mod blobs;
mod compression;
mod digest;
mod error;
mod fsutil;
mod import;
mod layers;
mod lock;
mod progress;
mod pull;
mod query;
mod record;
mod reference;
mod register;
mod remove;
mod store;
mod unpack;

pub use archive::ArchiveFormat;
pub use digest::Digest;
pub use error::Error;
pub use progress::{NoProgress, Progress};
pub use pull::{Platform, PullOptions};
pub use query::{ImageDetails, ImageSummary, LayerInfo};
pub use reference::normalize as normalize_reference;
pub use store::Store;
pub use unpack::UnpackOptions;

/// An image id: the digest of its config blob.
pub type ImageId = Digest;
