//! `delete`: remove a stopped container (poststop hooks, cgroup, state). With `--force` a
//! running one is killed first, and whatever a crashed runtime left is cleaned up.

use std::path::Path;
use std::time::{Duration, Instant};

use super::Container;
use crate::error::{Error, Result};
use crate::state::{StateDir, Status};

pub fn delete(root: &Path, id: &str, force: bool) -> Result<()> {
    crate::state::validate_id(id)?;
    let c = match Container::load(root, id) {
        Ok(c) => c,
        Err(Error::NotExist(_)) if force => return Ok(()),
        // A state directory without a readable state: a create that crashed very early.
        Err(Error::StateCorrupt { .. }) | Err(Error::StateDir { .. }) if root.join(id).is_dir() => {
            return StateDir::open(root, id)?.remove();
        }
        Err(e) => return Err(e),
    };
    let status = c.status();
    match status {
        Status::Stopped | Status::Created | Status::Creating => {}
        Status::Running | Status::Paused if force => {}
        _ => {
            return Err(Error::WrongStatus(format!(
                "cannot delete container {id} that is not stopped: {status}"
            )))
        }
    }
    destroy(c)
}

/// Kill everything left, run poststop hooks, remove the cgroup and the state directory.
pub(crate) fn destroy(c: Container) -> Result<()> {
    let cg = c.cgroup()?;
    if let Some(pidfd) = c.init_pidfd() {
        let _ = berth_sys::ns::pidfd_send_signal(std::os::fd::AsFd::as_fd(&pidfd), libc::SIGKILL);
    }
    if let Some(cg) = &cg {
        let _ = cg.kill_all(libc::SIGKILL);
        let _ = cg.thaw();
        // Wait until the cgroup is empty (killed processes must be reaped first).
        let deadline = Instant::now() + Duration::from_secs(5);
        while cg.pids().map(|p| !p.is_empty()).unwrap_or(false) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(2));
        }
    } else {
        let deadline = Instant::now() + Duration::from_secs(5);
        while c.init_alive() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    if let Ok(spec) = c.spec() {
        if let Some(h) = spec.hooks().as_ref().and_then(|h| h.poststop().as_ref()) {
            let state = c.hook_state(Status::Stopped);
            if let Err(e) = crate::hooks::run("poststop", Some(h), &state) {
                eprintln!("warning: {e}");
            }
        }
    }
    if let Some(cg) = &cg {
        cg.destroy()?;
    }
    c.dir.remove()
}
