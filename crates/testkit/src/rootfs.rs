//! A minimal root file system made of Debian's statically linked busybox.

use std::fs;
use std::io;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n\
                      user:x:1000:1000:user:/home/user:/bin/sh\n\
                      nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n";
const GROUP: &str = "root:x:0:\ntty:x:5:\nuser:x:1000:\nnogroup:x:65534:\n";

/// The statically linked busybox used for root file systems: `$BERTH_BUSYBOX`, else Debian's
/// busybox-static at /bin/busybox.
pub fn busybox_path() -> PathBuf {
    std::env::var_os("BERTH_BUSYBOX")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/bin/busybox"))
}

/// `busybox <flag>` output lines, without `busybox` itself.
fn busybox_list(flag: &str) -> io::Result<Vec<String>> {
    let busybox = busybox_path();
    let out = Command::new(&busybox)
        .arg(flag)
        .output()
        .map_err(|e| io::Error::new(e.kind(), format!("run {} {flag}: {e}", busybox.display())))?;
    if !out.status.success() {
        return Err(io::Error::other(format!(
            "{} {flag} exited with {}",
            busybox.display(),
            out.status
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::trim)
        .filter(|name| !name.is_empty() && !name.ends_with("busybox"))
        .map(String::from)
        .collect())
}

/// The applet names of [`busybox_path`] (`busybox --list`), asked once per process.
fn applets() -> io::Result<&'static [String]> {
    static APPLETS: OnceLock<Vec<String>> = OnceLock::new();
    if let Some(list) = APPLETS.get() {
        return Ok(list);
    }
    let list = busybox_list("--list")?;
    Ok(APPLETS.get_or_init(|| list))
}

/// The applets' install paths (`busybox --list-full`: `bin/sh`, `sbin/modprobe`, ...).
pub(crate) fn applet_paths() -> io::Result<Vec<String>> {
    busybox_list("--list-full")
}

/// Fill `dir` (created if missing) with a minimal root file system:
/// `bin/busybox` and a symlink per applet, `sbin`, `usr/bin`, `usr/sbin` pointing at `bin`,
/// `etc/passwd` and `etc/group` (root, user 1000, nobody), and empty `proc sys dev tmp root
/// run home/user` directories.
///
/// It copies one 2 MiB file and makes a few hundred symlinks: a few milliseconds, so every test
/// gets a fresh, private tree without a shared template that a test could corrupt.
pub fn busybox_rootfs(dir: &Path) -> io::Result<()> {
    let ctx = |what: &str, path: &Path, e: io::Error| {
        io::Error::new(e.kind(), format!("{what} {}: {e}", path.display()))
    };
    for sub in [
        "bin",
        "etc",
        "proc",
        "sys",
        "dev",
        "tmp",
        "root",
        "run",
        "home/user",
        "usr",
    ] {
        let path = dir.join(sub);
        fs::create_dir_all(&path).map_err(|e| ctx("create directory", &path, e))?;
    }
    let tmp = dir.join("tmp");
    fs::set_permissions(&tmp, fs::Permissions::from_mode(0o1777))
        .map_err(|e| ctx("chmod 1777", &tmp, e))?;

    let busybox = busybox_path();
    let target = dir.join("bin/busybox");
    fs::copy(&busybox, &target)
        .map_err(|e| ctx(&format!("copy {} to", busybox.display()), &target, e))?;
    fs::set_permissions(&target, fs::Permissions::from_mode(0o755))
        .map_err(|e| ctx("chmod 755", &target, e))?;
    for applet in applets()? {
        let link = dir.join("bin").join(applet);
        symlink("busybox", &link).map_err(|e| ctx("symlink busybox at", &link, e))?;
    }
    for (link, to) in [
        ("sbin", "bin"),
        ("usr/bin", "../bin"),
        ("usr/sbin", "../bin"),
    ] {
        let link = dir.join(link);
        symlink(to, &link).map_err(|e| ctx("symlink", &link, e))?;
    }
    for (name, content) in [("etc/passwd", PASSWD), ("etc/group", GROUP)] {
        let path = dir.join(name);
        fs::write(&path, content).map_err(|e| ctx("write", &path, e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busybox_rootfs_has_shell_users_and_mount_points() {
        let dir = tempfile::tempdir().unwrap();
        let started = std::time::Instant::now();
        busybox_rootfs(dir.path()).unwrap();
        let took = started.elapsed();

        let root = dir.path();
        assert!(fs::read_link(root.join("bin/sh")).unwrap() == Path::new("busybox"));
        assert!(
            root.join("usr/bin/env").exists(),
            "usr/bin/env resolves through bin"
        );
        let passwd = fs::read_to_string(root.join("etc/passwd")).unwrap();
        assert!(passwd.contains("user:x:1000:1000:"));
        for sub in ["proc", "sys", "dev", "tmp"] {
            assert!(root.join(sub).is_dir(), "{sub}");
        }
        // The copied binary really runs: it is the static busybox, not a broken copy.
        let out = Command::new(root.join("bin/busybox"))
            .args(["echo", "ok"])
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), "ok\n");
        assert!(took.as_millis() < 2000, "rootfs took {took:?}");
    }
}
