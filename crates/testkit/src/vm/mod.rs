//! A throw-away qemu guest with a pure cgroup v2 hierarchy (the host is hybrid).
//!
//! `vm/prepare.sh` (run by `scripts/setup.sh`) puts Debian's kernel and modules into
//! `$BERTH_VM_CACHE` (default `/var/cache/berth-ci/vm`). [`Guest`] packs an initramfs (busybox,
//! a few modules, the given host binaries with their shared libraries, a payload script), boots
//! it under TCG and returns the payload's exit status and the serial console.

pub mod cgroup_suite;
mod error;
mod guest;
mod init;
mod initramfs;
mod kernel;
mod libs;
mod qemu;

pub use error::VmError;
pub use guest::{Guest, GuestOutput};
pub use kernel::{cache_dir, GuestKernel};
