//! Safe defaults for the `berth` manager's containers: [`harden`] turns a bundle's spec into
//! one fit for a mutually distrusting tenant.
//!
//! - a user namespace whose 65536 ids come from [`IdRangeAllocator`] (one range per
//!   container, never shared), so root inside is an unprivileged id outside; the root
//!   file system is shown with those ids by [`prepare_root`] (idmapped mount, or
//!   chown-on-copy where the file system cannot idmap);
//! - Docker's default capabilities ([`DEFAULT_CAPS`]) and `noNewPrivileges`;
//! - a default seccomp allow-list ([`default_profile`]) answering EPERM;
//! - Docker's masked and read-only paths; private pid, ipc, uts, mount, network and
//!   cgroup namespaces.
//!
//! ```no_run
//! # fn f(spec: &mut oci_spec::runtime::Spec, rootfs_src: &std::path::Path, rootfs: &std::path::Path) -> Result<(), berth_container::defaults::Error> {
//! use berth_container::defaults::{harden, prepare_root, HardenOptions, IdRangeAllocator};
//! let ids = IdRangeAllocator::open(std::path::Path::new("/var/lib/berth"))?;
//! let range = ids.allocate("my-container")?;
//! let _root = prepare_root(rootfs_src, rootfs, &range)?;
//! harden(spec, &HardenOptions::with_user_namespace(range))?;
//! // ... on removal: ids.release("my-container")?;
//! # Ok(()) }
//! ```

mod caps;
mod idrange;
mod paths;
mod rootfs_ids;
mod seccomp;

pub use caps::DEFAULT_CAPS;
pub use idrange::{
    host_pool, IdRange, IdRangeAllocator, Pool, PoolSource, DEFAULT_POOL_RANGES,
    DEFAULT_POOL_START, RANGE_SIZE,
};
pub use paths::{MASKED_PATHS, READONLY_PATHS};
pub use rootfs_ids::{
    chown_shift, prepare_root, supports_idmap, unmount_root, IdmappedRoot, RootfsIds,
};
pub use seccomp::{default_profile, CLONE_NAMESPACE_FLAGS};

use std::path::PathBuf;

