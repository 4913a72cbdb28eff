use std::path::PathBuf;

/// The built `berth-runtime` binary.
///
/// In order: `$BERTH_RUNTIME_BIN`; `$CARGO_BIN_EXE_berth-runtime` (cargo nextest sets it at run
/// time; a test of the berth-runtime crate can also pass `env!("CARGO_BIN_EXE_berth-runtime")`
/// through `BERTH_RUNTIME_BIN`); else `berth-runtime` next to the test binary's `deps/` directory
/// (`target/<profile>/deps/<test>` -> `target/<profile>/berth-runtime`).
///
/// Panics with what it looked for when none exists: the caller is a test that cannot go on.
#[track_caller]
pub fn runtime_bin() -> PathBuf {
    let mut tried = Vec::new();
    for var in ["BERTH_RUNTIME_BIN", "CARGO_BIN_EXE_berth-runtime"] {
        if let Some(path) = std::env::var_os(var).map(PathBuf::from) {
            if path.is_file() {
                return path;
            }
            tried.push(format!("${var}={}", path.display()));
        }
    }
    if let Ok(exe) = std::env::current_exe() {
        let mut dir = exe.parent();
        while let Some(d) = dir {
            let candidate = d.join("berth-runtime");
            if candidate.is_file() {
                return candidate;
            }
            tried.push(candidate.display().to_string());
            if d.file_name().is_some_and(|n| n == "deps") {
                dir = d.parent();
            } else {
                break;
            }
        }
    }
    panic!(
        "berth-runtime binary not found (tried {}): build it with `cargo build -p berth-runtime` \
         or set BERTH_RUNTIME_BIN",
        tried.join(", ")
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runtime_bin_prefers_the_environment() {
        let dir = tempfile::tempdir().unwrap();
        let fake = dir.path().join("berth-runtime");
        std::fs::write(&fake, "").unwrap();
        // nextest runs every test in its own process: setting the variable touches no other test.
        std::env::set_var("BERTH_RUNTIME_BIN", &fake);
        assert_eq!(runtime_bin(), fake);
        std::env::set_var("BERTH_RUNTIME_BIN", dir.path().join("missing"));
        std::env::remove_var("CARGO_BIN_EXE_berth-runtime");
        let found = std::panic::catch_unwind(runtime_bin);
        // Either the workspace's build is found next to deps/, or the panic names what it tried.
        match found {
            Ok(path) => assert!(path.ends_with("berth-runtime") && path.is_file()),
            Err(e) => {
                let msg = e.downcast_ref::<String>().cloned().unwrap_or_default();
                assert!(msg.contains("BERTH_RUNTIME_BIN"), "{msg}");
            }
        }
    }
}
