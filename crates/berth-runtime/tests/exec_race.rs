//! `exec` into a running container checks the program (not the runtime's own binary, see
//! exe_guard) and runs that same file through its descriptor (`execveat`): a container
//! process swapping the path between the check and the exec cannot get the host's runtime
//! binary run in the container (the CVE-2019-5736 class). Run as root.

mod common;

use common::*;

/// A container process flips `/x` between the script `/ok` and `/proc/self/exe` (in the exec'd
/// process: the runtime binary) as fast as it can while we exec `/x` many times. Every exec
/// must run `/ok` or fail cleanly (refused as the runtime binary, or `/x` missing in the
/// middle of a flip); the runtime binary itself must never run (it would print its usage
/// and exit 2).
#[test]
fn exec_runs_the_checked_file_even_when_the_path_is_swapped() {
    let rt = Runtime::new();
    let mut b = Bundle::busybox(&[
        "sh",
        "-c",
        "while :; do ln -sfn /ok /x; ln -sfn /proc/self/exe /x; done",
    ]);
    if let Some(root) = b.spec_mut().root_mut() {
        root.set_readonly(Some(false));
    }
    b.write().unwrap();
    // The benign program: a script (busybox itself would look for an applet named "x").
    std::fs::write(b.rootfs().join("ok"), "#!/bin/sh\nexit 0\n").unwrap();
    std::fs::set_permissions(
        b.rootfs().join("ok"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    rt.ok(&["run", "-d", "--bundle", path(b.path()), b.id()]);
    let (mut ran, mut refused, mut missing) = (0, 0, 0);
    for _ in 0..200 {
        let o = rt.out(&["exec", b.id(), "/x"]);
        let stderr = String::from_utf8_lossy(&o.stderr);
        if o.status.success() && o.stdout.is_empty() {
            ran += 1;
        } else if stderr.contains("runtime's own binary") {
            refused += 1;
        } else if stderr.contains("No such file") {
            missing += 1;
        } else {
            panic!(
                "exec /x neither ran /ok nor failed cleanly ({}): stdout={} stderr={stderr}",
                o.status,
                String::from_utf8_lossy(&o.stdout)
            );
        }
    }
    // Both sides of the flip were seen: the race was really on.
    assert!(
        ran > 0 && refused > 0,
        "ran {ran}, refused {refused}, missing {missing}"
    );
    rt.ok(&["delete", "--force", b.id()]);
}

/// Run by descriptor: a `#!` script still runs (its interpreter reads it through /dev/fd/N,
/// the only descriptor it gets besides stdio), and a binary gets none of ours.
#[test]
fn exec_by_descriptor_runs_scripts_and_leaks_nothing_to_binaries() {
    let rt = Runtime::new();
    let b = Bundle::busybox(&["sleep", "100"]);
    std::fs::write(
        b.rootfs().join("script"),
        "#!/bin/sh\necho script-ran \"$0\"\n",
    )
    .unwrap();
    std::fs::set_permissions(
        b.rootfs().join("script"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    rt.ok(&["run", "-d", "--bundle", path(b.path()), b.id()]);
    let out = rt.ok(&["exec", b.id(), "/script"]);
    assert!(out.starts_with("script-ran /dev/fd/"), "{out}");
    // The init, alone in its new mount namespace, runs it by path (its comm stays the
    // name it was started as).
    let b2 = Bundle::busybox(&["/script"]);
    std::fs::copy(b.rootfs().join("script"), b2.rootfs().join("script")).unwrap();
    let (code, out, err) = rt.run(&b2);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "script-ran /script\n");
    // A binary: no descriptor beyond stdio (ls's own directory handle aside).
    let out = rt.ok(&["exec", b.id(), "ls", "-l", "/proc/self/fd"]);
    let targets: Vec<&str> = out.lines().filter_map(|l| l.split(" -> ").nth(1)).collect();
    assert!(
        targets
            .iter()
            .all(|t| !t.contains("busybox") && !t.contains("/bin/ls")),
        "{out}"
    );
    rt.ok(&["delete", "--force", b.id()]);
}
