use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU32, Ordering};

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A name no other test (thread or process) on this machine uses at the same time:
/// `<prefix>-<pid>-<counter>-<random>`, e.g. `berth-test-4242-0-9f3a1c`.
///
/// The pid separates concurrent test processes, the counter separates calls within one process,
/// and the random suffix separates a test from a crashed earlier run that reused the pid.
/// Pass `"berth-test"` (or a longer `berth-test-<what>`) as prefix.
pub fn unique(prefix: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    // RandomState is seeded from the OS's random source once per process and then
    // advanced per instance: enough entropy for a name suffix without another dependency.
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u32(n);
    let random = hasher.finish() & 0xff_ffff;
    format!("{prefix}-{}-{n}-{random:06x}", std::process::id())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unique_names_differ_and_carry_prefix_and_pid() {
        let a = unique("berth-test");
        let b = unique("berth-test");
        assert_ne!(a, b);
        let pid = std::process::id().to_string();
        for name in [&a, &b] {
            let parts: Vec<&str> = name.split('-').collect();
            assert_eq!(parts[..3], ["berth", "test", pid.as_str()], "{name}");
            assert_eq!(parts.len(), 5, "{name}");
        }
    }
}
