//! berth-manager: containers, images and storage as one library; `berth` (the CLI) is a
//! thin layer over it.
//!
//! A [`Manager`] owns one data root (`/var/lib/berth` by default): a redb metadata store,
//! the runtime's state, the storage driver's writable layers and the image store. Each
//! running container has a monitor process ([`monitor`]) that is the parent of its init,
//! writes its logs and records its exit; `berth` itself keeps no long-running state.

pub mod db;
pub mod error;
pub mod etc_files;
pub mod images;
pub mod layout;
pub mod limits;
pub mod logs;
pub mod loopback;
pub mod manager;
pub mod monitor;
pub mod mounts;
pub mod names;
pub mod netflags;
pub mod network;
pub mod ops;
pub mod record;
pub mod repair;
pub mod spec;
pub mod stats;
pub mod stdio;
pub mod supervise;
pub mod system;
pub mod tty;
pub mod units;
pub mod user;
pub mod userns;

pub use error::{Error, Result};
pub use limits::{DeviceRate, Limits};
pub use manager::{Manager, Options};
pub use ops::ExecOptions;
pub use record::{ContainerRecord, NetworkMode, RunConfig, State, Volume};
pub use system::LogOptions;
