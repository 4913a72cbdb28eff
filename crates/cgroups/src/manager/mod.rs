//! [`Manager`]: one container's cgroup on a v1, hybrid or v2 host.

mod apply;
mod cpuset;
mod freeze;
mod procs;

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::thread::sleep;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::cgpath::{self, CgroupPath};
use crate::mountinfo::{join_cgroup, Mounts};
use crate::resources::Layout;
use crate::{fsutil, proc_cgroup, Error, Hierarchy};

/// Key of the cgroup v2 directory in [`Manager::paths`] and [`SavedCgroup::paths`].
pub const UNIFIED_KEY: &str = proc_cgroup::UNIFIED;

/// What a container's state file keeps to reopen its cgroup later ([`Manager::from_saved`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedCgroup {
    pub hierarchy: Hierarchy,
    /// v1 hierarchy (controller or "name=...") -> directory; [`UNIFIED_KEY`] -> v2 directory.
    pub paths: BTreeMap<String, PathBuf>,
    /// Mount point of the cgroup2 tree, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub v2_mount: Option<PathBuf>,
    /// Controllers the cgroup2 tree offered when the container was created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub v2_controllers: Option<BTreeSet<String>>,
    #[serde(default)]
    pub rootless: bool,
}

/// One container's cgroup: a directory per v1 hierarchy and/or one cgroup v2 directory.
#[derive(Clone, Debug)]
pub struct Manager {
    hierarchy: Hierarchy,
    v1: BTreeMap<String, PathBuf>,
    v2: Option<PathBuf>,
    v2_mount: Option<PathBuf>,
    layout: Layout,
    rootless: bool,
}

fn v2_controllers(mount: &Path) -> Result<BTreeSet<String>, Error> {
    let content = fsutil::read_optional(&mount.join("cgroup.controllers"))?.unwrap_or_default();
    Ok(content.split_whitespace().map(str::to_string).collect())
}

/// Permission problems a rootless container tolerates (runc ignores them too).
pub(crate) fn rootless_ignorable(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EACCES) | Some(libc::EPERM) | Some(libc::EROFS) | Some(libc::ENOENT)
    )
}

impl Manager {
    /// The cgroup for `cgroups_path` (runc semantics, see [`crate::cgpath::resolve`]) on the
    /// cgroup mounts of this process.
    pub fn new(cgroups_path: Option<&str>, id: &str, systemd: bool) -> Result<Self, Error> {
        Self::with_mounts(&Mounts::detect()?, cgroups_path, id, systemd, false)
    }

    /// Like [`Manager::new`], for a rootless container: permission errors on create,
    /// add_process and destroy are ignored; `apply` still fails if it has something to write.
    pub fn new_rootless(
        cgroups_path: Option<&str>,
        id: &str,
        systemd: bool,
    ) -> Result<Self, Error> {
        Self::with_mounts(&Mounts::detect()?, cgroups_path, id, systemd, true)
    }

    /// The cgroup on explicitly given mounts (nested set-ups, tests).
    pub fn with_mounts(
        mounts: &Mounts,
        cgroups_path: Option<&str>,
        id: &str,
        systemd: bool,
        rootless: bool,
    ) -> Result<Self, Error> {
        let path = cgpath::resolve(cgroups_path, id, systemd)?;
        let hierarchy = match (mounts.v1.is_empty(), mounts.v2.is_some()) {
            (true, _) => Hierarchy::Unified,
            (false, true) => Hierarchy::Hybrid,
            (false, false) => Hierarchy::Legacy,
        };
        let own = match &path {
            CgroupPath::Relative(_) => Some(proc_cgroup::read("self")?),
            CgroupPath::Absolute(_) => None,
        };
        let own_of = |key: &str| -> Result<&str, Error> {
            own.as_ref()
                .and_then(|o| o.get(key))
                .map(String::as_str)
                .ok_or_else(|| Error::OwnCgroupMissing {
                    path: PathBuf::from("/proc/self/cgroup"),
                    controller: key.to_string(),
                })
        };
        let mut v1 = BTreeMap::new();
        for (key, mount) in &mounts.v1 {
            let dir = match &path {
                CgroupPath::Absolute(p) => join_cgroup(&mount.mountpoint, p),
                CgroupPath::Relative(p) => join_cgroup(&mount.dir_of(own_of(key)?), p),
            };
            v1.insert(key.clone(), dir);
        }
        let (v2, v2_mount, v2_ctrls) = match &mounts.v2 {
            Some(mount) => {
                let dir = match &path {
                    CgroupPath::Absolute(p) => join_cgroup(&mount.mountpoint, p),
                    CgroupPath::Relative(p) => {
                        let mut base = mount.dir_of(own_of(UNIFIED_KEY)?);
                        // Pure v2: our own cgroup holds processes, so no controller can be
                        // enabled below it; use its parent, as runc does.
                        if hierarchy == Hierarchy::Unified && base != mount.mountpoint {
                            base.pop();
                        }
                        join_cgroup(&base, p)
                    }
                };
                (
                    Some(dir),
                    Some(mount.mountpoint.clone()),
                    Some(v2_controllers(&mount.mountpoint)?),
                )
            }
            None => (None, None, None),
        };
        let layout = Layout {
            v1: v1
                .keys()
                .filter(|k| !k.starts_with("name="))
                .cloned()
                .collect(),
            v2: v2_ctrls,
        };
        Ok(Manager {
            hierarchy,
            v1,
            v2,
            v2_mount,
            layout,
            rootless,
        })
    }

