//! kill(2) for any signal number, real-time ones included (`runc kill --all` is used
//! with SIGRTMIN+3 to halt systemd in a container; rustix's and nix's typed signals
//! cannot express those safely).

use std::io;

/// Highest valid signal number (SIGRTMAX on Linux).
pub fn max_signal() -> i32 {
    libc::SIGRTMAX()
}

/// Sends `sig` (1..=SIGRTMAX, checked by the caller) to `pid`.
pub fn kill(pid: i32, sig: i32) -> io::Result<()> {
    // SAFETY: kill(2) takes two integers and touches no memory of ours.
    let ret = unsafe { libc::kill(pid, sig) };
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}
