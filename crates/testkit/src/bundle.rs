//! An OCI bundle in a private temporary directory: busybox rootfs plus `runc spec`'s config.

use std::path::{Path, PathBuf};

use oci_spec::runtime::Spec;
use tempfile::TempDir;

use crate::cgroup::cgroup_mounts;
use crate::{busybox_rootfs, spec, unique, TestkitError};

/// A bundle directory (`config.json` + `rootfs/`) removed on drop, together with the cgroup
/// directories named after its `cgroupsPath` if a runtime left them behind.
pub struct Bundle {
    dir: TempDir,
    spec: Spec,
    id: String,
    cgroups_path: String,
}

impl Bundle {
    /// A busybox bundle running `args`, with `runc spec`'s defaults ([`spec::runc_default`]),
    /// `terminal: false` and `cgroupsPath` set to `/<id>`, where `id` is a fresh
    /// `berth-test-...` name also meant as the container id. `config.json` is written already.
    ///
    /// Panics with the failing step when the bundle cannot be made (it is a test helper);
    /// [`Bundle::try_busybox`] returns the error instead.
    #[track_caller]
    pub fn busybox(args: &[&str]) -> Bundle {
        match Self::try_busybox(args) {
            Ok(bundle) => bundle,
            Err(e) => panic!("make busybox bundle: {e}"),
        }
    }

    /// [`Bundle::busybox`] returning the failing step instead of panicking.
    pub fn try_busybox(args: &[&str]) -> Result<Bundle, TestkitError> {
        let id = unique("berth-test");
        let tmp = std::env::temp_dir();
        let dir = tempfile::Builder::new()
            .prefix(&format!("{id}-bundle-"))
            .tempdir_in(&tmp)
            .map_err(|source| TestkitError::CreateDir { path: tmp, source })?;
        let rootfs = dir.path().join("rootfs");
        busybox_rootfs(&rootfs).map_err(|source| TestkitError::Rootfs {
            path: rootfs.clone(),
            source,
        })?;

        let mut spec = spec::runc_default()?;
        if let Some(process) = spec.process_mut() {
            process.set_terminal(Some(false));
            process.set_args(Some(args.iter().map(|a| a.to_string()).collect()));
        }
        let cgroups_path = format!("/{id}");
        if let Some(linux) = spec.linux_mut() {
            linux.set_cgroups_path(Some(PathBuf::from(&cgroups_path)));
        }
        let bundle = Bundle {
            dir,
            spec,
            id,
            cgroups_path,
        };
        bundle.write()?;
        Ok(bundle)
    }

    /// The bundle directory (pass it as `--bundle`).
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `<bundle>/rootfs`.
    pub fn rootfs(&self) -> PathBuf {
        self.dir.path().join("rootfs")
    }

    /// `<bundle>/config.json`.
    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("config.json")
    }

    /// A unique `berth-test-...` name to use as container id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The absolute `cgroupsPath` this bundle was made with (`/<id>`).
    pub fn cgroups_path(&self) -> &str {
        &self.cgroups_path
    }

    pub fn spec(&self) -> &Spec {
        &self.spec
    }

    /// Edit the spec; call [`Bundle::write`] afterwards.
    pub fn spec_mut(&mut self) -> &mut Spec {
        &mut self.spec
    }

    /// (Re)write `config.json` from the current spec.
    pub fn write(&self) -> Result<(), TestkitError> {
        let path = self.config_path();
        self.spec
            .save(&path)
            .map_err(|source| TestkitError::SerializeSpec { path, source })
    }
}

impl Drop for Bundle {
    fn drop(&mut self) {
        // Only the cgroup this bundle named, under every hierarchy; rmdir fails harmlessly when
        // it does not exist or still holds processes (then the leak is visible, not hidden).
        let relative = self.cgroups_path.trim_start_matches('/');
        for mount in cgroup_mounts() {
            let _ = std::fs::remove_dir(mount.path.join(relative));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundle_writes_config_with_args_and_unique_cgroup() {
        let mut bundle = Bundle::busybox(&["/bin/true"]);
        let saved = Spec::load(bundle.config_path()).unwrap();
        let process = saved.process().as_ref().unwrap();
        assert_eq!(process.args().as_ref().unwrap(), &["/bin/true".to_string()]);
        assert_eq!(process.terminal(), Some(false));
        let cgroups_path = saved
            .linux()
            .as_ref()
            .unwrap()
            .cgroups_path()
            .clone()
            .unwrap();
        assert_eq!(cgroups_path, PathBuf::from(format!("/{}", bundle.id())));
        assert!(bundle.id().starts_with("berth-test-"));
        assert!(bundle.rootfs().join("bin/busybox").is_file());

        bundle
            .spec_mut()
            .set_hostname(Some("berth-test-host".into()));
        bundle.write().unwrap();
        let saved = Spec::load(bundle.config_path()).unwrap();
        assert_eq!(saved.hostname().as_deref(), Some("berth-test-host"));

        let dir = bundle.path().to_path_buf();
        drop(bundle);
        assert!(!dir.exists(), "bundle dir removed on drop");
    }
}
