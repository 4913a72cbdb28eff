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
