//! `-t`: a pty through the runtime's console socket, for `run` and `exec`; `-i` stdin;
//! `--init` as pid 1; many `berth` commands at once.

mod common;

use std::io::Write;
use std::process::Stdio;

use common::Env;

#[test]
fn run_and_exec_with_a_terminal() {
    let env = Env::new("tty");
    let out = env.ok(&[
        "run",
        "--rm",
        "-t",
        "--",
        "sh",
        "-c",
        "tty; test -t 1 && echo isatty; echo $TERM",
    ]);
    // The pty turns \n into \r\n.
    assert_eq!(out.replace('\r', ""), "/dev/pts/0\nisatty\nxterm\n");
    let id = env.ok(&["run", "-d", "--", "sleep", "1000"]);
    let r = env.run(&["exec", "-t", id.trim(), "sh", "-c", "tty; exit 4"]);
    assert_eq!(r.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&r.stdout).starts_with("/dev/pts/"));
    // Console sockets are not left behind.
    let short = &id.trim()[..12];
    let left: Vec<_> = std::fs::read_dir("/run/berth")
        .map(|d| {
            d.flatten()
                .filter(|e| e.file_name().to_string_lossy().starts_with(short))
                .collect()
        })
        .unwrap_or_default();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn interactive_stdin_reaches_the_container() {
    let env = Env::new("stdin");
    let mut child = env
        .cmd()
        .args(["run", "--rm", "-i", "--", "sh", "-c", "tr a-z A-Z"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"hello berth\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout), "HELLO BERTH\n");
}

#[test]
fn init_is_pid_one_and_reaps() {
    let env = Env::new("init");
    // An orphan (the inner sh's child) is reparented to pid 1 and must be reaped, or it
    // would stay a zombie.
    let out = env.ok(&[
        "run", "--rm", "--init", "--", "sh", "-c",
        "echo $$; sh -c 'sleep 0.2 &'; sleep 0.5; grep -l zombie /proc/[0-9]*/status 2>/dev/null | wc -l; cat /proc/1/cmdline | tr '\\0' ' '",
    ]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "2", "the command runs as the init's child");
    assert_eq!(lines[1], "0", "no zombie left: {out}");
    assert!(lines[2].starts_with("/.berth-init -- sh"), "{out}");
}

#[test]
fn init_forwards_stop_signal() {
    let env = Env::new("initsig");
    env.ok(&[
        "run",
        "-d",
        "--init",
        "--name",
        "i",
        "--",
        "sh",
        "-c",
        "trap 'exit 5' TERM; while :; do sleep 0.1; done",
    ]);
    let t = std::time::Instant::now();
    env.ok(&["stop", "-t", "10", "i"]);
    assert!(
        t.elapsed() < std::time::Duration::from_secs(5),
        "TERM reached the command"
    );
    assert_eq!(env.inspect("i")["exit_code"], 5);
}

#[test]
fn concurrent_commands_keep_every_container() {
    let env = Env::new("concurrent");
    let children: Vec<_> = (0..8)
        .map(|i| {
            env.cmd()
                .args([
                    "run",
                    "-d",
                    "--name",
                    &format!("c{i}"),
                    "--",
                    "sleep",
                    "1000",
                ])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let list: serde_json::Value =
        serde_json::from_str(&env.ok(&["ps", "--format", "json"])).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 8);
    let rms: Vec<_> = (0..8)
        .map(|i| {
            env.cmd()
                .args(["rm", "-f", &format!("c{i}")])
                .stdout(Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    for mut c in rms {
        assert!(c.wait().unwrap().success());
    }
    assert_eq!(env.ok(&["ps", "-aq"]), "");
}
