//! Where the cgroup hierarchies are mounted, from /proc/self/mountinfo.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::{fsutil, Error};

/// One mounted cgroup hierarchy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mount {
    /// Where it is mounted, e.g. `/sys/fs/cgroup/memory`.
    pub mountpoint: PathBuf,
    /// Which cgroup of the hierarchy is visible at the mount point (field 4 of mountinfo,
    /// "/" unless a sub-tree was bind-mounted). /proc/self/cgroup paths are relative to the
    /// hierarchy root, so this prefix is stripped before joining them to `mountpoint`.
    pub root: String,
}

impl Mount {
    /// The directory of the cgroup `cgroup` (a path as /proc/<pid>/cgroup prints it).
    pub fn dir_of(&self, cgroup: &str) -> PathBuf {
        let rel = cgroup.strip_prefix(self.root.as_str()).unwrap_or(cgroup);
        join_cgroup(&self.mountpoint, rel)
    }
}

/// Joins a cgroup path ("/a/b" or "a/b") below a directory.
pub(crate) fn join_cgroup(base: &Path, cgroup: &str) -> PathBuf {
    let mut out = base.to_path_buf();
    for part in cgroup.split('/').filter(|p| !p.is_empty() && *p != ".") {
        out.push(part);
    }
    out
}

/// The cgroup mounts of this mount namespace.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Mounts {
    /// v1 controller (or named hierarchy such as "name=systemd") -> its mount. Controllers
    /// mounted together ("cpu,cpuacct") share one mount.
    pub v1: BTreeMap<String, Mount>,
    /// The cgroup2 mount, if any.
    pub v2: Option<Mount>,
}

const MOUNTINFO: &str = "/proc/self/mountinfo";

/// v1 controllers the kernel can have; super options of a `cgroup` mount are matched
/// against these (the rest are mount flags such as "rw").
const V1_CONTROLLERS: &[&str] = &[
    "cpu",
    "cpuacct",
    "cpuset",
    "memory",
    "devices",
    "freezer",
    "net_cls",
    "net_prio",
    "blkio",
    "perf_event",
    "hugetlb",
    "pids",
    "rdma",
    "misc",
];

impl Mounts {
    /// Reads /proc/self/mountinfo.
    pub fn detect() -> Result<Self, Error> {
        let content = fsutil::read(Path::new(MOUNTINFO))?;
        let mounts = Self::parse(&content);
        if mounts.v1.is_empty() && mounts.v2.is_none() {
            return Err(Error::NoCgroupMounts {
                path: PathBuf::from(MOUNTINFO),
            });
        }
        Ok(mounts)
    }

    /// A pure cgroup v2 layout with the hierarchy mounted at `mountpoint` (for nested set-ups
    /// and for exercising the v2 code on a hybrid host's /sys/fs/cgroup/unified).
    pub fn unified_at(mountpoint: impl Into<PathBuf>) -> Self {
        Mounts {
            v1: BTreeMap::new(),
            v2: Some(Mount {
                mountpoint: mountpoint.into(),
                root: "/".into(),
            }),
        }
    }

    /// Parses mountinfo text. The first mount of each hierarchy wins.
    pub fn parse(content: &str) -> Self {
        let mut mounts = Mounts::default();
        for line in content.lines() {
            let Some((left, right)) = line.split_once(" - ") else {
                continue;
            };
            let fields: Vec<&str> = left.split(' ').collect();
            let mut rfields = right.split(' ');
            let (Some(fstype), Some(_source), Some(super_opts)) =
                (rfields.next(), rfields.next(), rfields.next())
            else {
                continue;
            };
            if fields.len() < 5 {
                continue;
            }
            let mount = Mount {
                root: unescape(fields[3]),
                mountpoint: PathBuf::from(unescape(fields[4])),
            };
            match fstype {
                "cgroup2" if mounts.v2.is_none() => mounts.v2 = Some(mount),
                "cgroup" => {
                    for opt in super_opts.split(',') {
                        if V1_CONTROLLERS.contains(&opt) || opt.starts_with("name=") {
                            mounts
                                .v1
                                .entry(opt.to_string())
                                .or_insert_with(|| mount.clone());
                        }
                    }
                }
                _ => {}
            }
        }
        mounts
    }
}

/// Undoes mountinfo's octal escapes ("\040" for a space).
fn unescape(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' && i + 4 <= bytes.len() {
            let oct = &bytes[i + 1..i + 4];
            let parsed = std::str::from_utf8(oct)
                .ok()
                .and_then(|o| u8::from_str_radix(o, 8).ok());
            if let Some(v) = parsed {
                out.push(v);
                i += 4;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime shared:5 - cgroup cgroup rw,cpu,cpuacct
35 31 0:32 /docker/abc /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
50 23 0:40 / /mnt/with\\040space rw - cgroup2 cgroup2 rw
";

    #[test]
    fn parses_hybrid_mountinfo() {
        let m = Mounts::parse(HYBRID);
        assert_eq!(
            m.v1["cpu"].mountpoint,
            PathBuf::from("/sys/fs/cgroup/cpu,cpuacct")
        );
        assert_eq!(m.v1["cpuacct"], m.v1["cpu"]);
        assert_eq!(m.v1["memory"].root, "/docker/abc");
        assert!(m.v1.contains_key("name=systemd"));
        assert!(!m.v1.contains_key("rw"));
        assert!(!m.v1.contains_key("xattr"));
        let v2 = m.v2.unwrap();
        assert_eq!(v2.mountpoint, PathBuf::from("/sys/fs/cgroup/unified"));
    }

    #[test]
    fn dir_of_strips_mount_root() {
        let m = Mounts::parse(HYBRID);
        assert_eq!(
            m.v1["memory"].dir_of("/docker/abc/x"),
            PathBuf::from("/sys/fs/cgroup/memory/x")
        );
        assert_eq!(
            m.v1["cpu"].dir_of("/a/b"),
            PathBuf::from("/sys/fs/cgroup/cpu,cpuacct/a/b")
        );
    }

    #[test]
    fn unescapes_octal() {
        assert_eq!(unescape("/mnt/with\\040space"), "/mnt/with space");
        assert_eq!(unescape("/plain"), "/plain");
    }
}
