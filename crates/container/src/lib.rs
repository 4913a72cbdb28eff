//! berth's runtime library: an OCI bundle becomes a contained process.
//!
//! `container` drives the lifecycle (create, start, kill, delete, exec, pause);
//! `process` is the child side (namespaces, identity, limits) up to `execve`;
//! `rootfs` builds the container's file system view; `security` drops privileges.

pub mod rootfs;
pub mod security;
pub mod process;
