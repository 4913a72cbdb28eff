//! berth's runtime library: an OCI bundle becomes a contained process.
//!
//! `lifecycle` drives runc's verbs (create, start, run, kill, delete, exec, pause, update);
//! `process` is the child side (init, identity, limits) up to `execve`; `rootfs` builds the
//! container's file system view; `security` drops privileges; `state` is what is kept on
//! disk between commands; `sync` is the runtime <-> child channel.

pub mod process;
pub mod rootfs;
pub mod security;

// TEMPORARY while the team writes rootfs/security/cgroups in parallel: the lifecycle code
// is compiled only with `--features lifecycle` so that their builds do not depend on it.
#[cfg(feature = "lifecycle")]
pub mod bundle;
#[cfg(feature = "lifecycle")]
pub mod error;
#[cfg(feature = "lifecycle")]
pub mod hooks;
#[cfg(feature = "lifecycle")]
pub mod lifecycle;
#[cfg(feature = "lifecycle")]
pub mod namespaces;
#[cfg(feature = "lifecycle")]
pub mod state;
#[cfg(feature = "lifecycle")]
pub mod sync;
#[cfg(feature = "lifecycle")]
pub mod terminal;

#[cfg(feature = "lifecycle")]
pub use error::{Error, Result};
