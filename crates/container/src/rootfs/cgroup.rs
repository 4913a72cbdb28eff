//! `cgroup` mounts: the container's own cgroup directories, never the host's tree.
//!
//! cgroup v2 (only a `""`/`unified` entry in `cgroup_paths`): a `cgroup2` mount when the
//! container has a cgroup namespace (it then shows the namespace root), else a bind of the
//! container's directory. v1/hybrid: a tmpfs at the destination and, per hierarchy, a bind of
//! the container's directory (or, with a cgroup namespace, a new mount of that hierarchy),
//! plus symlinks for co-mounted controllers (`cpu -> cpu,cpuacct`). All mounts carry the
//! entry's flags (`ro`, `nosuid`, ...); the tmpfs is made read-only last.

use std::collections::BTreeMap;
use std::os::fd::AsFd;
use std::path::{Component, Path, PathBuf};

use berth_sys::mount::{self as sm, attr, FsParam, MountAttr};

use super::mounts::{apply_propagation, set_flags, Entry};
use super::procguard::check_resolved_target;
use super::resolve::Root;
use super::{Error, RootfsContext};

/// Where the host mounts cgroup hierarchies.
const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// The key of the v2 (unified) hierarchy in `cgroup_paths`.
fn is_unified_key(key: &str) -> bool {
    key.is_empty() || key == "unified"
}

/// Hierarchy directory name of a host cgroup path: `/sys/fs/cgroup/cpu,cpuacct/x` ->
/// `cpu,cpuacct`; falls back to the controller name.
fn hierarchy_name(controller: &str, path: &Path) -> String {
    if is_unified_key(controller) {
        return "unified".to_owned();
    }
    match path.strip_prefix(CGROUP_ROOT) {
        Ok(rest) => match rest.components().next() {
            Some(Component::Normal(n)) => n.to_string_lossy().into_owned(),
            _ => controller.to_owned(),
        },
        Err(_) => controller.to_owned(),
    }
}

/// Hierarchies of the container: name -> (host dir, controllers mounted there).
pub fn hierarchies(paths: &BTreeMap<String, PathBuf>) -> BTreeMap<String, (PathBuf, Vec<String>)> {
    let mut out: BTreeMap<String, (PathBuf, Vec<String>)> = BTreeMap::new();
    for (ctrl, path) in paths {
        let name = hierarchy_name(ctrl, path);
        out.entry(name)
            .or_insert_with(|| (path.clone(), Vec::new()))
            .1
            .push(ctrl.clone());
    }
    out
}

/// The v1 controllers the kernel knows; any other hierarchy name is a named one.
const KNOWN_V1: &[&str] = &[
    "cpu",
    "cpuacct",
    "cpuset",
    "memory",
    "blkio",
    "pids",
    "devices",
    "freezer",
    "net_cls",
    "net_prio",
    "perf_event",
    "hugetlb",
    "rdma",
    "misc",
];

/// `fsconfig` parameters for a v1 hierarchy named like `cpu,cpuacct` or `name=systemd`.
fn v1_params(name: &str) -> Vec<FsParam> {
    let mut params = Vec::new();
    for item in name.split(',') {
        match item.split_once('=') {
            Some((k, v)) => {
                params.push(FsParam::Value(k.to_owned(), v.to_owned()));
                if k == "name" {
                    params.push(FsParam::Flag("none".to_owned()));
                }
            }
            None if KNOWN_V1.contains(&item) => params.push(FsParam::Flag(item.to_owned())),
            // A named hierarchy without controllers (`/sys/fs/cgroup/systemd`).
            None => {
                params.push(FsParam::Flag("none".to_owned()));
                params.push(FsParam::Value("name".to_owned(), item.to_owned()));
            }
        }
    }
    params
}

