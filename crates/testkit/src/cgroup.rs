//! A private cgroup v1 directory per controller for the test process.
//!
//! Relative `cgroupsPath`s are resolved by runtimes against the cgroup of the process that
//! runs them. Moving the test process into a fresh cgroup of ours first makes those land under
//! `/<berth-test-...>/` instead of under whatever the machine put the test in (here the memory
//! cgroup `/process_api/...`, which belongs to the machine).

use std::fs;
use std::path::{Path, PathBuf};

use crate::{unique, TestkitError};

/// One mounted cgroup hierarchy, from /proc/self/mountinfo.
pub(crate) struct CgroupMount {
    pub(crate) path: PathBuf,
    /// The v1 controllers (or `name=...`) bound to it; empty for cgroup2.
    pub(crate) controllers: Vec<String>,
}

/// Mount options of a cgroup v1 super block that are not controllers.
const NOT_CONTROLLERS: &[&str] = &[
    "rw",
    "ro",
    "relatime",
    "noatime",
    "nosuid",
    "nodev",
    "noexec",
    "xattr",
    "noprefix",
    "clone_children",
    "cpuset_v2_mode",
    "favordynmods",
];

/// Every cgroup (v1 and v2) mount point of this mount namespace.
pub(crate) fn cgroup_mounts() -> Vec<CgroupMount> {
    let Ok(info) = fs::read_to_string("/proc/self/mountinfo") else {
        return Vec::new();
    };
    info.lines().filter_map(parse_mountinfo_line).collect()
}

fn parse_mountinfo_line(line: &str) -> Option<CgroupMount> {
    let (left, right) = line.split_once(" - ")?;
    let mount_point = left.split(' ').nth(4)?;
    let mut right = right.split(' ');
    let fstype = right.next()?;
    let _source = right.next()?;
    let super_opts = right.next().unwrap_or("");
    let controllers = match fstype {
        "cgroup" => super_opts
            .split(',')
            .filter(|o| !NOT_CONTROLLERS.contains(o) && !o.starts_with("release_agent="))
            .map(String::from)
            .collect(),
        "cgroup2" => Vec::new(),
        _ => return None,
    };
    Some(CgroupMount {
        path: PathBuf::from(mount_point),
        controllers,
    })
}

