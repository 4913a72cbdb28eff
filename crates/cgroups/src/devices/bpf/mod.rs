//! cgroup v2 device control: an eBPF BPF_PROG_TYPE_CGROUP_DEVICE program built from the
//! rules and attached to the container's cgroup directory with BPF_F_ALLOW_MULTI.
//!
//! Replacing rules (update) attaches the new program first and only then detaches the
//! old ones, so the container is never left without a filter.

pub mod insn;
pub mod program;

use std::ffi::CStr;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use super::Rule;
use crate::Error;
use berth_sys::bpf as sys;

const LICENSE: &CStr = c"Apache-2.0";

fn open_dir(dir: &Path) -> Result<OwnedFd, Error> {
    rustix::fs::open(
        dir,
        rustix::fs::OFlags::DIRECTORY | rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .map_err(|e| Error::Open {
        path: dir.to_path_buf(),
        source: e.into(),
    })
}

/// Loads the filter for `rules` and makes it the only device program of `dir`.
pub fn apply(dir: &Path, rules: &[Rule]) -> Result<(), Error> {
    let bytes = insn::encode(&program::build(rules));
    let cg = open_dir(dir)?;
    let bpf_err = |step: &'static str| {
        move |source: std::io::Error| Error::Bpf {
            step,
            path: dir.to_path_buf(),
            source,
        }
    };
    let old = sys::prog_query(cg.as_fd()).map_err(bpf_err("query attached device programs"))?;
    let mut log = vec![0u8; 16 * 1024];
    let prog = match sys::prog_load(&bytes, LICENSE, &mut log) {
        Ok(fd) => fd,
        Err(source) => {
            let end = log.iter().position(|b| *b == 0).unwrap_or(log.len());
            return Err(Error::BpfLoad {
                path: dir.to_path_buf(),
                log: String::from_utf8_lossy(&log[..end]).into_owned(),
                source,
            });
        }
    };
    sys::prog_attach(cg.as_fd(), prog.as_fd(), sys::BPF_F_ALLOW_MULTI)
        .map_err(bpf_err("attach device program"))?;
    for id in old {
        let old_prog = match sys::prog_get_fd_by_id(id) {
            Ok(fd) => fd,
            // Detached meanwhile.
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => continue,
            Err(e) => return Err(bpf_err("open old device program")(e)),
        };
        match sys::prog_detach(cg.as_fd(), old_prog.as_fd()) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
            Err(e) => return Err(bpf_err("detach old device program")(e)),
        }
    }
    Ok(())
}

/// Number of device programs attached directly to `dir` (for tests and diagnostics).
pub fn attached_count(dir: &Path) -> Result<usize, Error> {
    let cg = open_dir(dir)?;
    sys::prog_query(cg.as_fd())
        .map(|ids| ids.len())
        .map_err(|source| Error::Bpf {
            step: "query attached device programs",
            path: dir.to_path_buf(),
            source,
        })
}
