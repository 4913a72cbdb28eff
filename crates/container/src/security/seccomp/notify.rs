//! Handing the seccomp notification listener to the seccomp agent (OCI runtime spec,
//! "listenerPath"): connect to the agent's unix socket and send the container process
//! state as JSON, with the listener attached as `SCM_RIGHTS`. Runs in the runtime parent.

use std::io::{IoSlice, Write};
use std::os::fd::{AsRawFd, BorrowedFd};
use std::os::unix::net::UnixStream;
use std::path::Path;

use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags, UnixAddr};
use oci_spec::runtime::{ContainerProcessState, SECCOMP_FD_NAME};

use super::Error;

/// Send `fd` and `state` to the agent listening on `listener_path`. The state's `fds` is
/// set to `["seccompFd"]`, naming the one descriptor sent, whatever the caller filled in.
pub fn send_seccomp_fd(
    listener_path: &Path,
    fd: BorrowedFd<'_>,
    state: &ContainerProcessState,
) -> Result<(), Error> {
    let err = |step: &'static str| {
        move |source: std::io::Error| Error::Listener {
            path: listener_path.to_path_buf(),
            step,
            source,
        }
    };
    let mut state = state.clone();
    state.set_fds(vec![SECCOMP_FD_NAME.to_string()]);
    let json = serde_json::to_vec(&state).map_err(|source| Error::ListenerState {
        path: listener_path.to_path_buf(),
        source,
    })?;

    let mut stream = UnixStream::connect(listener_path).map_err(err("connect"))?;
    let fds = [fd.as_raw_fd()];
    let sent = sendmsg::<UnixAddr>(
        stream.as_raw_fd(),
        &[IoSlice::new(&json)],
        &[ControlMessage::ScmRights(&fds)],
        MsgFlags::MSG_NOSIGNAL,
        None,
    )
    .map_err(|e| err("sendmsg")(e.into()))?;
    // A stream socket may take the message in pieces; the descriptor went with the first.
    stream.write_all(&json[sent..]).map_err(err("write"))?;
    Ok(())
}
