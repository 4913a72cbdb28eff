//! berth-testkit: what every berth integration test needs to exercise the real kernel.
//!
//! - [`unique`]: collision-free `berth-test-...` names for anything a test creates;
//! - [`require_root`]: fail (never skip) when a root-only test runs unprivileged;
//! - [`busybox_rootfs`] and [`Bundle`]: a minimal OCI bundle with `runc spec`'s defaults;
//! - [`TestCgroup`]: a private v1 cgroup per controller for the test process;
//! - [`runtime_bin`]: where the built `berth-runtime` binary is;
//! - [`vm`]: a throw-away qemu guest with a pure cgroup v2 hierarchy.

mod bin;
mod bundle;
mod cgroup;
mod error;
mod root;
mod rootfs;
pub mod spec;
mod unique;
pub mod vm;

pub use bin::runtime_bin;
pub use bundle::Bundle;
pub use cgroup::TestCgroup;
pub use error::TestkitError;
pub use root::{is_root, require_root};
pub use rootfs::{busybox_path, busybox_rootfs};
pub use unique::unique;
