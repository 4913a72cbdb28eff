//! Linux security module labels: `process.apparmorProfile`, `process.selinuxLabel` and
//! `linux.mountLabel`.
//!
//! berth applies no LSM labels. On a host without the LSM the answers are runc's:
//! an AppArmor profile is ignored when AppArmor is not enabled; a SELinux *mount* label
//! is ignored when SELinux is disabled (runc formats mount options without it); a SELinux
//! *process* label is refused ("selinux label is specified in config, but selinux is
//! disabled or not supported", runc's config validation). On a host where the LSM *is*
//! enabled, a requested label is refused rather than silently not applied, since a
//! tenant's confinement would otherwise be weaker than configured.

use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "selinux label {0:?} is specified in config, but selinux is disabled or not supported"
    )]
    SelinuxDisabled(String),
    #[error("selinux label {0:?} is specified in config: berth does not apply SELinux labels")]
    SelinuxUnsupported(String),
    #[error(
        "apparmor profile {0:?} is specified in config: berth does not apply AppArmor profiles"
    )]
    ApparmorUnsupported(String),
}

/// Whether AppArmor is enabled: runc's test (securityfs directory present and the module
/// parameter says `Y`).
pub fn apparmor_enabled() -> bool {
    Path::new("/sys/kernel/security/apparmor").exists()
        && std::fs::read("/sys/module/apparmor/parameters/enabled")
            .is_ok_and(|v| v.first() == Some(&b'Y'))
}

/// Whether SELinux is enabled: selinuxfs is present (mounted at /sys/fs/selinux).
pub fn selinux_enabled() -> bool {
    Path::new("/sys/fs/selinux/enforce").exists()
}

fn given(s: Option<&str>) -> Option<&str> {
    s.filter(|s| !s.is_empty())
}

/// Decide what to do with the configured labels, answering as runc does (see the module
/// documentation). `Ok(())` means: nothing to apply.
pub fn check_labels(
    process_label: Option<&str>,
    mount_label: Option<&str>,
    apparmor: Option<&str>,
) -> Result<(), Error> {
    check_labels_on(
        process_label,
        mount_label,
        apparmor,
        selinux_enabled(),
        apparmor_enabled(),
    )
}

/// `check_labels` for a host whose LSM state is given.
pub fn check_labels_on(
    process_label: Option<&str>,
    mount_label: Option<&str>,
    apparmor: Option<&str>,
    selinux_on: bool,
    apparmor_on: bool,
) -> Result<(), Error> {
    if let Some(label) = given(process_label) {
        return Err(if selinux_on {
            Error::SelinuxUnsupported(label.to_string())
        } else {
            Error::SelinuxDisabled(label.to_string())
        });
    }
    if let Some(label) = given(mount_label) {
        if selinux_on {
            return Err(Error::SelinuxUnsupported(label.to_string()));
        }
    }
    if let Some(profile) = given(apparmor) {
        if apparmor_on {
            return Err(Error::ApparmorUnsupported(profile.to_string()));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_without_lsms_answers_like_runc() {
        assert!(check_labels_on(None, None, None, false, false).is_ok());
        assert!(check_labels_on(Some(""), Some(""), Some(""), false, false).is_ok());
        // AppArmor profile and mount label: ignored.
        assert!(check_labels_on(
            None,
            Some("system_u:object_r:svirt_sandbox_file_t:s0"),
            Some("docker-default"),
            false,
            false
        )
        .is_ok());
        // Process label: refused.
        let e = check_labels_on(
            Some("system_u:system_r:container_t:s0"),
            None,
            None,
            false,
            false,
        )
        .unwrap_err();
        assert!(matches!(e, Error::SelinuxDisabled(_)));
        assert!(e.to_string().contains("selinux is disabled"), "{e}");
    }

    #[test]
    fn enabled_lsm_with_a_label_is_refused() {
        assert!(check_labels_on(None, None, Some("p"), false, true).is_err());
        assert!(check_labels_on(None, Some("m"), None, true, false).is_err());
        assert!(check_labels_on(Some("l"), None, None, true, false).is_err());
        assert!(check_labels_on(None, None, None, true, true).is_ok());
    }

    #[test]
    fn this_host_has_neither() {
        // The development and CI machines run without AppArmor and SELinux.
        assert!(check_labels(None, Some("x"), Some("docker-default")).is_ok());
    }
}
