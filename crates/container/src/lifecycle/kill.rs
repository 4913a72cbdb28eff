//! `kill`: signal a container's init (through a pidfd: no pid-reuse race) or, with `--all`,
//! every process in its cgroup.

use std::os::fd::AsFd;
use std::path::Path;

use super::Container;
use crate::error::{sys, Error, Result};
use crate::state::Status;

pub fn kill(root: &Path, id: &str, signal: i32, all: bool) -> Result<()> {
    let c = Container::load(root, id)?;
    let status = c.status();
    if status == Status::Stopped && !all {
        return Err(Error::WrongStatus("container not running".into()));
    }
    if all {
        if let Some(cg) = c.cgroup()? {
            cg.kill_all(signal)?;
            if status == Status::Paused && signal == libc::SIGKILL {
                let _ = cg.thaw();
            }
            return Ok(());
        }
    }
    let pidfd = c
        .init_pidfd()
        .ok_or_else(|| Error::WrongStatus("container not running".into()))?;
    berth_sys::ns::pidfd_send_signal(pidfd.as_fd(), signal)
        .map_err(sys(format!("send signal {signal} to container {id}")))
}

/// Parse a signal the way runc does: `KILL`, `SIGKILL`, `kill` or `9`.
pub fn parse_signal(s: &str) -> Result<i32> {
    if let Ok(n) = s.parse::<i32>() {
        if (1..=64).contains(&n) {
            return Ok(n);
        }
    }
    let upper = s.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    let full = format!("SIG{name}");
    full.parse::<nix::sys::signal::Signal>()
        .map(|s| s as i32)
        .map_err(|_| Error::ConfigInvalid(format!("unknown signal {s:?}")))
}

#[cfg(test)]
mod tests {
    #[test]
    fn signals() {
        assert_eq!(super::parse_signal("KILL").unwrap(), 9);
        assert_eq!(super::parse_signal("sigterm").unwrap(), 15);
        assert_eq!(super::parse_signal("9").unwrap(), 9);
        assert!(super::parse_signal("NOPE").is_err());
        assert!(super::parse_signal("0").is_err());
    }
}
