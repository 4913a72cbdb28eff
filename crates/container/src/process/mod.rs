//! The container's process: identity, limits and scheduling applied before `execve`.

pub mod identity;
pub mod rlimits;
pub mod scheduling;
