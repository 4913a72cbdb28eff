//! The cgroups a process is in, from /proc/<pid>/cgroup.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::{fsutil, Error};

/// Key under which the cgroup v2 entry ("0::/path") is stored.
pub const UNIFIED: &str = "unified";

/// controller (or "name=..." or [`UNIFIED`]) -> cgroup path, for the process `pid`
/// ("self" for the caller).
pub fn read(pid: &str) -> Result<BTreeMap<String, String>, Error> {
    let path = PathBuf::from(format!("/proc/{pid}/cgroup"));
    let content = fsutil::read(&path)?;
    parse(&content).ok_or(Error::Parse {
        path,
        content: content.chars().take(200).collect(),
    })
}

/// Parses "hierarchy-id:controller,list:path" lines.
pub fn parse(content: &str) -> Option<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for line in content.lines().filter(|l| !l.is_empty()) {
        let mut parts = line.splitn(3, ':');
        let (_id, ctrls, path) = (parts.next()?, parts.next()?, parts.next()?);
        if ctrls.is_empty() {
            out.insert(UNIFIED.to_string(), path.to_string());
        } else {
            for c in ctrls.split(',') {
                out.insert(c.to_string(), path.to_string());
            }
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_hybrid_lines() {
        let m =
            parse("9:name=systemd:/\n4:memory:/process_api/x\n2:cpu,cpuacct:/a\n0::/\n").unwrap();
        assert_eq!(m["memory"], "/process_api/x");
        assert_eq!(m["cpu"], "/a");
        assert_eq!(m["cpuacct"], "/a");
        assert_eq!(m["name=systemd"], "/");
        assert_eq!(m[UNIFIED], "/");
    }

    #[test]
    fn rejects_garbage() {
        assert!(parse("nonsense\n").is_none());
    }
}