    /// Reopens a cgroup from [`Manager::saved`] data.
    pub fn from_saved(saved: &SavedCgroup) -> Result<Self, Error> {
        let mut v1 = saved.paths.clone();
        let v2 = v1.remove(UNIFIED_KEY);
        if v1.is_empty() && v2.is_none() {
            return Err(Error::EmptySaved);
        }
        let layout = Layout {
            v1: v1
                .keys()
                .filter(|k| !k.starts_with("name="))
                .cloned()
                .collect(),
            v2: if v2.is_some() {
                Some(saved.v2_controllers.clone().unwrap_or_default())
            } else {
                None
            },
        };
        Ok(Manager {
            hierarchy: saved.hierarchy,
            v1,
            v2,
            v2_mount: saved.v2_mount.clone(),
            layout,
            rootless: saved.rootless,
        })
    }

    /// Data to store in the container's state.
    pub fn saved(&self) -> SavedCgroup {
        SavedCgroup {
            hierarchy: self.hierarchy,
            paths: self.paths(),
            v2_mount: self.v2_mount.clone(),
            v2_controllers: self.layout.v2.clone(),
            rootless: self.rootless,
        }
    }

    /// The host layout this manager drives.
    pub fn hierarchy(&self) -> Hierarchy {
        self.hierarchy
    }

