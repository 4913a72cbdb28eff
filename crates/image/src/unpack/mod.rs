//! Safe unpacking of one (untrusted) layer tar stream into an empty directory, converting
//! OCI whiteouts to overlayfs form.
//!
//! Policy for hostile input (tenants supply images):
//! - entry names that are absolute or contain `..` are refused;
//! - every path is resolved from the layer directory fd with openat2
//!   (`RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS`): an entry whose path
//!   goes through a symlink (even one created by an earlier entry) is refused;
//! - symlinks are stored verbatim, but one whose target climbs above the image root
//!   (`a/b -> ../../../etc`) is refused; absolute targets are fine, the container resolves
//!   them against its own root;
//! - hard links must name an earlier entry inside the layer (no `..`, no absolute path, no
//!   symlink on the way);
//! - character and block devices are REFUSED (an image has no business shipping device
//!   nodes: the runtime creates /dev itself; silently skipping would hide a hostile image);
//!   FIFOs are allowed;
//! - setuid/setgid bits and `security.capability` xattrs are STRIPPED unless
//!   [`UnpackOptions::keep_setid`]: the layer directories live on the host, where a
//!   root-owned setuid binary supplied by a tenant is a local privilege escalation waiting
//!   for any path to it; containers rarely need them (run as root in their user namespace).
//!   setgid on a directory (new files inherit its group, no privilege) is kept. The option
//!   applies when a layer is unpacked: a layer is unpacked once and then shared;
//! - only `user.*` xattrs (and `security.capability` with `keep_setid`) are applied: a tenant
//!   must not set `trusted.overlay.*` (redirects, opaque) or `security.*` labels;
//! - total regular-file bytes and entry count are capped ([`UnpackOptions`]);
//! - owners, modes and mtimes (directories' after their last entry) are preserved.
//!
//! On error the caller removes the half-unpacked directory.

mod entry;
mod fsops;
mod path;

use std::io::Read;
use std::path::Path;

use crate::digest::{Digest, HashingReader};
use crate::Error;

/// Limits and options for unpacking untrusted layers.
#[derive(Clone, Debug)]
pub struct UnpackOptions {
    /// Maximum total size of regular files in one layer.
    pub max_bytes: u64,
    /// Maximum number of tar entries in one layer.
    pub max_entries: u64,
    /// Keep setuid/setgid bits and file capabilities (off by default, see module docs).
    pub keep_setid: bool,
}

impl Default for UnpackOptions {
    fn default() -> Self {
        UnpackOptions {
            max_bytes: 16 << 30,
            max_entries: 1_000_000,
            keep_setid: false,
        }
    }
}

/// What unpacking a layer produced.
#[derive(Clone, Debug)]
pub(crate) struct UnpackStats {
    /// sha256 of the uncompressed tar stream.
    pub(crate) diff_id: Digest,
    /// Total bytes of regular files.
    pub(crate) size: u64,
}

/// Unpacks the uncompressed tar stream `reader` into the (empty) directory `dest`, then
/// syncs the file system. `what` names the layer in errors.
pub(crate) fn unpack(
    reader: impl Read,
    dest: &Path,
    opts: &UnpackOptions,
    what: &str,
) -> Result<UnpackStats, Error> {
    let root = fsops::open_root(dest)?;
    let mut archive = tar::Archive::new(HashingReader::new(reader));
    let tar_err = |source| Error::TarRead {
        what: what.to_owned(),
        source,
    };
    let mut count = 0u64;
    let mut size = 0u64;
    let mut dir_times = Vec::new();
    for item in archive.entries().map_err(tar_err)? {
        let mut item = item.map_err(tar_err)?;
        count += 1;
        if count > opts.max_entries {
            return Err(Error::TooManyEntries {
                limit: opts.max_entries,
            });
        }
        let raw = item.path_bytes().into_owned();
        let name = String::from_utf8_lossy(&raw).into_owned();
        if item.header().entry_type().is_file() {
            size = size.saturating_add(item.size());
            if size > opts.max_bytes {
                return Err(Error::TooLarge {
                    limit: opts.max_bytes,
                    entry: name,
                });
            }
        }
        entry::apply(&root, &mut item, &raw, &name, opts, &mut dir_times)?;
    }
    entry::set_dir_times(&root, &dir_times)?;
    let (diff_id, _) = archive.into_inner().finish().map_err(tar_err)?;
    // One syncfs instead of an fsync per file: measurably cheaper for layers with many
    // small files, and just as durable before the rename that publishes the layer.
    rustix::fs::syncfs(&root).map_err(|e| Error::Sync {
        path: dest.to_owned(),
        source: e.into(),
    })?;
    Ok(UnpackStats { diff_id, size })
}

/// Opens the regular file `rel` (an archive member name) inside the directory `root`,
/// refusing `..`, absolute names and any symlink on the way: an extracted archive is as
/// untrusted as a layer, and a symlink in it must not make us read a host file.
pub(crate) fn open_member(root: &Path, rel: &str) -> Result<std::fs::File, Error> {
    let comps = path::components(rel.as_bytes()).map_err(|reason| Error::EntryPath {
        entry: rel.to_owned(),
        reason,
    })?;
    let dir = fsops::open_root(root)?;
    let fd = rustix::fs::openat2(
        &dir,
        fsops::os(&path::join(&comps)),
        rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
        rustix::fs::ResolveFlags::IN_ROOT
            | rustix::fs::ResolveFlags::NO_SYMLINKS
            | rustix::fs::ResolveFlags::NO_MAGICLINKS,
    )
    .map_err(|e| Error::entry_io(rel, "open archive member", e))?;
    Ok(std::fs::File::from(fd))
}
