//! One error type for the image store: one variant per failing step, carrying the path,
//! entry or digest involved so that the message alone tells a user what went wrong.

use std::io;
use std::path::PathBuf;

/// Everything that can fail in the image store.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("create directory {path}: {source}")]
    CreateDir { path: PathBuf, source: io::Error },
    #[error("lock image store {path}: {source}")]
    Lock { path: PathBuf, source: io::Error },
    #[error("open {path}: {source}")]
    Open { path: PathBuf, source: io::Error },
    #[error("read {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("write {path}: {source}")]
    Write { path: PathBuf, source: io::Error },
    #[error("sync {path}: {source}")]
    Sync { path: PathBuf, source: io::Error },
    #[error("rename {from} to {to}: {source}")]
    Rename {
        from: PathBuf,
        to: PathBuf,
        source: io::Error,
    },
    #[error("store {what} in {path}: {source}")]
    CopyBlob {
        what: String,
        path: PathBuf,
        source: io::Error,
    },
    #[error("remove {path}: {source}")]
    Remove { path: PathBuf, source: io::Error },
    #[error("parse {what} {path}: {source}")]
    ParseJson {
        what: &'static str,
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("encode {what}: {source}")]
    EncodeJson {
        what: &'static str,
        source: serde_json::Error,
    },

    #[error("{what} is {size} bytes, more than the {limit} accepted for a manifest or config")]
    JsonTooLarge { what: String, size: u64, limit: u64 },
    #[error("invalid digest {0:?}: expected sha256:<64 hex digits>")]
    InvalidDigest(String),
    #[error("digest mismatch for {what}: expected {expected}, got {actual}")]
    DigestMismatch {
        what: String,
        expected: String,
        actual: String,
    },
    #[error("diff-id mismatch for layer {layer}: config says {expected}, uncompressed content is {actual}")]
    DiffIdMismatch {
        layer: String,
        expected: String,
        actual: String,
    },
    #[error("size mismatch for blob {digest}: descriptor says {expected} bytes, got {actual}")]
    SizeMismatch {
        digest: String,
        expected: u64,
        actual: u64,
    },
    #[error(
        "image {image}: manifest lists {manifest} layers but the config lists {config} diff-ids"
    )]
    LayerCountMismatch {
        image: String,
        manifest: usize,
        config: usize,
    },
    #[error("unsupported media type {media_type} for {what}")]
    UnsupportedMediaType { what: String, media_type: String },

    #[error("invalid image reference {reference:?}: {reason}")]
    InvalidReference { reference: String, reason: String },
    #[error("no such image: {0}")]
    NotFound(String),
    #[error("image id prefix {0} is ambiguous")]
    AmbiguousId(String),
    #[error("image {reference} ({id}) is in use by a container (use force)")]
    InUse { reference: String, id: String },
    #[error("image {id} is referenced by several tags ({tags}): remove them by name or use force")]
    MultipleTags { id: String, tags: String },

    #[error("layer entry {entry:?}: {reason}")]
    EntryPath { entry: String, reason: &'static str },
    #[error("layer entry {entry:?}: {kind} target {target:?} points outside the layer")]
    EntryEscapes {
        entry: String,
        kind: &'static str,
        target: String,
    },
    #[error(
        "layer entry {entry:?}: path goes through a symbolic link or non-directory ({reason})"
    )]
    ThroughLink { entry: String, reason: io::Error },
    #[error("layer entry {entry:?}: device nodes are refused in images")]
    DeviceNode { entry: String },
    #[error("layer entry {entry:?}: unsupported tar entry type {kind}")]
    UnsupportedEntry { entry: String, kind: String },
    #[error("layer entry {entry:?}: {step}: {source}")]
    EntryIo {
        entry: String,
        step: &'static str,
        source: io::Error,
    },
    #[error("layer has more than {limit} entries (tar bomb?)")]
    TooManyEntries { limit: u64 },
    #[error("layer unpacks to more than {limit} bytes (at entry {entry:?}; tar bomb?)")]
    TooLarge { limit: u64, entry: String },
    #[error("read tar stream of {what}: {source}")]
    TarRead { what: String, source: io::Error },

    #[error("registry request for {reference}: {source}")]
    Registry {
        reference: String,
        source: Box<oci_client::errors::OciDistributionError>,
    },
    #[error("image index {reference} has no manifest for platform {platform}")]
    NoMatchingPlatform { reference: String, platform: String },
    #[error("docker config {path}: {reason}")]
    DockerConfig { path: PathBuf, reason: String },

    #[error("archive {path}: {reason}")]
    Archive { path: PathBuf, reason: String },
    #[error("archive {path} has no entry {entry}")]
    ArchiveMissing { path: PathBuf, entry: String },
}

impl Error {
    pub(crate) fn entry_io(entry: &str, step: &'static str, source: impl Into<io::Error>) -> Self {
        Error::EntryIo {
            entry: entry.to_owned(),
            step,
            source: source.into(),
        }
    }
}
