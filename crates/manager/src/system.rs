//! `berth info`, `system df`, `system prune`, `inspect` and `logs`.

use std::time::Duration;

use serde::Serialize;

use crate::error::Result;
use crate::logs::{LogEntry, LogReader};
use crate::manager::Manager;
use crate::record::{ContainerRecord, State};

#[derive(Clone, Debug, Serialize)]
pub struct Info {
    pub root: String,
    pub quota_backend: String,
    pub containers: usize,
    pub running: usize,
    pub images: usize,
    pub cgroup_parent: String,
    pub kernel: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct DiskFree {
    pub images: usize,
    pub images_size: u64,
    pub containers: usize,
    /// Bytes the containers' writable layers take.
    pub containers_size: u64,
    /// Bytes in exited containers' layers (what `system prune` frees).
    pub reclaimable: u64,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Pruned {
    pub containers: Vec<String>,
    pub orphans: Vec<String>,
    pub image_bytes: u64,
}

/// What `logs` shows.
#[derive(Clone, Debug, Default)]
pub struct LogOptions {
    pub follow: bool,
    /// Only the last N lines (of what exists when called).
    pub tail: Option<usize>,
}

impl Manager {
    pub fn info(&self) -> Result<Info> {
        let all = self.db.list()?;
        Ok(Info {
            root: self.layout.root().display().to_string(),
            quota_backend: self.storage()?.backend().to_string(),
            containers: all.len(),
            running: all.iter().filter(|r| r.state == State::Running).count(),
            images: self.image_list()?.len(),
            cgroup_parent: self.opts.cgroup_parent.clone(),
            kernel: rustix::system::uname()
                .release()
                .to_string_lossy()
                .into_owned(),
        })
    }

    pub fn disk_usage(&self) -> Result<DiskFree> {
        let images = self.image_list()?;
        let storage = self.storage()?;
        let all = self.db.list()?;
        let mut size = 0;
        let mut reclaimable = 0;
        for r in &all {
            let used = storage.usage(&r.id).map(|u| u.used).unwrap_or(0);
            size += used;
            if r.state == State::Exited {
                reclaimable += used;
            }
        }
        Ok(DiskFree {
            images: images.len(),
            images_size: images.iter().map(|i| i.size).sum(),
            containers: all.len(),
            containers_size: size,
            reclaimable,
        })
    }

    /// Remove exited containers, what no record owns, and images no container uses
    /// (untagged only unless `all_images`).
    pub fn prune(&self, all_images: bool) -> Result<Pruned> {
        let mut out = Pruned::default();
        for r in self.db.list()? {
            if matches!(r.state, State::Exited | State::Created) && r.monitor_pid == 0 {
                self.remove(&r.id, false)?;
                out.containers.push(r.id);
            }
        }
        out.orphans = self.repair_orphans()?;
        out.image_bytes = self.image_prune(all_images)?;
        Ok(out)
    }

    /// The record plus the OCI config it runs with, as JSON.
    pub fn inspect(&self, what: &str) -> Result<serde_json::Value> {
        let rec: ContainerRecord = self.lookup(what)?;
        let config = std::fs::read(self.layout.container(&rec.id).join("config.json"))
            .ok()
            .and_then(|d| serde_json::from_slice::<serde_json::Value>(&d).ok());
        let mut v = serde_json::to_value(&rec).map_err(|source| crate::Error::Serialize {
            what: "container record",
            source,
        })?;
        if let serde_json::Value::Object(map) = &mut v {
            map.insert("userns".into(), self.userns_info(&rec));
            map.insert(
                "oci_config".into(),
                config.unwrap_or(serde_json::Value::Null),
            );
        }
        Ok(v)
    }

    /// Call `out` for each log entry; with `follow`, until the container has exited.
    pub fn logs(
        &self,
        what: &str,
        opts: &LogOptions,
        mut out: impl FnMut(&LogEntry),
    ) -> Result<()> {
        let rec = self.lookup(what)?;
        let mut reader = match LogReader::open(&rec.log_path) {
            Ok(r) => r,
            Err(_) if rec.state == State::Created => return Ok(()),
            Err(e) => return Err(e),
        };
        let first = reader.read_available()?;
        let skip = opts
            .tail
            .map(|n| first.len().saturating_sub(n))
            .unwrap_or(0);
        first.iter().skip(skip).for_each(&mut out);
        if !opts.follow {
            return Ok(());
        }
        loop {
            let done = match self.db.get(&rec.id)? {
                Some(r) => {
                    !matches!(r.state, State::Starting | State::Running) || !r.monitor_alive()
                }
                None => true,
            };
            reader.read_available()?.iter().for_each(&mut out);
            if done {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}
