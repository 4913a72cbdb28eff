//! berth's runtime library: an OCI bundle becomes a contained process.
//!
//! `lifecycle` drives runc's verbs (create, start, run, kill, delete, exec, pause, update);
//! `process` is the child side (init, identity, limits) up to `execve`; `rootfs` builds the
//! container's file system view; `security` drops privileges; `state` is what is kept on
//! disk between commands; `sync` is the runtime <-> child channel.

pub mod process;
pub mod rootfs;
pub mod security;

pub mod bundle;
pub mod defaults;
pub mod error;
pub mod hooks;
pub mod lifecycle;
pub mod namespaces;
pub mod state;
pub mod sync;
pub mod terminal;

pub use error::{Error, Result};
