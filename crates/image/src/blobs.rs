//! The content-addressed blob store: `blobs/sha256/<hex>`, every write verified.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};

use crate::digest::HashingWriter;
use crate::fsutil;
use crate::store::Store;
use crate::{Digest, Error};

impl Store {
    pub(crate) fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.blobs_dir().join(digest.hex())
    }

    pub(crate) fn has_blob(&self, digest: &Digest) -> bool {
        self.blob_path(digest).is_file()
    }

    /// Reads a JSON blob (manifest, index, config), refusing absurd sizes: a hostile image
    /// must not make us load gigabytes into memory.
    pub(crate) fn read_blob(&self, digest: &Digest) -> Result<Vec<u8>, Error> {
        check_json_size(&digest.to_string(), self.blob_size(digest)?)?;
        fsutil::read(&self.blob_path(digest))
    }

    pub(crate) fn open_blob(&self, digest: &Digest) -> Result<BufReader<File>, Error> {
        Ok(BufReader::new(fsutil::open(&self.blob_path(digest))?))
    }

    /// Stores the stream `r`, checking it against `expected` (digest and size) when given.
    /// Nothing is stored on mismatch. `what` names the blob in errors.
    pub(crate) fn put_blob(
        &self,
        mut r: impl Read,
        expected: Option<(&Digest, Option<u64>)>,
        what: &str,
    ) -> Result<(Digest, u64), Error> {
        let tmp = self.temp_path("blob");
        let file = fsutil::create_new(tmp.path())?;
        let mut w = HashingWriter::new(file);
        io::copy(&mut r, &mut w).map_err(|source| Error::CopyBlob {
            what: what.to_owned(),
            path: tmp.path().to_owned(),
            source,
        })?;
        let (file, digest, size) = w.finish();
        self.commit_blob(tmp, &file, digest, size, expected, what)
    }

    /// Like [`Store::put_blob`] for a file already written (and hashed while written) in
    /// `tmp/` by the async pull path.
    pub(crate) fn put_downloaded_blob(
        &self,
        tmp: fsutil::TempPath,
        file: &File,
        (digest, size): (Digest, u64),
        expected: (&Digest, Option<u64>),
        what: &str,
    ) -> Result<(Digest, u64), Error> {
        self.commit_blob(tmp, file, digest, size, Some(expected), what)
    }

    pub(crate) fn put_blob_bytes(
        &self,
        data: &[u8],
        expected: Option<&Digest>,
        what: &str,
    ) -> Result<Digest, Error> {
        let (digest, _) = self.put_blob(data, expected.map(|d| (d, None)), what)?;
        Ok(digest)
    }

    fn commit_blob(
        &self,
        tmp: fsutil::TempPath,
        file: &File,
        digest: Digest,
        size: u64,
        expected: Option<(&Digest, Option<u64>)>,
        what: &str,
    ) -> Result<(Digest, u64), Error> {
        if let Some((want, want_size)) = expected {
            if *want != digest {
                return Err(Error::DigestMismatch {
                    what: what.to_owned(),
                    expected: want.to_string(),
                    actual: digest.to_string(),
                });
            }
            if let Some(want_size) = want_size.filter(|&s| s != size) {
                return Err(Error::SizeMismatch {
                    digest: digest.to_string(),
                    expected: want_size,
                    actual: size,
                });
            }
        }
        let dest = self.blob_path(&digest);
        if dest.is_file() {
            return Ok((digest, size));
        }
        fsutil::sync_file(file, tmp.path())?;
        fsutil::rename(tmp.path(), &dest)?;
        tmp.keep();
        Ok((digest, size))
    }

    /// Size of a stored blob.
    pub(crate) fn blob_size(&self, digest: &Digest) -> Result<u64, Error> {
        let path = self.blob_path(digest);
        blob_len(&path)
    }
}

fn blob_len(path: &Path) -> Result<u64, Error> {
    std::fs::metadata(path)
        .map(|m| m.len())
        .map_err(|source| Error::Read {
            path: path.to_owned(),
            source,
        })
}

/// Largest manifest, index or config accepted (the distribution spec asks registries to
/// accept manifests up to 4 MiB; configs of real images are far smaller).
pub(crate) const MAX_JSON_BLOB: u64 = 8 << 20;

pub(crate) fn check_json_size(what: &str, size: u64) -> Result<(), Error> {
    if size > MAX_JSON_BLOB {
        return Err(Error::JsonTooLarge {
            what: what.to_owned(),
            size,
            limit: MAX_JSON_BLOB,
        });
    }
    Ok(())
}
