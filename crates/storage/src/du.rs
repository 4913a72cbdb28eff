//! Disk usage of a directory tree (for containers without a quota'd file system): the
//! blocks allocated to each inode, hard links counted once, other file systems skipped.

use std::collections::HashSet;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use crate::error::Error;

pub fn disk_usage(dir: &Path) -> Result<u64, Error> {
    let err = |path: &Path, source| Error::Measure {
        path: path.to_owned(),
        source,
    };
    let top = std::fs::symlink_metadata(dir).map_err(|e| err(dir, e))?;
    let dev = top.dev();
    let mut seen = HashSet::new();
    let mut total = 0u64;
    let mut stack = vec![(dir.to_owned(), top)];
    while let Some((path, meta)) = stack.pop() {
        if meta.dev() != dev || !seen.insert(meta.ino()) {
            continue;
        }
        total += meta.blocks() * 512;
        if meta.is_dir() {
            for entry in std::fs::read_dir(&path).map_err(|e| err(&path, e))? {
                let entry = entry.map_err(|e| err(&path, e))?;
                let child = entry.path();
                let meta = entry.metadata().map_err(|e| err(&child, e))?;
                stack.push((child, meta));
            }
        }
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::disk_usage;

    #[test]
    fn counts_hard_links_once() {
        let dir = std::env::temp_dir().join(format!("berth-test-du-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        std::fs::write(dir.join("sub/a"), vec![1u8; 1 << 20]).unwrap();
        let one = disk_usage(&dir).unwrap();
        std::fs::hard_link(dir.join("sub/a"), dir.join("b")).unwrap();
        let linked = disk_usage(&dir).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(one >= 1 << 20, "{one}");
        assert!(linked - one < 64 << 10, "{one} -> {linked}");
    }
}