    /// What the resource table sees of the host.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    pub fn is_rootless(&self) -> bool {
        self.rootless
    }

    /// controller -> directory (v1 hierarchies, plus [`UNIFIED_KEY`] for the v2 directory).
    pub fn paths(&self) -> BTreeMap<String, PathBuf> {
        let mut p = self.v1.clone();
        if let Some(v2) = &self.v2 {
            p.insert(UNIFIED_KEY.to_string(), v2.clone());
        }
        p
    }

    /// Every distinct directory (co-mounted controllers share one).
    fn dirs(&self) -> BTreeSet<&PathBuf> {
        self.v1.values().chain(self.v2.iter()).collect()
    }

    /// Creates the directories in every hierarchy. On v1 a new cpuset cgroup gets its
    /// parent's cpus and mems (it starts empty and would refuse processes); on v2 the
    /// intermediate directories we create pass on every controller they have.
    pub fn create(&self) -> Result<(), Error> {
        for (key, dir) in &self.v1 {
            if let Err(e) = fsutil::mkdir_all(dir) {
                if self.rootless && mkdir_ignorable(&e) {
                    continue;
                }
                return Err(e);
            }
            if key == "cpuset" {
                cpuset::ensure_populated(dir)?;
            }
        }
        if let Some(dir) = &self.v2 {
            let created = match fsutil::mkdir_all(dir) {
                Ok(c) => c,
                Err(e) if self.rootless && mkdir_ignorable(&e) => return Ok(()),
                // On a hybrid host the v1 hierarchies carry the container; a cgroup2 tree we
                // may not write (read-only in some nested set-ups) only costs what lives
                // there (hugetlb here, cgroup.kill), which then fails by name when used.
                Err(_) if self.hierarchy == Hierarchy::Hybrid => return Ok(()),
                Err(e) => return Err(e),
            };
            for parent in created.iter().filter(|d| *d != dir) {
                apply::enable_all_controllers(parent)?;
            }
        }
        Ok(())
    }

    /// Moves `pid` into the cgroup in every hierarchy.
    /// Move the calling process into the container's cgroup without the kernel's global
    /// migration lock: on v1, writing "0" to `tasks` moves only the calling thread, which the
    /// kernel does without `cgroup_threadgroup_rwsem` (and so without waiting for an RCU grace
    /// period, 10-20 ms here, that every `cgroup.procs` write pays). The caller must be
    /// single-threaded (a freshly forked container init is). v2 directories have no such
    /// path: they are joined through `cgroup.procs` (or by `CLONE_INTO_CGROUP` at fork).
    pub fn join_current(&self) -> Result<(), Error> {
        for (key, dir) in &self.v1 {
            // Co-mounted controllers share one directory: join each directory once.
            if self.v1.iter().any(|(k, d)| d == dir && k < key) {
                continue;
            }
            let path = dir.join("tasks");
            if let Err(source) = fsutil::write_raw(&path, "0") {
                if self.rootless && rootless_ignorable(&source) {
                    continue;
                }
                return Err(Error::AddProcess {
                    pid: 0,
                    path,
                    source,
                });
            }
        }
        if let Some(dir) = &self.v2 {
            let path = dir.join("cgroup.procs");
            if let Err(source) = fsutil::write_raw(&path, "0") {
                let hybrid_missing =
                    self.hierarchy == Hierarchy::Hybrid && source.kind() == io::ErrorKind::NotFound;
                if !(hybrid_missing || self.rootless && rootless_ignorable(&source)) {
                    return Err(Error::AddProcess {
                        pid: 0,
                        path,
                        source,
                    });
                }
            }
        }
        Ok(())
    }

    /// On a hybrid host, leave the cgroup2 tree out unless `needed` (its controllers, e.g.
    /// hugetlb here, are asked for): joining it costs every start a global-lock migration,
    /// and everything else is done by the v1 hierarchies.
    pub fn hybrid_v2_only_if(mut self, needed: bool) -> Self {
        if self.hierarchy == Hierarchy::Hybrid && !needed {
            self.v2 = None;
        }
        self
    }

    pub fn add_process(&self, pid: i32) -> Result<(), Error> {
        for dir in self.dirs() {
            let path = dir.join("cgroup.procs");
            let mut attempt = 0;
            loop {
                match fsutil::write_raw(&path, &pid.to_string()) {
                    Ok(()) => break,
                    // A task still in TASK_NEW (fresh from fork) refuses to move: retry.
                    Err(e) if e.raw_os_error() == Some(libc::EINVAL) && attempt < 5 => {
                        attempt += 1;
                        sleep(Duration::from_millis(30));
                    }
                    Err(e) if self.rootless && rootless_ignorable(&e) => break,
                    // The hybrid cgroup2 directory could not be created (see `create`).
                    Err(e)
                        if self.hierarchy == Hierarchy::Hybrid
                            && Some(dir) == self.v2.as_ref()
                            && e.kind() == io::ErrorKind::NotFound =>
                    {
                        break
                    }
                    Err(source) => return Err(Error::AddProcess { pid, path, source }),
                }
            }
        }
        Ok(())
    }

    /// An open descriptor of the v2 directory, for clone3(CLONE_INTO_CGROUP). Only on pure
    /// v2 hosts: elsewhere the process must also join v1 hierarchies.
    pub fn v2_dir_fd(&self) -> Option<OwnedFd> {
        if self.hierarchy != Hierarchy::Unified {
            return None;
        }
        let dir = self.v2.as_ref()?;
        rustix::fs::open(
            dir,
            rustix::fs::OFlags::PATH | rustix::fs::OFlags::DIRECTORY | rustix::fs::OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
        )
        .ok()
    }

    /// Removes the container's directories (and any child cgroups) everywhere. Missing
    /// directories are fine, so this is idempotent.
    pub fn destroy(&self) -> Result<(), Error> {
        let mut first_err = None;
        for dir in self.dirs() {
            if let Err(e) = fsutil::remove_cgroup_dir(dir) {
                if self.rootless {
                    continue;
                }
                first_err.get_or_insert(e);
            }
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Directory of v1 hierarchy `key`, if mounted.
    pub(crate) fn v1_dir(&self, key: &str) -> Option<&PathBuf> {
        self.v1.get(key)
    }

    pub(crate) fn v2_dir(&self) -> Option<&PathBuf> {
        self.v2.as_ref()
    }
}

fn mkdir_ignorable(e: &Error) -> bool {
    match e {
        Error::Mkdir { source, .. } => rootless_ignorable(source),
        _ => false,
    }
}