/// The cgroup of `pid` in the hierarchy whose controllers are `controllers`, relative to the
/// hierarchy root (`/proc/<pid>/cgroup` lines are `id:controllers:path`).
fn cgroup_of(pid: u32, controllers: &[String]) -> Result<String, TestkitError> {
    let path = PathBuf::from(format!("/proc/{pid}/cgroup"));
    let content =
        fs::read_to_string(&path).map_err(|source| TestkitError::Read { path, source })?;
    for line in content.lines() {
        let mut parts = line.splitn(3, ':');
        let (_, Some(list), Some(cgroup)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        let mut listed: Vec<&str> = list.split(',').filter(|c| !c.is_empty()).collect();
        let mut wanted: Vec<&str> = controllers.iter().map(String::as_str).collect();
        listed.sort_unstable();
        wanted.sort_unstable();
        if listed == wanted {
            return Ok(cgroup.to_string());
        }
    }
    Err(TestkitError::NoCgroupOf {
        pid,
        controller: controllers.join(","),
    })
}

struct Entry {
    /// The hierarchy's v1 controllers; empty for cgroup2.
    controllers: Vec<String>,
    /// Our directory, `<mount>/<name>`.
    dir: PathBuf,
    /// Where the process was before: `<mount>/<its cgroup>`.
    original: PathBuf,
}

/// A fresh cgroup `/<berth-test-...>` under every mounted cgroup hierarchy (v1 controllers,
/// named v1 hierarchies and a hybrid host's cgroup2 tree), holding the given
/// process. On drop the processes in it are moved back to where that process came from and
/// the directories (with any empty children a runtime left) are removed.
pub struct TestCgroup {
    name: String,
    pid: u32,
    entries: Vec<Entry>,
}

impl TestCgroup {
    /// Move the calling (test) process; its children inherit the cgroup.
    pub fn for_current_process() -> Result<TestCgroup, TestkitError> {
        Self::for_process(std::process::id())
    }

    /// Move process `pid` (all its threads).
    pub fn for_process(pid: u32) -> Result<TestCgroup, TestkitError> {
        let mut cgroup = TestCgroup {
            name: unique("berth-test-cg"),
            pid,
            entries: Vec::new(),
        };
        // On error, `cgroup` drops here and undoes the hierarchies already done.
        // Every hierarchy, v1 controllers, named v1 (name=systemd) and the hybrid cgroup2 one:
        // runtimes place containers in all of them.
        for mount in cgroup_mounts() {
            let original = mount
                .path
                .join(cgroup_of(pid, &mount.controllers)?.trim_start_matches('/'));
            let dir = mount.path.join(&cgroup.name);
            fs::create_dir(&dir).map_err(|source| TestkitError::CreateDir {
                path: dir.clone(),
                source,
            })?;
            cgroup.entries.push(Entry {
                controllers: mount.controllers.clone(),
                dir: dir.clone(),
                original,
            });
            if mount.controllers.iter().any(|c| c == "cpuset") {
                // A new v1 cpuset is empty and refuses tasks until cpus and mems are set.
                for file in ["cpuset.cpus", "cpuset.mems"] {
                    copy_file(&mount.path.join(file), &dir.join(file))?;
                }
            }
            write_pid(&dir, pid)?;
        }
        Ok(cgroup)
    }

    /// The directory name (`berth-test-cg-...`), the same under every controller.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The pid this cgroup was made for.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Our directories, one per hierarchy (`/sys/fs/cgroup/memory/berth-test-cg-...`, ...).
    pub fn dirs(&self) -> impl Iterator<Item = &Path> {
        self.entries.iter().map(|e| e.dir.as_path())
    }

    /// Our directory in the v1 hierarchy that holds `controller` (`memory`, `cpu`,
    /// `name=systemd`, ...).
    pub fn dir(&self, controller: &str) -> Option<&Path> {
        self.entries
            .iter()
            .find(|e| e.controllers.iter().any(|c| c == controller))
            .map(|e| e.dir.as_path())
    }

    /// Our directory in the cgroup2 hierarchy (on this hybrid host `/sys/fs/cgroup/unified`).
    pub fn unified_dir(&self) -> Option<&Path> {
        self.entries
            .iter()
            .find(|e| e.controllers.is_empty())
            .map(|e| e.dir.as_path())
    }
}

fn copy_file(from: &Path, to: &Path) -> Result<(), TestkitError> {
    let value = fs::read_to_string(from).map_err(|source| TestkitError::Read {
        path: from.to_path_buf(),
        source,
    })?;
    fs::write(to, value.trim()).map_err(|source| TestkitError::Write {
        path: to.to_path_buf(),
        source,
    })
}

fn write_pid(dir: &Path, pid: u32) -> Result<(), TestkitError> {
    let path = dir.join("cgroup.procs");
    fs::write(&path, pid.to_string()).map_err(|source| TestkitError::MovePid { pid, path, source })
}

/// rmdir `dir` after its empty descendants (children first); errors are left for the caller
/// to notice as leftovers, never hidden by force.
fn remove_tree(dir: &Path) {
    if let Ok(children) = fs::read_dir(dir) {
        for child in children.flatten() {
            if child.file_type().is_ok_and(|t| t.is_dir()) {
                remove_tree(&child.path());
            }
        }
    }
    let _ = fs::remove_dir(dir);
}

impl Drop for TestCgroup {
    fn drop(&mut self) {
        for entry in self.entries.iter().rev() {
            if let Ok(procs) = fs::read_to_string(entry.dir.join("cgroup.procs")) {
                for pid in procs.lines().filter_map(|l| l.trim().parse::<u32>().ok()) {
                    let _ = write_pid(&entry.original, pid);
                }
            }
            remove_tree(&entry.dir);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_v1_and_v2_mountinfo_lines() {
        let v1 = "32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu";
        let m = parse_mountinfo_line(v1).unwrap();
        assert_eq!(m.path, Path::new("/sys/fs/cgroup/cpu"));
        assert_eq!(m.controllers, ["cpu"]);
        let both = "32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct";
        assert_eq!(
            parse_mountinfo_line(both).unwrap().controllers,
            ["cpu", "cpuacct"]
        );
        let named = "40 31 0:37 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,name=systemd";
        let named = parse_mountinfo_line(named).unwrap();
        assert_eq!(named.controllers, ["name=systemd"]);
        let v2 = "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw";
        let m = parse_mountinfo_line(v2).unwrap();
        assert!(m.controllers.is_empty());
        assert!(parse_mountinfo_line("23 1 0:5 / /proc rw - proc proc rw").is_none());
    }

    #[test]
    fn moves_a_process_in_and_back_out() {
        crate::require_root();
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let pid = child.id();
        let before = fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();

        let cgroup = TestCgroup::for_process(pid).unwrap();
        let dirs: Vec<PathBuf> = cgroup.dirs().map(Path::to_path_buf).collect();
        assert!(dirs.len() >= 5, "one dir per hierarchy: {dirs:?}");
        let unified = cgroup
            .unified_dir()
            .expect("the hybrid host's cgroup2 tree");
        let procs = fs::read_to_string(unified.join("cgroup.procs")).unwrap();
        assert!(
            procs.lines().any(|l| l == pid.to_string()),
            "unified: {procs}"
        );
        let inside = fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
        for controller in ["memory", "pids", "cpuset", "devices"] {
            let dir = cgroup.dir(controller).unwrap();
            let procs = fs::read_to_string(dir.join("cgroup.procs")).unwrap();
            assert!(
                procs.lines().any(|l| l == pid.to_string()),
                "{controller}: {procs}"
            );
            assert!(
                inside.contains(&format!("{controller}:/{}", cgroup.name())),
                "{inside}"
            );
        }

        drop(cgroup);
        let after = fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
        assert_eq!(before, after, "moved back where it was");
        for dir in dirs {
            assert!(!dir.exists(), "{} removed", dir.display());
        }
        child.kill().unwrap();
        child.wait().unwrap();
    }
}
