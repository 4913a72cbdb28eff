//! Listing and signalling the processes of a cgroup.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::Manager;
use crate::{fsutil, Error, Hierarchy};

fn collect_pids(dir: &Path, out: &mut Vec<i32>) -> Result<(), Error> {
    let procs = dir.join("cgroup.procs");
    match fsutil::read_optional(&procs)? {
        Some(content) => {
            for line in content.lines().filter(|l| !l.trim().is_empty()) {
                let pid = line.trim().parse().map_err(|_| Error::Parse {
                    path: procs.clone(),
                    content: line.to_string(),
                })?;
                out.push(pid);
            }
        }
        None => return Ok(()),
    }
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(source) => {
            return Err(Error::ReadDir {
                path: dir.to_path_buf(),
                source,
            })
        }
    };
    for entry in entries.flatten() {
        if entry.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            collect_pids(&entry.path(), out)?;
        }
    }
    Ok(())
}

impl Manager {
    /// The directory whose membership stands for the whole container.
    fn membership_dir(&self) -> Option<&PathBuf> {
        if self.hierarchy() == Hierarchy::Unified {
            return self.v2_dir();
        }
        ["pids", "freezer", "devices", "memory", "cpu"]
            .iter()
            .find_map(|k| self.v1_dir(k))
            .or_else(|| self.v1.values().next())
            .or(self.v2_dir())
    }

    /// Every process in the cgroup and its descendants.
    pub fn pids(&self) -> Result<Vec<i32>, Error> {
        let mut out = Vec::new();
        if let Some(dir) = self.membership_dir() {
            collect_pids(dir, &mut out)?;
        }
        out.sort_unstable();
        out.dedup();
        Ok(out)
    }

    /// Sends `sig` to every process. SIGKILL goes through v2 cgroup.kill where the kernel
    /// has it (atomic, no fork race); otherwise the cgroup is frozen while the processes
    /// are listed and signalled, so none can fork away meanwhile, and thawed again unless
    /// it was paused before (a paused container stays paused, except for SIGKILL).
    pub fn kill_all(&self, sig: i32) -> Result<(), Error> {
        if !(1..=berth_sys::signal::max_signal()).contains(&sig) {
            return Err(Error::InvalidSignal { signal: sig });
        }
        if sig == libc::SIGKILL {
            if let Some(dir) = self.v2_dir() {
                let kill = dir.join("cgroup.kill");
                if kill.exists() {
                    fsutil::write(&kill, "1")?;
                    // On a hybrid host a v1-frozen task only dies once thawed.
                    if self.v1_dir("freezer").is_some() && self.is_frozen()? {
                        self.thaw()?;
                    }
                    return Ok(());
                }
            }
        }
        // An empty cgroup has no one to signal and none can fork into it: skip the freeze.
        // (Freezing is not free: the first frozen cgroup switches a kernel static key, which
        // patches code on every CPU; it was the costliest step of deleting an exited
        // container.)
        if self.pids()?.is_empty() {
            return Ok(());
        }
        // A paused container stays paused for ordinary signals; SIGKILL needs the thaw to
        // take effect on v1.
        let was_frozen = self.is_frozen().unwrap_or(false);
        let froze = !was_frozen && self.freeze().is_ok();
        let result = self.pids().and_then(|pids| {
            // A pid <= 0 would address process groups or everything: never signal one.
            for pid in pids.into_iter().filter(|p| *p > 0) {
                match berth_sys::signal::kill(pid, sig) {
                    Ok(()) => {}
                    Err(e) if e.raw_os_error() == Some(libc::ESRCH) => {}
                    Err(source) => {
                        return Err(Error::Signal {
                            pid,
                            signal: sig,
                            source,
                        })
                    }
                }
            }
            Ok(())
        });
        if froze || (was_frozen && sig == libc::SIGKILL) {
            self.thaw()?;
        }
        result
    }

    /// Number of OOM kills in the cgroup (v1 memory.oom_control, v2 memory.events).
    pub fn oom_kill_count(&self) -> Result<u64, Error> {
        use crate::resources::Version;
        let path = match self.layout().place("oom_kill_count", "memory")? {
            Version::V1 => self.v1_dir("memory").map(|d| d.join("memory.oom_control")),
            Version::V2 => self.v2_dir().map(|d| d.join("memory.events")),
        };
        let Some(path) = path else {
            return Err(Error::ControllerMissing {
                knob: "oom_kill_count",
                controller: "memory",
            });
        };
        let content = fsutil::read(&path)?;
        fsutil::keyed_value(&content, "oom_kill").ok_or(Error::Parse {
            path,
            content: content.trim().to_string(),
        })
    }
}
