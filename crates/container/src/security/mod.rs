//! Dropping privileges in the container's init (or exec) child just before `execve`:
//! capabilities, `no_new_privs`, seccomp, and LSM label checks; `finalize_process` runs
//! them together with `process::{rlimits, scheduling, identity}` in runc's order.
//!
//! All of it runs single-threaded in the child, except `compile_seccomp` (anywhere, before
//! privileges are dropped) and `send_seccomp_fd` (in the runtime parent).

pub mod capabilities;
pub mod exe_guard;
pub mod finalize;
pub mod labels;
pub mod no_new_privs;
pub mod seccomp;

pub use capabilities::drop_bounding_and_set_caps;
pub use finalize::{finalize_process, Finalized, ProcessSecurity};
pub use labels::check_labels;
pub use no_new_privs::set_no_new_privs;
pub use seccomp::{compile_seccomp, load_seccomp, send_seccomp_fd, CompiledSeccomp};

use crate::process::{identity, rlimits, scheduling};

/// Every way dropping privileges can fail; each variant's message names the step and value.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Rlimits(#[from] rlimits::Error),
    #[error(transparent)]
    Scheduling(#[from] scheduling::Error),
    #[error(transparent)]
    Identity(#[from] identity::Error),
    #[error(transparent)]
    Capabilities(#[from] capabilities::Error),
    #[error(transparent)]
    NoNewPrivs(#[from] no_new_privs::Error),
    #[error(transparent)]
    Seccomp(#[from] seccomp::Error),
    #[error(transparent)]
    Labels(#[from] labels::Error),
    #[error(transparent)]
    ExeGuard(#[from] exe_guard::Error),
    #[error("send the seccomp listener to the runtime: {0}")]
    SendListener(std::io::Error),
}
