//! `no_new_privs` (`process.noNewPrivileges`): after it, `execve` can never grant more
//! privilege (setuid bits and file capabilities are ignored), and seccomp filters may be
//! loaded without CAP_SYS_ADMIN.

#[derive(Debug, thiserror::Error)]
#[error("prctl(PR_SET_NO_NEW_PRIVS): {0}")]
pub struct Error(pub std::io::Error);

/// Set the calling thread's `no_new_privs` bit (irreversible, inherited by children).
pub fn set_no_new_privs() -> Result<(), Error> {
    rustix::thread::set_no_new_privs(true).map_err(|e| Error(e.into()))
}
