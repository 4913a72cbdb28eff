//! Containers run in their own user namespace by default (`--userns host` opts out): root
//! inside is the container's own unprivileged range outside, host and image files keep their
//! owners inside, and what the container writes is stored with its range's ids. Run as root.

mod common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use common::*;

/// `(uid, gid, count)` of the first line of a `uid_map`-style text.
fn first_map(text: &str) -> (u64, u64, u64) {
    let f: Vec<u64> = text
        .split_whitespace()
        .take(3)
        .map(|x| x.parse().unwrap())
        .collect();
    (f[0], f[1], f[2])
}

/// The container's range from `inspect`.
fn range_of(env: &Env, name: &str) -> (u64, u64, u64) {
    let u = &env.inspect(name)["userns"];
    assert_eq!(u["mode"], "private", "{u}");
    (
        u["uid_start"].as_u64().unwrap(),
        u["gid_start"].as_u64().unwrap(),
        u["size"].as_u64().unwrap(),
    )
}

/// `Uid:` / `Gid:` of a host process (real uid / gid as the host sees them).
fn host_ids(pid: i64) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| -> u64 {
        let line = status.lines().find(|l| l.starts_with(name)).unwrap();
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    };
    (field("Uid:"), field("Gid:"))
}

/// The container's upper directory (its own changes) on the host.
fn upper_of(env: &Env, name: &str) -> PathBuf {
    let id = env.id(name);
    let fs = env.root.join("storage").join(&id).join("fs");
    let upper = fs.join("upper");
    assert!(upper.is_dir(), "{}", upper.display());
    upper
}

#[test]
fn default_container_is_root_inside_and_its_range_outside() {
    let env = Env::new("userns-default");
    env.ok(&["run", "-d", "--name", "a", "--", "sleep", "1000"]);
    env.ok(&["run", "-d", "--name", "b", "--", "sleep", "1000"]);
    let (ua, ga, size) = range_of(&env, "a");
    let (ub, _, _) = range_of(&env, "b");
    assert_eq!(size, 65536);
    // Two containers: disjoint ranges.
    assert!(ua + size <= ub || ub + size <= ua, "{ua} {ub}");

    // From the host: the init runs as the range's first id.
    let pid = env.inspect("a")["pid"].as_i64().unwrap();
    assert_eq!(host_ids(pid), (ua, ga));
    // Inside: root, mapped to the range.
    let out = env.ok(&["exec", "a", "sh", "-c", "id -u; cat /proc/self/uid_map"]);
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("0"), "{out}");
    assert_eq!(first_map(lines.next().unwrap()), (0, ua, 65536), "{out}");
    // exec enters the user namespace: its process is the range's root on the host too.
    let out = env.ok(&[
        "exec",
        "a",
        "sh",
        "-c",
        "echo $$; readlink /proc/self/ns/user",
    ]);
    let ns_exec = out.lines().nth(1).unwrap().to_owned();
    let ns_init = std::fs::read_link(format!("/proc/{pid}/ns/user")).unwrap();
    assert_eq!(ns_exec, ns_init.to_string_lossy());
    assert_ne!(
        ns_init,
        std::fs::read_link("/proc/self/ns/user").unwrap(),
        "not the host's user namespace"
    );

    // Host files keep their owners inside (host tree: /etc/passwd is root's).
    let out = env.ok(&["exec", "a", "stat", "-c", "%u:%g", "/etc/passwd"]);
    assert_eq!(out.trim(), "0:0");
    // A file made inside (and a setuid-root one) is stored with the range's ids.
    env.ok(&[
        "exec",
        "a",
        "sh",
        "-c",
        "echo x > /made-inside && cp /bin/true /suid && chmod 4755 /suid && echo y >> /etc/passwd",
    ]);
    let upper = upper_of(&env, "a");
    let made = std::fs::metadata(upper.join("made-inside")).unwrap();
    assert_eq!((made.uid() as u64, made.gid() as u64), (ua, ga));
    let suid = std::fs::metadata(upper.join("suid")).unwrap();
    assert_eq!(
        suid.uid() as u64,
        ua,
        "a setuid-root file is the range's on the host"
    );
    assert_eq!(suid.mode() & 0o4000, 0o4000);
    // Copy-up of a host file: shifted owner in the upper, host file untouched.
    let copied = std::fs::metadata(upper.join("etc/passwd")).unwrap();
    assert_eq!(copied.uid() as u64, ua);
    assert!(!std::fs::read_to_string("/etc/passwd")
        .unwrap()
        .ends_with("y\n"));

    let ids = std::fs::read_to_string(env.root.join("idranges.json")).unwrap();
    let id_a = env.id("a");
    assert!(ids.contains(&id_a), "{ids}");
    env.ok(&["rm", "-f", "a", "b"]);
    assert!(mounts_under(&env.root).is_empty());
    // `rm` gives the ranges back.
    let ids = std::fs::read_to_string(env.root.join("idranges.json")).unwrap();
    assert!(!ids.contains(&id_a), "{ids}");
}

