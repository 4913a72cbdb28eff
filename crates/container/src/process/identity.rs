//! The container process's identity: supplementary groups, gid, uid and umask
//! (`process.user`), switched in runc's order (setgroups, setresgid, setresuid) with
//! `PR_SET_KEEPCAPS` held across the uid change so the permitted capabilities survive it;
//! `security::capabilities` then sets the final sets.

use std::path::PathBuf;

use nix::unistd::{Gid, Uid};
use oci_spec::runtime::User;

const SETGROUPS: &str = "/proc/self/setgroups";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("read {path}: {source}")]
    ReadSetgroups {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "additionalGids {gids:?} requested, but setgroups is denied in this user namespace ({path} is \"deny\")"
    )]
    SetgroupsDenied { path: PathBuf, gids: Vec<u32> },
    #[error("setgroups {gids:?}: {source}")]
    Setgroups { gids: Vec<u32>, source: nix::Error },
    #[error("set PR_SET_KEEPCAPS to {value}: {source}")]
    KeepCaps { value: bool, source: std::io::Error },
    #[error("setresgid {gid}: {hint}{source}")]
    Setgid {
        gid: u32,
        hint: &'static str,
        source: nix::Error,
    },
    #[error("setresuid {uid}: {hint}{source}")]
    Setuid {
        uid: u32,
        hint: &'static str,
        source: nix::Error,
    },
    #[error("umask {0:#o} has bits outside 0o777")]
    Umask(u32),
}

/// The default umask when `process.user.umask` is absent, as runc and crun use.
pub const DEFAULT_UMASK: u32 = 0o022;

/// Whether the current user namespace forbids `setgroups(2)` (/proc/self/setgroups reads
/// "deny", as in an unprivileged user namespace whose gid map was written by its owner).
fn setgroups_denied() -> Result<bool, Error> {
    match std::fs::read_to_string(SETGROUPS) {
        Ok(s) => Ok(s.trim() == "deny"),
        // Kernels before 3.19 have no such file and never deny.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(source) => Err(Error::ReadSetgroups {
            path: SETGROUPS.into(),
            source,
        }),
    }
}

fn unmapped_hint(err: nix::Error, in_user_ns: bool) -> &'static str {
    if in_user_ns && err == nix::Error::EINVAL {
        "the id is not mapped in the container's user namespace: "
    } else {
        ""
    }
}

/// Switch the calling process to `user`: supplementary groups (exactly `additionalGids`,
/// clearing the runtime's own; skipped when setgroups is denied in the user namespace and
/// none were asked for, an error if some were), then gid, then uid (real, effective and
/// saved), then the umask (`DEFAULT_UMASK` when unset).
///
/// `PR_SET_KEEPCAPS` is set across the uid change so that a switch from uid 0 keeps the
/// permitted set (the effective set is still cleared by the kernel); the caller must
/// apply the configured capability sets afterwards, as `security::finalize_process` does.
/// `in_user_ns` only improves the error when an id is not mapped.
pub fn switch_user(user: &User, in_user_ns: bool) -> Result<(), Error> {
    let umask = user.umask().unwrap_or(DEFAULT_UMASK);
    if umask & !0o777 != 0 {
        return Err(Error::Umask(umask));
    }
    let gids: Vec<u32> = user.additional_gids().clone().unwrap_or_default();
    if setgroups_denied()? {
        if !gids.is_empty() {
            return Err(Error::SetgroupsDenied {
                path: SETGROUPS.into(),
                gids,
            });
        }
    } else {
        let groups: Vec<Gid> = gids.iter().copied().map(Gid::from_raw).collect();
        nix::unistd::setgroups(&groups).map_err(|source| Error::Setgroups {
            gids: gids.clone(),
            source,
        })?;
    }

    let gid = Gid::from_raw(user.gid());
    nix::unistd::setresgid(gid, gid, gid).map_err(|source| Error::Setgid {
        gid: user.gid(),
        hint: unmapped_hint(source, in_user_ns),
        source,
    })?;

    rustix::thread::set_keep_capabilities(true).map_err(|e| Error::KeepCaps {
        value: true,
        source: e.into(),
    })?;
    let uid = Uid::from_raw(user.uid());
    nix::unistd::setresuid(uid, uid, uid).map_err(|source| Error::Setuid {
        uid: user.uid(),
        hint: unmapped_hint(source, in_user_ns),
        source,
    })?;
    rustix::thread::set_keep_capabilities(false).map_err(|e| Error::KeepCaps {
        value: false,
        source: e.into(),
    })?;

    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(umask as _));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn umask_outside_permission_bits_is_rejected_before_any_change() {
        let user: User = serde_json::from_str(r#"{"uid":0,"gid":0,"umask":4096}"#).unwrap();
        assert!(matches!(switch_user(&user, false), Err(Error::Umask(4096))));
    }
}
