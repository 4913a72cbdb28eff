//! The shared libraries a dynamic host binary needs in the guest.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::VmError;

/// Absolute paths of the libraries (and the dynamic loader) `ldd` lists for `binary`; empty
/// for a static binary.
pub(crate) fn shared_libraries(binary: &Path) -> Result<Vec<PathBuf>, VmError> {
    let out = Command::new("ldd")
        .arg(binary)
        .output()
        .map_err(|source| VmError::Ldd {
            path: binary.to_path_buf(),
            source,
        })?;
    // ldd exits 1 with "not a dynamic executable" for static binaries: nothing to copy.
    Ok(parse_ldd(&String::from_utf8_lossy(&out.stdout)))
}

/// `libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)` and
/// `/lib64/ld-linux-x86-64.so.2 (0x...)` give a path; `linux-vdso.so.1 (0x...)` does not.
fn parse_ldd(output: &str) -> Vec<PathBuf> {
    output
        .lines()
        .filter_map(|line| {
            let line = line.trim();
            let path = match line.split_once("=>") {
                Some((_, right)) => right.trim(),
                None => line,
            };
            let path = path.split_whitespace().next()?;
            path.starts_with('/').then(|| PathBuf::from(path))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ldd_lines() {
        let out = "\tlinux-vdso.so.1 (0x00007ffd)\n\
                   \tlibseccomp.so.2 => /lib/x86_64-linux-gnu/libseccomp.so.2 (0x00007f)\n\
                   \tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f)\n\
                   \t/lib64/ld-linux-x86-64.so.2 (0x00007f)\n";
        assert_eq!(
            parse_ldd(out),
            [
                PathBuf::from("/lib/x86_64-linux-gnu/libseccomp.so.2"),
                PathBuf::from("/lib/x86_64-linux-gnu/libc.so.6"),
                PathBuf::from("/lib64/ld-linux-x86-64.so.2"),
            ]
        );
        assert!(parse_ldd("\tnot a dynamic executable\n").is_empty());
    }

    #[test]
    fn finds_libc_of_a_dynamic_binary() {
        let libs = shared_libraries(Path::new("/bin/ls")).unwrap();
        assert!(
            libs.iter().any(|l| l.to_string_lossy().contains("libc.so")),
            "{libs:?}"
        );
        assert!(shared_libraries(Path::new("/bin/busybox"))
            .unwrap()
            .is_empty());
    }
}
