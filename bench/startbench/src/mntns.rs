//! crun 1.8.1 refuses a hybrid cgroup host ("cgroups in hybrid mode not supported, drop all
//! controllers from cgroupv2"). For the comparison only, it runs in a private mount namespace
//! where /sys/fs/cgroup/unified/cgroup.controllers is covered by an empty file. A holder
//! process keeps that namespace alive; runs join it with setns(2) right before exec, so the
//! wrapper costs crun nothing measurable.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::os::fd::{AsRawFd, RawFd};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use anyhow::{bail, Context, Result};

pub struct MountNs {
    holder: Child,
    ns: File,
}

impl MountNs {
    /// `empty` is an empty file to bind over the cgroup2 controllers list.
    pub fn hiding_cgroup2_controllers(empty: &Path) -> Result<MountNs> {
        let script = format!(
            "mount --bind '{}' /sys/fs/cgroup/unified/cgroup.controllers && echo ready && \
             exec sleep 100000",
            empty.display()
        );
        let mut holder = Command::new("unshare")
            .args(["--mount", "--propagation", "private", "sh", "-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .context("start the mount namespace holder (unshare)")?;
        let mut line = String::new();
        if let Some(out) = holder.stdout.take() {
            BufReader::new(out).read_line(&mut line)?;
        }
        if line.trim() != "ready" {
            let _ = holder.kill();
            let _ = holder.wait();
            bail!("mount namespace holder did not get ready");
        }
        let path = format!("/proc/{}/ns/mnt", holder.id());
        let ns = File::open(&path).with_context(|| format!("open {path}"))?;
        Ok(MountNs { holder, ns })
    }

    pub fn fd(&self) -> RawFd {
        self.ns.as_raw_fd()
    }
}

impl Drop for MountNs {
    fn drop(&mut self) {
        let _ = self.holder.kill();
        let _ = self.holder.wait();
    }
}
