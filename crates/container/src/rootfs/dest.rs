//! Validation of paths inside the container (mount destinations, devices, masked paths).

use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use super::Error;

/// Longest file name the kernel accepts (`NAME_MAX`).
const NAME_MAX: usize = 255;

/// Checks a path inside the container and returns it lexically cleaned (`/a/./b/../c` ->
/// `/a/c`). Rejects relative paths, NUL bytes, components longer than 255 bytes and `..`
/// that would climb above `/`.
pub fn clean_destination(path: &Path) -> Result<PathBuf, Error> {
    let bad = |why| Error::InvalidDestination {
        path: path.to_path_buf(),
        why,
    };
    if path.as_os_str().as_bytes().contains(&0) {
        return Err(bad("contains a NUL byte"));
    }
    if !path.is_absolute() {
        return Err(bad("not absolute"));
    }
    let mut out = PathBuf::from("/");
    for c in path.components() {
        match c {
            Component::Normal(name) => {
                if name.len() > NAME_MAX {
                    return Err(bad("a component is longer than 255 bytes"));
                }
                out.push(name);
            }
            Component::ParentDir => {
                if !out.pop() {
                    return Err(bad("`..` escapes the root"));
                }
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cleans_and_accepts() {
        assert_eq!(
            clean_destination(Path::new("/a/./b/../c/")).unwrap(),
            PathBuf::from("/a/c")
        );
        assert_eq!(
            clean_destination(Path::new("/")).unwrap(),
            PathBuf::from("/")
        );
    }

    #[test]
    fn rejects_bad_paths() {
        for p in ["relative/x", "/../etc", "/a/../../b", "/a\0b"] {
            let err = clean_destination(Path::new(p)).unwrap_err();
            assert!(
                matches!(err, Error::InvalidDestination { .. }),
                "{p}: {err}"
            );
            assert!(err.to_string().contains("invalid mount destination"));
        }
        let long = format!("/{}", "x".repeat(256));
        assert!(clean_destination(Path::new(&long)).is_err());
        let ok = format!("/{}", "x".repeat(255));
        assert!(clean_destination(Path::new(&ok)).is_ok());
    }
}