use oci_spec::runtime::{
    Capabilities, Capability, LinuxBuilder, LinuxCapabilitiesBuilder, LinuxIdMappingBuilder,
    LinuxNamespaceBuilder, LinuxNamespaceType, ProcessBuilder, Spec,
};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("build {0}")]
    Build(String),
    #[error("unknown capability {0:?}")]
    Capability(String),
    #[error("{what} pool {start}+{count} cannot hold one range of 65536 ids")]
    PoolTooSmall {
        what: &'static str,
        start: u32,
        count: u32,
    },
    #[error("read subordinate ids {path}: {source}")]
    Subordinate {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("create id-range data root {path}: {source}")]
    DataRoot {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("lock id ranges {path}: {source}")]
    Lock {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("id ranges {path}: {reason}")]
    StateCorrupt { path: PathBuf, reason: String },
    #[error("id ranges {path}: {source}")]
    StateIo {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("all {ranges} id ranges are in use")]
    Exhausted { ranges: u32 },
    #[error("read {path} to shift its owners: {source}")]
    Walk {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("chown {path} to {uid}:{gid}: {source}")]
    Chown {
        path: PathBuf,
        uid: u32,
        gid: u32,
        source: std::io::Error,
    },
    #[error("restore setuid/setgid mode of {path}: {source}")]
    Chmod {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("idmapped bind mount of {src} on {target}: {source}")]
    IdmapMount {
        src: PathBuf,
        target: PathBuf,
        source: std::io::Error,
    },
    #[error("unmount {path}: {source}")]
    Unmount {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// What [`harden`] applies.
#[derive(Clone, Debug)]
pub struct HardenOptions {
    /// The container's id range; `None` runs it without a user namespace (root inside is
    /// root outside, only capabilities and seccomp stand between: not for tenants).
    pub user_namespace: Option<IdRange>,
    /// Capability names (`CAP_...`); `None` means [`DEFAULT_CAPS`].
    pub capabilities: Option<Vec<String>>,
    /// Install [`default_profile`] (on by default; the manager turns it off only for
    /// `--security-opt seccomp=unconfined`).
    pub seccomp: bool,
}

impl HardenOptions {
    /// The tenant default: user namespace with `range`, Docker's caps, seccomp.
    pub fn with_user_namespace(range: IdRange) -> Self {
        Self {
            user_namespace: Some(range),
            capabilities: None,
            seccomp: true,
        }
    }

    /// Everything but the user namespace.
    pub fn without_user_namespace() -> Self {
        Self {
            user_namespace: None,
            capabilities: None,
            seccomp: true,
        }
    }
}

/// Apply the defaults to `spec` (see the module doc). Namespaces the spec already joins by
/// path are kept; masked/read-only paths are added to the spec's own.
pub fn harden(spec: &mut Spec, opts: &HardenOptions) -> Result<(), Error> {
    let cap_names: Vec<String> = match &opts.capabilities {
        Some(c) => c.clone(),
        None => DEFAULT_CAPS.iter().map(|s| s.to_string()).collect(),
    };
    let caps = parse_caps(&cap_names)?;

    let mut process = match spec.process().clone() {
        Some(p) => p,
        None => ProcessBuilder::default()
            .build()
            .map_err(|e| Error::Build(format!("process: {e}")))?,
    };
    process.set_capabilities(Some(
        LinuxCapabilitiesBuilder::default()
            .bounding(caps.clone())
            .effective(caps.clone())
            .permitted(caps)
            .inheritable(Capabilities::new())
            .ambient(Capabilities::new())
            .build()
            .map_err(|e| Error::Build(format!("capabilities: {e}")))?,
    ));
    process.set_no_new_privileges(Some(true));
    spec.set_process(Some(process));

    let mut linux = match spec.linux().clone() {
        Some(l) => l,
        None => LinuxBuilder::default()
            .build()
            .map_err(|e| Error::Build(format!("linux: {e}")))?,
    };
    let mut namespaces = linux.namespaces().clone().unwrap_or_default();
    let mut wanted = vec![
        LinuxNamespaceType::Pid,
        LinuxNamespaceType::Ipc,
        LinuxNamespaceType::Uts,
        LinuxNamespaceType::Mount,
        LinuxNamespaceType::Network,
        LinuxNamespaceType::Cgroup,
    ];
    if opts.user_namespace.is_some() {
        wanted.push(LinuxNamespaceType::User);
    } else {
        namespaces.retain(|n| n.typ() != LinuxNamespaceType::User);
    }
    for t in wanted {
        if !namespaces.iter().any(|n| n.typ() == t) {
            namespaces.push(
                LinuxNamespaceBuilder::default()
                    .typ(t)
                    .build()
                    .map_err(|e| Error::Build(format!("namespace: {e}")))?,
            );
        }
    }
    linux.set_namespaces(Some(namespaces));
    match &opts.user_namespace {
        Some(r) => {
            let map = |host: u32| {
                LinuxIdMappingBuilder::default()
                    .container_id(0u32)
                    .host_id(host)
                    .size(r.size)
                    .build()
                    .map_err(|e| Error::Build(format!("id mapping: {e}")))
            };
            linux.set_uid_mappings(Some(vec![map(r.uid_start)?]));
            linux.set_gid_mappings(Some(vec![map(r.gid_start)?]));
        }
        None => {
            linux.set_uid_mappings(None);
            linux.set_gid_mappings(None);
        }
    }
    let merge = |have: Option<Vec<String>>, add: &[&str]| {
        let mut v = have.unwrap_or_default();
        for p in add {
            if !v.iter().any(|x| x == p) {
                v.push(p.to_string());
            }
        }
        Some(v)
    };
    linux.set_masked_paths(merge(linux.masked_paths().clone(), &MASKED_PATHS));
    linux.set_readonly_paths(merge(linux.readonly_paths().clone(), &READONLY_PATHS));
    if opts.seccomp {
        linux.set_seccomp(Some(default_profile(&cap_names)?));
    }
    spec.set_linux(Some(linux));
    Ok(())
}

fn parse_caps(names: &[String]) -> Result<Capabilities, Error> {
    names
        .iter()
        .map(|n| {
            serde_json::from_value::<Capability>(serde_json::Value::String(n.clone()))
                .map_err(|_| Error::Capability(n.clone()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn harden_sets_userns_caps_paths_and_seccomp() {
        let mut spec = Spec::default();
        let r = IdRange {
            uid_start: 1_000_000_000,
            gid_start: 1_000_000_000,
            size: RANGE_SIZE,
        };
        harden(&mut spec, &HardenOptions::with_user_namespace(r)).unwrap();
        let p = spec.process().as_ref().unwrap();
        assert_eq!(p.no_new_privileges(), Some(true));
        let c = p.capabilities().as_ref().unwrap();
        assert_eq!(c.bounding().as_ref().unwrap().len(), DEFAULT_CAPS.len());
        assert!(!c
            .bounding()
            .as_ref()
            .unwrap()
            .contains(&Capability::SysAdmin));
        let l = spec.linux().as_ref().unwrap();
        let ns = l.namespaces().as_ref().unwrap();
        for t in [LinuxNamespaceType::User, LinuxNamespaceType::Cgroup] {
            assert!(ns.iter().any(|n| n.typ() == t), "{t:?}");
        }
        assert_eq!(
            l.uid_mappings().as_ref().unwrap()[0].host_id(),
            1_000_000_000
        );
        assert!(l
            .masked_paths()
            .as_ref()
            .unwrap()
            .contains(&"/proc/kcore".to_string()));
        assert!(l.seccomp().is_some());
        assert!(matches!(
            harden(
                &mut spec,
                &HardenOptions {
                    capabilities: Some(vec!["CAP_NOPE".into()]),
                    ..HardenOptions::without_user_namespace()
                }
            ),
            Err(Error::Capability(_))
        ));
        harden(&mut spec, &HardenOptions::without_user_namespace()).unwrap();
        let l = spec.linux().as_ref().unwrap();
        assert!(!l
            .namespaces()
            .as_ref()
            .unwrap()
            .iter()
            .any(|n| n.typ() == LinuxNamespaceType::User));
        assert!(l.uid_mappings().is_none());
    }
}
