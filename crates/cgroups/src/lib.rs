//! berth-cgroups: cgroup v1, v2 and hybrid managers for one container.
//!
//! - [`detect`] tells the host layout; [`Manager`] creates a container's cgroup, applies
//!   its `linux.resources`, moves processes in, freezes, signals, reports and removes it.
//! - [`resources`] is the one table from OCI knobs to v1 and v2 files (pure functions).
//! - [`devices`] turns device rules into v1 writes or a v2 eBPF program.

pub mod cgpath;
pub mod devices;
mod error;
mod fsutil;
mod hierarchy;
mod manager;
pub mod mountinfo;
pub mod proc_cgroup;
pub mod resources;
pub mod stats;

pub use error::Error;
pub use hierarchy::{detect, Hierarchy};
pub use manager::{Manager, SavedCgroup, UNIFIED_KEY};
pub use mountinfo::Mounts;
pub use stats::Stats;