/// Mounts a `cgroup` entry.
pub fn mount_cgroup(ctx: &RootfsContext, root: &Root, entry: &Entry) -> Result<(), Error> {
    let pure_v2 =
        !ctx.cgroup_paths.is_empty() && ctx.cgroup_paths.keys().all(|k| is_unified_key(k));
    let target = root.mkdir_all(&entry.dst)?;
    check_resolved_target(ctx, entry, target.as_fd())?;
    if pure_v2 {
        let (_, path) = ctx
            .cgroup_paths
            .iter()
            .next()
            .ok_or_else(|| entry.mount_err(std::io::Error::from_raw_os_error(libc::ENOENT)))?;
        return mount_hierarchy(ctx, entry, "unified", path, &target);
    }
    let tmpfs_attrs = entry.opts.fsmount_attrs() & !attr::RDONLY;
    let tmpfs = sm::new_mount(
        "tmpfs",
        Some("tmpfs"),
        &[FsParam::Value("mode".into(), "755".into())],
        tmpfs_attrs,
    )
    .map_err(|e| entry.mount_err(e))?;
    sm::attach(tmpfs.as_fd(), target.as_fd()).map_err(|e| entry.mount_err(e))?;
    let dir = root.open_existing(&entry.dst, rustix::fs::OFlags::DIRECTORY)?;
    for (name, (path, controllers)) in hierarchies(ctx.cgroup_paths) {
        let sub = root.mkdir_all(&entry.dst.join(&name))?;
        mount_hierarchy(ctx, entry, &name, &path, &sub)?;
        for ctrl in controllers
            .iter()
            .filter(|c| **c != name && !is_unified_key(c))
        {
            rustix::fs::symlinkat(name.as_str(), &dir, ctrl.as_str()).map_err(|e| {
                Error::Symlink {
                    path: entry.dst.join(ctrl),
                    target: PathBuf::from(&name),
                    source: e.into(),
                }
            })?;
        }
    }
    if entry.opts.read_only() {
        let a = MountAttr {
            set: attr::RDONLY,
            clear: 0,
            propagation: 0,
        };
        sm::set_attr(tmpfs.as_fd(), &a, false, None).map_err(|e| entry.attr_err("ro", e))?;
    }
    apply_propagation(entry, tmpfs.as_fd())
}

/// Mounts one hierarchy (`name`, host dir `path`) onto `target`.
fn mount_hierarchy(
    ctx: &RootfsContext,
    entry: &Entry,
    name: &str,
    path: &Path,
    target: &std::os::fd::OwnedFd,
) -> Result<(), Error> {
    let mnt = if ctx.cgroup_ns {
        let (fstype, params) = if name == "unified" {
            ("cgroup2", Vec::new())
        } else {
            ("cgroup", v1_params(name))
        };
        sm::new_mount(fstype, Some("cgroup"), &params, entry.opts.fsmount_attrs())
            .map_err(|e| entry.mount_err(e))?
    } else {
        let src = berth_sys::path::open_dir(path).map_err(|source| Error::Open {
            path: path.to_path_buf(),
            source,
        })?;
        let mnt =
            sm::clone_tree(src.as_fd(), Path::new(""), false).map_err(|e| entry.mount_err(e))?;
        set_flags(entry, mnt.as_fd())?;
        mnt
    };
    sm::attach(mnt.as_fd(), target.as_fd()).map_err(|e| entry.mount_err(e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_comounted_controllers() {
        let mut m = BTreeMap::new();
        m.insert(
            "cpu".to_owned(),
            PathBuf::from("/sys/fs/cgroup/cpu,cpuacct/c1"),
        );
        m.insert(
            "cpuacct".to_owned(),
            PathBuf::from("/sys/fs/cgroup/cpu,cpuacct/c1"),
        );
        m.insert("pids".to_owned(), PathBuf::from("/sys/fs/cgroup/pids/c1"));
        m.insert(
            "unified".to_owned(),
            PathBuf::from("/sys/fs/cgroup/unified/c1"),
        );
        let h = hierarchies(&m);
        assert_eq!(h.len(), 3);
        assert_eq!(
            h["cpu,cpuacct"].1,
            vec!["cpu".to_owned(), "cpuacct".to_owned()]
        );
        assert_eq!(h["pids"].0, PathBuf::from("/sys/fs/cgroup/pids/c1"));
        assert!(h.contains_key("unified"));
    }

    #[test]
    fn v1_named_hierarchy_params() {
        assert_eq!(
            v1_params("name=systemd"),
            vec![
                FsParam::Value("name".into(), "systemd".into()),
                FsParam::Flag("none".into())
            ]
        );
        assert_eq!(
            v1_params("cpu,cpuacct"),
            vec![FsParam::Flag("cpu".into()), FsParam::Flag("cpuacct".into())]
        );
    }
}
