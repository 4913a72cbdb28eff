//! runc's interpretation of `linux.cgroupsPath`.

use crate::Error;

/// A cleaned cgroupsPath.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CgroupPath {
    /// "/a/b": below the root of every hierarchy.
    Absolute(String),
    /// "a/b": below the calling process's own cgroup, per hierarchy.
    Relative(String),
}

/// Resolves the configured path: absolute paths are kept, relative ones are made unable
/// to climb out with "..", an empty path becomes `id` (relative, as runc does), and the
/// systemd forms are refused.
pub fn resolve(cgroups_path: Option<&str>, id: &str, systemd: bool) -> Result<CgroupPath, Error> {
    let raw = cgroups_path.unwrap_or("");
    if systemd || looks_like_systemd(raw) {
        return Err(Error::SystemdUnsupported {
            path: raw.to_string(),
        });
    }
    let raw = if raw.is_empty() { id } else { raw };
    let cleaned = clean(raw);
    if cleaned.is_empty() {
        return Err(Error::InvalidValue {
            knob: "cgroupsPath",
            value: raw.to_string(),
            reason: "names no cgroup below its parent",
        });
    }
    if raw.starts_with('/') {
        Ok(CgroupPath::Absolute(format!("/{cleaned}")))
    } else {
        Ok(CgroupPath::Relative(cleaned))
    }
}

/// "slice:prefix:name" (systemd's form): exactly three colon-separated parts and no '/'.
fn looks_like_systemd(p: &str) -> bool {
    !p.contains('/') && p.split(':').count() == 3
}

/// Lexically cleans a path as if it were rooted at "/", so ".." can never leave the root:
/// returns the components joined by '/', without leading or trailing '/'.
pub fn clean(p: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    parts.join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absolute_relative_and_default() {
        assert_eq!(
            resolve(Some("/a/b"), "id", false).unwrap(),
            CgroupPath::Absolute("/a/b".into())
        );
        assert_eq!(
            resolve(Some("a/b/"), "id", false).unwrap(),
            CgroupPath::Relative("a/b".into())
        );
        assert_eq!(
            resolve(None, "ctr1", false).unwrap(),
            CgroupPath::Relative("ctr1".into())
        );
        assert_eq!(
            resolve(Some(""), "ctr1", false).unwrap(),
            CgroupPath::Relative("ctr1".into())
        );
    }

    #[test]
    fn dotdot_cannot_escape() {
        assert_eq!(
            resolve(Some("../../etc"), "id", false).unwrap(),
            CgroupPath::Relative("etc".into())
        );
        assert_eq!(
            resolve(Some("/../../x/./y/../z"), "id", false).unwrap(),
            CgroupPath::Absolute("/x/z".into())
        );
        assert!(resolve(Some("/.."), "id", false).is_err());
        assert!(resolve(Some("a/../.."), "id", false).is_err());
    }

    #[test]
    fn systemd_forms_are_refused() {
        let e = resolve(Some("system.slice:docker:abc"), "id", false).unwrap_err();
        assert!(e
            .to_string()
            .contains("systemd cgroup driver is not supported yet"));
        assert!(matches!(
            resolve(Some("/a"), "id", true),
            Err(Error::SystemdUnsupported { .. })
        ));
    }
}
