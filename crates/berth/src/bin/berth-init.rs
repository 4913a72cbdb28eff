//! `--init`: the berth binary, bind-mounted into the container, runs as its pid 1: it
//! starts the command as its child, reaps every orphan that is reparented to it, and exits
//! with the command's status.
//!
//! Limitation: signals sent to the container's pid 1 are not forwarded to the command (a
//! handler would need `unsafe` outside crates/sys); `stop` falls back to SIGKILL after its
//! timeout. The binary is dynamically linked: `--init` works on the host tree and on images
//! with a compatible libc.

use std::process::Command;

use rustix::process::{wait, WaitOptions};

pub fn run(command: &[String]) -> anyhow::Result<i32> {
    let Some((prog, args)) = command.split_first() else {
        anyhow::bail!("__init: no command");
    };
    let child = Command::new(prog)
        .args(args)
        .spawn()
        .map_err(|e| anyhow::anyhow!("exec {prog:?}: {e}"))?;
    let main = child.id() as i32;
    loop {
        match wait(WaitOptions::empty()) {
            Ok(Some((pid, status))) if pid.as_raw_nonzero().get() == main => {
                return Ok(match (status.exit_status(), status.terminating_signal()) {
                    (Some(code), _) => code,
                    (None, Some(sig)) => 128 + sig,
                    _ => 255,
                });
            }
            Ok(_) => {}
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => anyhow::bail!("wait: {e}"),
        }
    }
}

fn main() -> std::process::ExitCode {
    // `berth-init -- CMD ARGS...`
    let args: Vec<String> = std::env::args().skip(1).collect();
    let command = match args.first().map(String::as_str) {
        Some("--") => &args[1..],
        _ => &args[..],
    };
    match run(command) {
        Ok(code) => std::process::ExitCode::from(code.clamp(0, 255) as u8),
        Err(e) => {
            eprintln!("berth-init: {e:#}");
            std::process::ExitCode::from(127)
        }
    }
}
