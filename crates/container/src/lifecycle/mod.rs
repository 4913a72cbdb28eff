//! The container lifecycle as runc's verbs: create, start, run, kill, delete, exec, pause,
//! resume, update; each verb in its own module, all working on a `Container` loaded from
//! its state directory.

mod create;
mod delete;
mod exec;
mod kill;
mod pause;
mod run;
mod start;

pub use create::{create, CreateOptions, Created};
pub use delete::delete;
pub use exec::{exec, ExecOptions};
pub use kill::{kill, parse_signal};
pub use pause::{pause, resume, stats, update};
pub use run::{run, RunOptions};
pub use start::start;

use std::collections::BTreeMap;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use oci_spec::runtime::Spec;

use crate::error::{Error, Result};
use crate::state::{
    self, process_start_time, OciState, RuncState, Saved, StateDir, Status, CONFIG_FILE, EXEC_FIFO,
    OCI_VERSION,
};

/// A container known to the runtime, with its state directory locked.
pub struct Container {
    pub dir: StateDir,
    pub saved: Saved,
}

impl Container {
    /// Load and lock, for commands that change the container.
    pub fn load(root: &Path, id: &str) -> Result<Container> {
        let dir = StateDir::open(root, id)?;
        let saved = dir.load()?;
        Ok(Container { dir, saved })
    }

    /// Load without the lock, for commands that only read (`state`, `list`, `ps`, `events`).
    pub fn read(root: &Path, id: &str) -> Result<Container> {
        let dir = StateDir::open_unlocked(root, id)?;
        let saved = dir.load()?;
        Ok(Container { dir, saved })
    }

    pub fn id(&self) -> &str {
        &self.saved.id
    }

    /// Is the recorded init still the same live process?
    pub fn init_alive(&self) -> bool {
        self.saved.pid > 0 && process_start_time(self.saved.pid) == Some(self.saved.pid_start)
    }

    /// A pidfd of the init, if it is still the process we started.
    pub fn init_pidfd(&self) -> Option<OwnedFd> {
        if self.saved.pid <= 0 {
            return None;
        }
        let fd = berth_sys::ns::pidfd_open(self.saved.pid).ok()?;
        // Checked after opening: the pidfd pins the process, so it cannot be reused now.
        self.init_alive().then_some(fd)
    }

    pub fn status(&self) -> Status {
        if !self.init_alive() {
            return if self.saved.init_done || self.saved.pid > 0 {
                Status::Stopped
            } else {
                Status::Creating
            };
        }
        if !self.saved.init_done {
            return Status::Creating;
        }
        if self.dir.path(EXEC_FIFO).exists() {
            return Status::Created;
        }
        if let Ok(Some(cg)) = self.cgroup() {
            if cg.is_frozen().unwrap_or(false) {
                return Status::Paused;
            }
        }
        Status::Running
    }

    pub fn runc_state(&self) -> RuncState {
        let status = self.status();
        RuncState {
            oci_version: OCI_VERSION.to_string(),
            id: self.saved.id.clone(),
            pid: if status == Status::Stopped {
                0
            } else {
                self.saved.pid
            },
            status,
            bundle: self.saved.bundle.clone(),
            rootfs: self.saved.rootfs.clone(),
            created: self.saved.created.clone(),
            owner: self.saved.owner.clone(),
            annotations: self.saved.annotations.clone(),
        }
    }

    /// The config the container was created with (a copy kept in its state directory).
    pub fn spec(&self) -> Result<Spec> {
        let path = self.dir.path(CONFIG_FILE);
        let data = std::fs::read(&path).map_err(|source| Error::ConfigRead {
            path: path.clone(),
            source,
        })?;
        serde_json::from_slice(&data).map_err(|source| Error::ConfigParse { path, source })
    }

    pub fn cgroup(&self) -> Result<Option<berth_cgroups::Manager>> {
        match &self.saved.cgroup {
            Some(s) => Ok(Some(berth_cgroups::Manager::from_saved(s)?)),
            None => Ok(None),
        }
    }

    fn hook_state(&self, status: Status) -> Vec<u8> {
        let st = OciState {
            oci_version: OCI_VERSION,
            id: &self.saved.id,
            status,
            pid: (self.saved.pid > 0 && status != Status::Stopped).then_some(self.saved.pid),
            bundle: &self.saved.bundle,
            annotations: &self.saved.annotations,
        };
        serde_json::to_vec(&st).unwrap_or_default()
    }
}

/// The OCI state JSON given to hooks that run before the state is saved.
pub fn hook_state(id: &str, bundle: &Path, spec: &Spec, pid: Option<i32>) -> Vec<u8> {
    let annotations: BTreeMap<String, String> = spec
        .annotations()
        .clone()
        .unwrap_or_default()
        .into_iter()
        .collect();
    let st = OciState {
        oci_version: OCI_VERSION,
        id,
        status: Status::Creating,
        pid,
        bundle,
        annotations: &annotations,
    };
    serde_json::to_vec(&st).unwrap_or_default()
}

/// Every container under `root`, in id order. Unreadable entries are reported with
/// status `stopped` so that `delete --force` can still find them.
pub fn list(root: &Path) -> Result<Vec<RuncState>> {
    let mut out = Vec::new();
    let entries = match std::fs::read_dir(root) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(source) => {
            return Err(Error::StateDir {
                path: root.to_path_buf(),
                source,
            })
        }
    };
    let mut ids: Vec<String> = entries
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    ids.sort();
    for id in ids {
        if let Ok(c) = Container::read(root, &id) {
            out.push(c.runc_state());
        }
    }
    Ok(out)
}

/// Processes of a container (host pids), from its cgroup.
pub fn pids(root: &Path, id: &str) -> Result<Vec<i32>> {
    let c = Container::read(root, id)?;
    match c.cgroup()? {
        Some(cg) => Ok(cg.pids()?),
        None if c.init_alive() => Ok(vec![c.saved.pid]),
        None => Ok(vec![]),
    }
}

pub(crate) fn owner() -> String {
    let uid = rustix::process::geteuid().as_raw();
    if uid == 0 {
        "root".into()
    } else {
        uid.to_string()
    }
}

pub(crate) fn default_saved(id: &str, bundle: PathBuf, rootfs: PathBuf, spec: &Spec) -> Saved {
    Saved {
        id: id.to_string(),
        pid: 0,
        pid_start: 0,
        bundle,
        rootfs,
        created: state::now_rfc3339(),
        owner: owner(),
        annotations: spec
            .annotations()
            .clone()
            .unwrap_or_default()
            .into_iter()
            .collect(),
        cgroup: None,
        init_done: false,
        namespaces: BTreeMap::new(),
        rootless: rustix::process::geteuid().as_raw() != 0,
    }
}
