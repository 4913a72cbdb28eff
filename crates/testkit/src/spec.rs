//! The OCI config that `runc spec` writes, as the starting point of every test bundle.

use oci_spec::runtime::{LinuxNamespace, LinuxNamespaceType, Spec};

use crate::TestkitError;

/// `runc spec` output of runc 1.1.5 (Debian 12), verbatim.
const RUNC_SPEC: &str = include_str!("runc_spec.json");

/// The default spec of `runc spec`: namespaces pid, network, ipc, uts, mount and cgroup (runc
/// 1.2 and later add the cgroup namespace to 1.1's list), mounts proc, dev, devpts, shm, mqueue,
/// sys and cgroup, runc's masked and read-only paths, the three default capabilities,
/// `RLIMIT_NOFILE` 1024, `noNewPrivileges`, a read-only `rootfs`, and a device rule denying all
/// devices (runtimes add their default allowed devices after it). `terminal` is left as runc
/// writes it (true); [`crate::Bundle`] turns it off.
pub fn runc_default() -> Result<Spec, TestkitError> {
    let mut spec: Spec = serde_json::from_str(RUNC_SPEC).map_err(TestkitError::DefaultSpec)?;
    if let Some(linux) = spec.linux_mut() {
        let mut namespaces = linux.namespaces().clone().unwrap_or_default();
        if !namespaces
            .iter()
            .any(|ns| ns.typ() == LinuxNamespaceType::Cgroup)
        {
            let mut cgroup = LinuxNamespace::default();
            cgroup.set_typ(LinuxNamespaceType::Cgroup);
            namespaces.push(cgroup);
        }
        linux.set_namespaces(Some(namespaces));
    }
    Ok(spec)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runc_default_has_runc_namespaces_mounts_and_masks() {
        let spec = runc_default().unwrap();
        let linux = spec.linux().as_ref().unwrap();
        let types: Vec<_> = linux
            .namespaces()
            .as_ref()
            .unwrap()
            .iter()
            .map(|ns| ns.typ())
            .collect();
        use LinuxNamespaceType::*;
        assert_eq!(types, [Pid, Network, Ipc, Uts, Mount, Cgroup]);
        let dests: Vec<_> = spec
            .mounts()
            .as_ref()
            .unwrap()
            .iter()
            .map(|m| m.destination().display().to_string())
            .collect();
        assert_eq!(
            dests,
            [
                "/proc",
                "/dev",
                "/dev/pts",
                "/dev/shm",
                "/dev/mqueue",
                "/sys",
                "/sys/fs/cgroup"
            ]
        );
        assert!(linux
            .masked_paths()
            .as_ref()
            .unwrap()
            .contains(&"/proc/kcore".to_string()));
        assert!(linux
            .readonly_paths()
            .as_ref()
            .unwrap()
            .contains(&"/proc/sys".to_string()));
        assert_eq!(spec.root().as_ref().unwrap().readonly(), Some(true));
    }
}
