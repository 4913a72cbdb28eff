//! The container's process: the init (child side of `create`), and the identity, limits and
//! scheduling applied before `execve`.

pub mod identity;
pub mod init;
pub mod rlimits;
pub mod scheduling;
