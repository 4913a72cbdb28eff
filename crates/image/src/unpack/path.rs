//! Lexical checks on tar entry names and link targets, done before anything touches the disk.

/// Splits an entry name into its components. Refuses absolute names and `..`: a tar made
/// from a file system never needs either, and a hostile one uses them to climb out.
pub(crate) fn components(raw: &[u8]) -> Result<Vec<&[u8]>, &'static str> {
    if raw.first() == Some(&b'/') {
        return Err("absolute path");
    }
    let mut out = Vec::new();
    for c in raw.split(|&b| b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => return Err("path contains '..'"),
            c => out.push(c),
        }
    }
    Ok(out)
}

/// Whether a symlink stored at depth `parent_depth` (number of directories above it inside
/// the layer) with this target climbs above the image root when resolved lexically.
/// Absolute targets are fine: the container resolves them against its own root.
pub(crate) fn symlink_escapes(parent_depth: usize, target: &[u8]) -> bool {
    let mut depth: i64 = if target.first() == Some(&b'/') {
        0
    } else {
        parent_depth as i64
    };
    for c in target.split(|&b| b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => {
                depth -= 1;
                if depth < 0 {
                    return true;
                }
            }
            _ => depth += 1,
        }
    }
    false
}

pub(crate) fn join(comps: &[&[u8]]) -> Vec<u8> {
    comps.join(&b'/')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn components_refuse_climbing_and_absolute() {
        assert_eq!(
            components(b"./a//b/./c").unwrap(),
            vec![&b"a"[..], b"b", b"c"]
        );
        assert!(components(b"/etc/passwd").is_err());
        assert!(components(b"a/../../x").is_err());
        assert!(components(b"..").is_err());
        assert!(components(b"./").unwrap().is_empty());
    }

    #[test]
    fn symlink_escape_is_lexical_from_entry_dir() {
        assert!(!symlink_escapes(0, b"/etc/passwd"));
        assert!(!symlink_escapes(2, b"../../lib/x"));
        assert!(symlink_escapes(2, b"../../../etc"));
        assert!(symlink_escapes(0, b".."));
        assert!(symlink_escapes(0, b"/.."));
        assert!(!symlink_escapes(1, b"a/../b"));
    }
}
