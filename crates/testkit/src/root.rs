/// True when the effective uid is 0.
pub fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// Fail the calling test, with a message saying why, when it does not run as root.
///
/// Root-only tests must not silently pass on an unprivileged machine: a skipped test reads as a
/// green one. Call this first in every test that needs root.
#[track_caller]
pub fn require_root() {
    if !is_root() {
        panic!(
            "this test needs root (namespaces, mounts, cgroups): run it as root, e.g. via \
             scripts/test.sh; effective uid is {}",
            rustix::process::geteuid().as_raw()
        );
    }
}
