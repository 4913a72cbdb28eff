//! The guest kernel and modules that vm/prepare.sh unpacked.

use std::fs;
use std::path::{Path, PathBuf};

use super::VmError;

/// `$BERTH_VM_CACHE`, else `/var/cache/berth-ci/vm` (where vm/prepare.sh writes).
pub fn cache_dir() -> PathBuf {
    std::env::var_os("BERTH_VM_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/cache/berth-ci/vm"))
}

/// The uncompressed kernel and its module tree.
#[derive(Debug, Clone)]
pub struct GuestKernel {
    /// ELF vmlinux, booted by qemu through its PVH entry point.
    pub vmlinux: PathBuf,
    /// `uname -r` of that kernel.
    pub version: String,
    /// `<cache>/modules/<version>` with `modules.dep`.
    pub modules: PathBuf,
}

impl GuestKernel {
    /// The kernel prepared in [`cache_dir`].
    pub fn prepared() -> Result<GuestKernel, VmError> {
        Self::in_cache(&cache_dir())
    }

    pub fn in_cache(cache: &Path) -> Result<GuestKernel, VmError> {
        let env = cache.join("guest.env");
        let content = fs::read_to_string(&env).map_err(|source| VmError::KernelMissing {
            cache: cache.to_path_buf(),
            source,
        })?;
        let version = content
            .lines()
            .find_map(|l| l.strip_prefix("KVER="))
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .ok_or(VmError::KernelVersion { path: env })?
            .to_string();
        let vmlinux = cache.join("vmlinux");
        fs::metadata(&vmlinux).map_err(|source| VmError::KernelMissing {
            cache: cache.to_path_buf(),
            source,
        })?;
        let modules = cache.join("modules").join(&version);
        Ok(GuestKernel {
            vmlinux,
            version,
            modules,
        })
    }

    /// The module files (relative to [`GuestKernel::modules`]) needed to load `names`, each
    /// after its dependencies, read from `modules.dep`.
    pub fn module_closure(&self, names: &[String]) -> Result<Vec<String>, VmError> {
        let dep_path = self.modules.join("modules.dep");
        let deps = fs::read_to_string(&dep_path).map_err(|source| VmError::Read {
            path: dep_path.clone(),
            source,
        })?;
        let mut out: Vec<String> = Vec::new();
        for name in names {
            let wanted = name.replace('-', "_");
            let line = deps
                .lines()
                .find(|line| {
                    let file = line.split(':').next().unwrap_or("");
                    let base = file.rsplit('/').next().unwrap_or("");
                    let stem = base.split(".ko").next().unwrap_or("");
                    stem.replace('-', "_") == wanted
                })
                .ok_or_else(|| VmError::ModuleMissing {
                    name: name.clone(),
                    path: dep_path.clone(),
                })?;
            let (file, rest) = line.split_once(':').unwrap_or((line, ""));
            // modules.dep lists the full closure, deepest dependency last.
            for dep in rest.split_whitespace().rev().chain(std::iter::once(file)) {
                if !out.iter().any(|o| o == dep) {
                    out.push(dep.to_string());
                }
            }
        }
        Ok(out)
    }
}
