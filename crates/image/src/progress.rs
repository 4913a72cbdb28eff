//! Progress reporting for pulls (the CLI draws bars from these calls).

use crate::Digest;

/// Receives pull progress. Every method has an empty default.
pub trait Progress: Sync {
    /// The reference was resolved to this (platform-specific) manifest.
    fn resolved(&self, _reference: &str, _manifest: &Digest) {}
    /// A blob download starts (`size` from its descriptor).
    fn blob_started(&self, _digest: &Digest, _size: u64) {}
    /// `downloaded` bytes of a blob have arrived so far.
    fn blob_progress(&self, _digest: &Digest, _downloaded: u64) {}
    /// A blob was already in the store and is not downloaded.
    fn blob_exists(&self, _digest: &Digest) {}
    /// A blob was downloaded and verified.
    fn blob_done(&self, _digest: &Digest) {}
    /// A layer was unpacked (or found unpacked).
    fn layer_ready(&self, _diff_id: &Digest) {}
}

/// Reports nothing.
pub struct NoProgress;

impl Progress for NoProgress {}
