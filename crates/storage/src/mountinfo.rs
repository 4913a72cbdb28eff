//! Reading `/proc/self/mountinfo`: every mount below a directory (teardown and repair;
//! the start path asks `mountpoint` about single paths instead).

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};

use crate::error::Error;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountEntry {
    pub mount_point: PathBuf,
    pub fstype: String,
    pub source: String,
}

/// The current mount table of this process's mount namespace.
pub fn read() -> Result<Vec<MountEntry>, Error> {
    let text = std::fs::read("/proc/self/mountinfo").map_err(Error::MountTable)?;
    Ok(parse(&text))
}

/// Mount points at or below `dir`, deepest (last mounted) first: the order to unmount them.
pub fn under(table: &[MountEntry], dir: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = table
        .iter()
        .filter(|m| m.mount_point.starts_with(dir))
        .map(|m| m.mount_point.clone())
        .collect();
    found.reverse();
    found
}

fn parse(text: &[u8]) -> Vec<MountEntry> {
    text.split(|b| *b == b'\n')
        .filter_map(|line| {
            let fields: Vec<&[u8]> = line.split(|b| *b == b' ').collect();
            // id parent maj:min root mount-point options [optional...] - fstype source superopts
            let sep = fields.iter().position(|f| *f == b"-")?;
            let mount_point = fields.get(4)?;
            let fstype = fields.get(sep + 1)?;
            let source = fields.get(sep + 2)?;
            Some(MountEntry {
                mount_point: PathBuf::from(OsString::from_vec(unescape(mount_point))),
                fstype: String::from_utf8_lossy(&unescape(fstype)).into_owned(),
                source: String::from_utf8_lossy(&unescape(source)).into_owned(),
            })
        })
        .collect()
}

/// Undo the kernel's octal escaping of space, tab, newline and backslash.
fn unescape(field: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(field.len());
    let mut i = 0;
    while i < field.len() {
        if field[i] == b'\\' && i + 4 <= field.len() {
            let digits = &field[i + 1..i + 4];
            if digits.iter().all(|d| (b'0'..=b'7').contains(d)) {
                let value = digits
                    .iter()
                    .fold(0u32, |acc, d| acc * 8 + u32::from(d - b'0'));
                if let Ok(byte) = u8::try_from(value) {
                    out.push(byte);
                    i += 4;
                    continue;
                }
            }
        }
        out.push(field[i]);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_escaped_mount_points() {
        let text = b"27 1 254:0 / / rw,relatime - ext4 /dev/vda rw\n\
            90 27 0:50 / /tmp/a\\040b/merged rw shared:5 - overlay berth-x rw,lowerdir=/\n";
        let table = parse(text);
        assert_eq!(table.len(), 2);
        assert_eq!(table[1].mount_point, Path::new("/tmp/a b/merged"));
        assert_eq!(table[1].fstype, "overlay");
        assert_eq!(table[1].source, "berth-x");
        assert_eq!(under(&table, Path::new("/tmp/a b")).len(), 1);
    }

    #[test]
    fn keeps_truncated_escapes() {
        assert_eq!(unescape(b"a\\04"), b"a\\04");
        assert_eq!(unescape(b"\\134x"), b"\\x");
    }
}
