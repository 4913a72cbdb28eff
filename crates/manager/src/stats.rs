//! `berth stats`: one sample of a container's cgroup counters and disk usage; CPU % comes
//! from two samples.

use std::time::Instant;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::manager::Manager;
use crate::record::State;

#[derive(Clone, Debug, Serialize)]
pub struct Sample {
    pub id: String,
    pub name: String,
    /// CPU time used so far, nanoseconds.
    pub cpu_ns: u64,
    #[serde(skip)]
    pub at: Option<Instant>,
    pub memory_usage: u64,
    pub memory_limit: u64,
    pub block_read: u64,
    pub block_write: u64,
    pub pids: u64,
    pub pids_limit: u64,
    pub disk_used: u64,
    pub disk_quota: Option<u64>,
}

/// CPU use between two samples as a percentage of one CPU (docker's: 200% = two CPUs).
pub fn cpu_percent(prev: &Sample, cur: &Sample) -> f64 {
    let (Some(a), Some(b)) = (prev.at, cur.at) else {
        return 0.0;
    };
    let wall = b.duration_since(a).as_nanos() as f64;
    if wall <= 0.0 {
        return 0.0;
    }
    cur.cpu_ns.saturating_sub(prev.cpu_ns) as f64 / wall * 100.0
}

impl Manager {
    pub fn stats(&self, what: &str) -> Result<Sample> {
        let rec = self.lookup(what)?;
        if !matches!(rec.state, State::Running) {
            return Err(Error::WrongState {
                id: rec.id,
                state: rec.state.to_string(),
                what: "stats need a running container",
            });
        }
        let s = berth_container::lifecycle::stats(&self.layout.runtime(), &rec.id)?;
        let at = Some(Instant::now());
        let sum = |op: &str| {
            s.blkio
                .io_service_bytes_recursive
                .iter()
                .filter(|e| e.op.eq_ignore_ascii_case(op))
                .map(|e| e.value)
                .sum()
        };
        let disk = self.storage()?.usage(&rec.id)?;
        Ok(Sample {
            id: rec.id.clone(),
            name: rec.name.clone(),
            cpu_ns: s.cpu.usage.total,
            at,
            memory_usage: s.memory.usage.usage,
            memory_limit: s.memory.usage.limit,
            block_read: sum("read"),
            block_write: sum("write"),
            pids: s.pids.current,
            pids_limit: s.pids.limit,
            disk_used: disk.used,
            disk_quota: disk.quota,
        })
    }
}
