//! The order in which the container process gives up privilege (runc's, see
//! libcontainer/standard_init_linux.go and finalizeNamespace):
//!
//! 1. rlimits, oom_score_adj, scheduler, I/O priority, personality: while still fully
//!    privileged (raising hard limits, lowering the OOM score, real-time classes need it);
//! 2. `no_new_privs`, if configured;
//! 3. seccomp, if `no_new_privs` is *not* set: loading a filter then needs CAP_SYS_ADMIN,
//!    so it must happen before capabilities go. The listener (SCMP_ACT_NOTIFY) is handed
//!    out at once, before any further syscall that the agent may have to answer;
//! 4. user switch (setgroups, setresgid, setresuid under PR_SET_KEEPCAPS, umask);
//! 5. capabilities: bounding, then effective/permitted/inheritable, then ambient;
//! 6. — the caller waits for `start` —
//! 7. seccomp, if `no_new_privs` *is* set: as late as possible, right before `execve`,
//!    with `load_seccomp(finalized.late_seccomp)`; then `execve`.
//!
//! A filter loaded at 3 also sees the syscalls of 4–7 (setgroups, setresuid, capset,
//! prctl, the start wait, execve), as with runc; unlike runc, a filter that would kill or
//! fail those of 4–5 is refused before it is loaded, naming the syscall, instead of the
//! init dying half-way. Every filter is refused at compile time if it denies `execve`.

use std::os::fd::OwnedFd;

use oci_spec::runtime::{
    LinuxCapabilities, LinuxIOPriority, LinuxPersonality, PosixRlimit, Process, Scheduler, User,
};

use super::{capabilities, load_seccomp, no_new_privs, CompiledSeccomp, Error};
use crate::process::{identity, rlimits, scheduling};

/// Syscalls made between an early seccomp load (without `no_new_privs`) and the end of
/// `finalize_process`, whatever the configuration (setgroups is left out: it is skipped
/// in a user namespace that denies it).
const AFTER_EARLY_LOAD: &[&str] = &[
    "setresgid",
    "prctl",
    "setresuid",
    "capget",
    "capset",
    "umask",
];
const EARLY_LOAD_REASON: &str = "after the filter is loaded: without noNewPrivileges the \
     filter must be loaded before the user switch and capability drop (as in runc); allow \
     it or set noNewPrivileges";

/// What `finalize_process` applies, borrowed from the OCI config.
#[derive(Clone, Copy, Debug)]
pub struct ProcessSecurity<'a> {
    pub rlimits: &'a [PosixRlimit],
    pub oom_score_adj: Option<i32>,
    pub scheduler: Option<&'a Scheduler>,
    pub io_priority: Option<&'a LinuxIOPriority>,
    pub personality: Option<&'a LinuxPersonality>,
    pub user: &'a User,
    /// Whether the process runs in a user namespace (improves errors for unmapped ids).
    pub in_user_ns: bool,
    /// `None` means no capabilities at all, as in runc.
    pub capabilities: Option<&'a LinuxCapabilities>,
    pub no_new_privileges: bool,
}

impl<'a> ProcessSecurity<'a> {
    /// Take everything from `process` and the Linux `personality`.
    pub fn from_spec(
        process: &'a Process,
        personality: Option<&'a LinuxPersonality>,
        in_user_ns: bool,
    ) -> Self {
        ProcessSecurity {
            rlimits: process.rlimits().as_deref().unwrap_or_default(),
            oom_score_adj: process.oom_score_adj(),
            scheduler: process.scheduler().as_ref(),
            io_priority: process.io_priority().as_ref(),
            personality,
            user: process.user(),
            in_user_ns,
            capabilities: process.capabilities().as_ref(),
            no_new_privileges: process.no_new_privileges().unwrap_or(false),
        }
    }
}

/// What is left to do after `finalize_process`.
#[derive(Debug)]
pub struct Finalized {
    /// With `no_new_privileges`: the filter to load after the start wait, right before
    /// `execve` (`load_seccomp`, then hand out its listener if any).
    pub late_seccomp: Option<CompiledSeccomp>,
}

/// Steps 1–5 of the module documentation. `seccomp` is the compiled `linux.seccomp`;
/// `send_listener` is called with the notification listener as soon as a filter loaded
/// here returns one (so the runtime can pass it to the agent before the child makes any
/// syscall the agent has to answer).
pub fn finalize_process(
    p: &ProcessSecurity<'_>,
    seccomp: Option<CompiledSeccomp>,
    send_listener: impl FnOnce(OwnedFd) -> std::io::Result<()>,
) -> Result<Finalized, Error> {
    rlimits::set_rlimits(p.rlimits)?;
    if let Some(v) = p.oom_score_adj {
        scheduling::set_oom_score_adj(v)?;
    }
    if let Some(s) = p.scheduler {
        scheduling::set_scheduler(s)?;
    }
    if let Some(io) = p.io_priority {
        scheduling::set_io_priority(io)?;
    }
    if let Some(per) = p.personality {
        scheduling::set_personality(per)?;
    }

    if p.no_new_privileges {
        no_new_privs::set_no_new_privs()?;
    }
    let late_seccomp = match seccomp {
        Some(c) if !p.no_new_privileges => {
            c.check_allows(AFTER_EARLY_LOAD, EARLY_LOAD_REASON)?;
            if let Some(fd) = load_seccomp(c)? {
                send_listener(fd).map_err(Error::SendListener)?;
            }
            None
        }
        other => other,
    };

    identity::switch_user(p.user, p.in_user_ns)?;
    let none = no_capabilities();
    capabilities::drop_bounding_and_set_caps(p.capabilities.unwrap_or(&none))?;
    Ok(Finalized { late_seccomp })
}

/// No capabilities at all (oci-spec's `Default` is Docker's three, not the empty set).
fn no_capabilities() -> LinuxCapabilities {
    let mut c = LinuxCapabilities::default();
    c.set_bounding(None);
    c.set_effective(None);
    c.set_permitted(None);
    c.set_inheritable(None);
    c.set_ambient(None);
    c
}
