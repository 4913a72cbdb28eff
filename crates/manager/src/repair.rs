//! After a kill at any moment: a container whose monitor is gone is marked exited and its
//! runtime state, processes and mounts are removed; leftovers that no record owns are
//! removed too.

use crate::error::Result;
use crate::manager::Manager;
use crate::record::{now, State};

/// Exit code recorded when the monitor died and the real status is unknown (docker uses 137
/// for a container killed by SIGKILL).
pub const MONITOR_DIED: i32 = 137;

impl Manager {
    /// Mark containers whose monitor died as exited (cheap: run by every command).
    pub(crate) fn repair_states(&self) -> Result<()> {
        let dead: Vec<_> = self
            .db
            .list()?
            .into_iter()
            .filter(|r| matches!(r.state, State::Starting | State::Running) && !r.monitor_alive())
            .collect();
        for rec in dead {
            // Kill what is left and free its cgroup, runtime state and mounts.
            let _ = berth_container::lifecycle::delete(&self.layout.runtime(), &rec.id, true);
            let _ = self.detach_network(&rec);
            if let Ok(s) = self.storage() {
                let _ = s.unmount(&rec.id);
            }
            if rec.config.auto_remove {
                let _ = self.remove_resources(&rec);
                self.db.remove(&rec.id)?;
                continue;
            }
            self.db.modify(&rec.id, |r| {
                // Only if no monitor claimed it meanwhile.
                if r.monitor_pid == rec.monitor_pid
                    && matches!(r.state, State::Starting | State::Running)
                {
                    r.state = State::Exited;
                    r.exit_code = Some(MONITOR_DIED);
                    r.error = Some("the container's monitor died; it was killed".into());
                    r.finished_at = Some(now());
                    r.monitor_pid = 0;
                    r.monitor_start = 0;
                }
            })?;
        }
        Ok(())
    }

    /// Remove runtime state directories and writable layers that no record owns (what a
    /// kill in the middle of `rm` can leave). Returns the ids removed.
    pub fn repair_orphans(&self) -> Result<Vec<String>> {
        let known: Vec<String> = self.db.list()?.into_iter().map(|r| r.id).collect();
        let mut removed = Vec::new();
        for st in berth_container::lifecycle::list(&self.layout.runtime())? {
            if !known.contains(&st.id) {
                let _ = berth_container::lifecycle::delete(&self.layout.runtime(), &st.id, true);
                removed.push(st.id);
            }
        }
        if self.layout.net().exists() {
            removed.extend(self.networks()?.gc(&|id| known.iter().any(|k| k == id))?);
        }
        let known_refs: Vec<&str> = known.iter().map(String::as_str).collect();
        removed.extend(self.storage()?.repair(&known_refs)?);
        if let Ok(entries) = std::fs::read_dir(self.layout.containers()) {
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if !known.contains(&name) {
                    let _ = std::fs::remove_dir_all(e.path());
                    removed.push(name);
                }
            }
        }
        removed.sort();
        removed.dedup();
        Ok(removed)
    }
}