#[test]
fn image_files_keep_their_owners() {
    let env = Env::new("userns-image");
    let tag = "berth-test/userns:1";
    let archive = busybox_archive(&env.root, tag);
    env.ok(&["load", "-i", archive.to_str().unwrap()]);
    let out = env.ok(&[
        "run",
        "--rm",
        tag,
        "/bin/sh",
        "-c",
        "stat -c %u:%g /etc/passwd /bin/busybox; id -u; cat /proc/self/uid_map",
    ]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(&lines[..3], ["0:0", "0:0", "0"], "{out}");
    let (inside, outside, count) = first_map(lines[3]);
    assert_eq!((inside, count), (0, 65536));
    assert_ne!(outside, 0);
    // The image's layer on the host is unchanged (owned by host root, not shifted).
    let layers = env.root.join("images");
    let passwd = walk_find(&layers, "passwd").expect("the layer's etc/passwd");
    assert_eq!(std::fs::metadata(passwd).unwrap().uid(), 0);
    assert!(mounts_under(&env.root).is_empty());
}

fn walk_find(dir: &Path, name: &str) -> Option<PathBuf> {
    for e in std::fs::read_dir(dir).ok()?.flatten() {
        let p = e.path();
        let ft = e.file_type().ok()?;
        if ft.is_dir() {
            if let Some(f) = walk_find(&p, name) {
                return Some(f);
            }
        } else if p.file_name().is_some_and(|n| n == name) && p.parent()?.ends_with("etc") {
            return Some(p);
        }
    }
    None
}

/// `-v` volumes are not idmapped: host ids show unmapped (host root as nobody), so root in
/// the container cannot write a host-root file there, which it could with `--userns host`.
#[test]
fn volume_of_host_root_files_is_not_writable_by_container_root() {
    let env = Env::new("userns-volume");
    let dir = env.root.join("vol");
    std::fs::create_dir(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let file = dir.join("host-root-file");
    std::fs::write(&file, "host\n").unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let vol = format!("{}:/vol", dir.display());
    let script =
        "stat -c %u /vol/host-root-file; echo container >> /vol/host-root-file && echo wrote";
    let out = env.run(&["run", "--rm", "-v", &vol, "--", "sh", "-c", script]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout.lines().next(), Some("65534"), "{stdout}");
    assert!(!stdout.contains("wrote"), "{stdout}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "host\n");
    // The old behaviour: root is host root.
    let out = env.ok(&[
        "run", "--rm", "--userns", "host", "-v", &vol, "--", "sh", "-c", script,
    ]);
    assert_eq!(out, "0\nwrote\n");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "host\ncontainer\n");
}

#[test]
fn userns_host_is_the_old_behaviour() {
    let env = Env::new("userns-host");
    let out = env.ok(&[
        "run",
        "--rm",
        "--userns",
        "host",
        "--",
        "cat",
        "/proc/self/uid_map",
    ]);
    assert_eq!(first_map(&out), (0, 0, 4294967295));
    env.ok(&["create", "--name", "h", "--userns", "host", "--", "true"]);
    assert_eq!(env.inspect("h")["userns"]["mode"], "host");
    let r = env.run(&["run", "--rm", "--userns", "bogus", "--", "true"]);
    assert_eq!(r.status.code(), Some(125));
    assert!(String::from_utf8_lossy(&r.stderr).contains("--userns"));
}

/// `--network host`: own user namespace, the host's /sys bound read-only (a sysfs of its
/// own cannot be mounted), and no power over the host's network.
#[test]
fn network_host_binds_sys_read_only() {
    let env = Env::new("userns-nethost");
    let out = env.ok(&[
        "run",
        "--rm",
        "--network",
        "host",
        "--",
        "sh",
        "-c",
        "cat /proc/self/uid_map; grep ' /sys ' /proc/self/mounts; ls /sys/class/net | grep -c . ; \
         ip link add berth-test-x type dummy 2>/dev/null && echo added; touch /sys/x 2>/dev/null && echo wrote; \
         awk 'index($2, \"/sys\") == 1 && $4 !~ /^ro/' /proc/self/mounts | grep -c . ; true",
    ]);
    let lines: Vec<&str> = out.lines().collect();
    assert_ne!(first_map(lines[0]).1, 0, "{out}");
    assert!(lines[1].starts_with("sysfs /sys sysfs ro,"), "{out}");
    assert!(lines[2].parse::<u32>().unwrap() >= 1, "{out}");
    assert!(!out.contains("added") && !out.contains("wrote"), "{out}");
    assert_eq!(
        lines.last(),
        Some(&"0"),
        "every mount under /sys is read-only: {out}"
    );
    assert!(!Path::new("/sys/class/net/berth-test-x").exists());
    env.ok(&["create", "--name", "n", "--network", "host", "--", "true"]);
    let u = &env.inspect("n")["userns"];
    assert!(u["sys"].as_str().unwrap().contains("read-only"), "{u}");
}

/// `--network container:ID` implies `--userns host` (said by `inspect`); asking for a
/// user namespace with it is refused clearly.
#[test]
fn network_container_implies_userns_host() {
    let env = Env::new("userns-netctr");
    env.ok(&["run", "-d", "--name", "t", "--", "sleep", "1000"]);
    env.ok(&[
        "run",
        "-d",
        "--name",
        "side",
        "--network",
        "container:t",
        "--",
        "sleep",
        "1000",
    ]);
    let u = &env.inspect("side")["userns"];
    assert_eq!(u["mode"], "host", "{u}");
    assert!(u["note"].as_str().unwrap().contains("network"), "{u}");
    let ns = |c: &str| env.ok(&["exec", c, "readlink", "/proc/self/ns/net"]);
    assert_eq!(ns("t"), ns("side"));
    let r = env.run(&[
        "run",
        "--rm",
        "--userns",
        "private",
        "--network",
        "container:t",
        "--",
        "true",
    ]);
    assert_eq!(r.status.code(), Some(125));
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(err.contains("--userns host"), "{err}");
    env.ok(&["rm", "-f", "t", "side"]);
    assert_eq!(env.ok(&["ps", "-aq"]), "");
    assert!(mounts_under(&env.root).is_empty());
}

#[test]
fn data_root_behind_a_closed_directory_is_a_clear_error() {
    let env = Env::new("userns-closed");
    // A data root below a directory only its owner may enter (mktemp -d makes such).
    let closed = env.root.join("closed");
    std::fs::create_dir(&closed).unwrap();
    std::fs::set_permissions(&closed, std::fs::Permissions::from_mode(0o700)).unwrap();
    let data = closed.join("data");
    let run = |extra: &[&str]| {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_berth"));
        c.arg("--root").arg(&data);
        c.arg("--cgroup-parent").arg(&env.cgroup_parent);
        c.args(["run", "--rm"]).args(extra);
        c.args(["--", "true"]).output().unwrap()
    };
    let out = run(&[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(125), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    assert!(
        err.contains(&closed.display().to_string()) && err.contains("chmod o+x"),
        "{err}"
    );
    // Nothing was created for it, and without a user namespace it runs.
    let ps = std::process::Command::new(env!("CARGO_BIN_EXE_berth"))
        .arg("--root")
        .arg(&data)
        .args(["ps", "-aq"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&ps.stdout).trim().is_empty());
    let out = run(&["--userns", "host"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Opened up, the default works too.
    std::fs::set_permissions(&closed, std::fs::Permissions::from_mode(0o711)).unwrap();
    let out = run(&[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
