//! Writing the resource table's plan into the cgroup directories.

use std::collections::BTreeSet;
use std::io;
use std::path::{Path, PathBuf};

use oci_spec::runtime::LinuxResources;

use super::Manager;
use crate::resources::{self, Version, Write};
use crate::{devices, fsutil, Error};

/// Writes "+c" for every controller of `dir` into its cgroup.subtree_control. If the kernel
/// refuses the whole set, each is tried alone and the ones it refuses are left off (as runc
/// does): a missing controller surfaces later, naming the knob that needs it.
pub(super) fn enable_all_controllers(dir: &Path) -> Result<(), Error> {
    let available = fsutil::read_optional(&dir.join("cgroup.controllers"))?.unwrap_or_default();
    let value: Vec<String> = available
        .split_whitespace()
        .map(|c| format!("+{c}"))
        .collect();
    if value.is_empty() {
        return Ok(());
    }
    let file = dir.join("cgroup.subtree_control");
    if fsutil::write_raw(&file, &value.join(" ")).is_ok() {
        return Ok(());
    }
    for v in &value {
        let _ = fsutil::write_raw(&file, v);
    }
    Ok(())
}

impl Manager {
    /// Applies `res` at creation: writes only the files the configuration sets.
    pub fn apply(&self, res: &LinuxResources) -> Result<(), Error> {
        self.execute(&resources::plan(res, &self.layout)?)
    }

    fn execute(&self, plan: &resources::Plan) -> Result<(), Error> {
        if plan.writes.is_empty() && plan.v2_devices.is_none() {
            return Ok(());
        }
        self.ensure_v2_controllers(&plan.writes)?;
        self.run_writes(&plan.writes)?;
        if let Some(rules) = &plan.v2_devices {
            let dir = self.v2.as_ref().ok_or(Error::ControllerMissing {
                knob: "devices",
                controller: "devices",
            })?;
            devices::bpf::apply(dir, rules)?;
        }
        Ok(())
    }

    /// Changes the limits of a running container: the same table as [`Manager::apply`],
    /// plus memory.checkBeforeUpdate (refuse a limit below the current usage).
    pub fn update(&self, res: &LinuxResources) -> Result<(), Error> {
        if let Some(m) = res.memory() {
            if let (Some(true), Some(limit)) = (m.check_before_update(), m.limit()) {
                self.check_usage_below(limit)?;
            }
        }
        let mut plan = resources::plan(res, &self.layout)?;
        if let Some(diff) = self.v1_device_transition(res)? {
            plan.writes
                .retain(|w| !(w.version == Version::V1 && w.controller == "devices"));
            plan.writes.splice(0..0, diff);
        }
        self.execute(&plan)
    }

    /// On v1, the device writes that move the running container from its current rules to
    /// the new ones without a deny-everything window (`None`: use the full rewrite).
    fn v1_device_transition(&self, res: &LinuxResources) -> Result<Option<Vec<Write>>, Error> {
        let (Some(devices), Some(dir)) = (res.devices(), self.v1.get("devices")) else {
            return Ok(None);
        };
        let rules = devices
            .iter()
            .map(devices::Rule::from_oci)
            .collect::<Result<Vec<_>, _>>()?;
        let Some(target) = devices::v1_update::emulate(&rules) else {
            return Ok(None);
        };
        let current = fsutil::read(&dir.join("devices.list"))?;
        Ok(devices::v1_update::parse_list(&current)
            .map(|current| devices::v1_update::transition(&current, &target)))
    }

    fn check_usage_below(&self, limit: i64) -> Result<(), Error> {
        if limit < 0 {
            return Ok(());
        }
        let path = match self.layout.place("memory.limit", "memory")? {
            Version::V1 => self
                .v1_dir("memory")
                .map(|d| d.join("memory.usage_in_bytes")),
            Version::V2 => self.v2.as_ref().map(|d| d.join("memory.current")),
        };
        let Some(path) = path else { return Ok(()) };
        if let Some(usage) = fsutil::read_u64_optional(&path)? {
            if usage > limit as u64 {
                return Err(Error::InvalidValue {
                    knob: "memory.limit",
                    value: limit.to_string(),
                    reason: "below the current usage (memory.checkBeforeUpdate)",
                });
            }
        }
        Ok(())
    }

    fn target_dir(&self, w: &Write) -> Result<&PathBuf, Error> {
        let dir = match w.version {
            Version::V1 => self.v1.get(w.controller),
            Version::V2 => self.v2.as_ref(),
        };
        dir.ok_or(Error::ControllerMissing {
            knob: w.knob,
            controller: w.controller,
        })
    }

    /// v2 controllers the writes need: enable them in every ancestor that lacks them
    /// (cgroup.subtree_control, top-down), as a v2 manager must.
    fn ensure_v2_controllers(&self, writes: &[Write]) -> Result<(), Error> {
        let (Some(dir), Some(mount), Some(offered)) = (&self.v2, &self.v2_mount, &self.layout.v2)
        else {
            return Ok(());
        };
        let needed: BTreeSet<&str> = writes
            .iter()
            .filter(|w| w.version == Version::V2)
            .map(|w| {
                if w.controller.is_empty() {
                    w.file.split('.').next().unwrap_or("")
                } else {
                    w.controller
                }
            })
            .filter(|c| offered.contains(*c))
            .collect();
        if needed.is_empty() {
            return Ok(());
        }
        let have = fsutil::read_optional(&dir.join("cgroup.controllers"))?.unwrap_or_default();
        let have: BTreeSet<&str> = have.split_whitespace().collect();
        let missing: Vec<&str> = needed.difference(&have).copied().collect();
        if missing.is_empty() {
            return Ok(());
        }
        let mut chain: Vec<&Path> = dir
            .ancestors()
            .skip(1)
            .take_while(|a| a.starts_with(mount))
            .collect();
        chain.reverse();
        for ancestor in chain {
            let file = ancestor.join("cgroup.subtree_control");
            let current = fsutil::read(&file)?;
            let current: BTreeSet<&str> = current.split_whitespace().collect();
            let add: Vec<String> = missing
                .iter()
                .filter(|c| !current.contains(*c))
                .map(|c| format!("+{c}"))
                .collect();
            if !add.is_empty() {
                fsutil::write(&file, &add.join(" "))?;
            }
        }
        Ok(())
    }

    fn run_writes(&self, writes: &[Write]) -> Result<(), Error> {
        let mut i = 0;
        while i < writes.len() {
            let w = &writes[i];
            match self.write_one(w) {
                Ok(()) => {}
                // v1 refuses memory.limit_in_bytes above the current memsw limit (raising
                // both on update): write the memsw limit first, then retry.
                Err(WriteErr::Io(e, _))
                    if e.raw_os_error() == Some(libc::EINVAL)
                        && w.file == "memory.limit_in_bytes"
                        && writes[i + 1..]
                            .iter()
                            .any(|n| n.file == "memory.memsw.limit_in_bytes") =>
                {
                    let memsw = writes[i + 1..]
                        .iter()
                        .find(|n| n.file == "memory.memsw.limit_in_bytes");
                    if let Some(memsw) = memsw {
                        self.write_one(memsw).map_err(|e| e.into_error(memsw))?;
                    }
                    self.write_one(w).map_err(|e| e.into_error(w))?;
                }
                Err(e) => return Err(e.into_error(w)),
            }
            i += 1;
        }
        Ok(())
    }

    fn write_one(&self, w: &Write) -> Result<(), WriteErr> {
        let dir = self.target_dir(w).map_err(WriteErr::Other)?;
        let path = dir.join(&w.file);
        match fsutil::write_raw(&path, &w.value) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                if let Some((file, value)) = &w.fallback {
                    let fb = dir.join(file);
                    return match fsutil::write_raw(&fb, value) {
                        Ok(()) => Ok(()),
                        Err(e) if e.kind() == io::ErrorKind::NotFound && !dir.exists() => {
                            Err(WriteErr::Io(e, fb))
                        }
                        Err(e) if e.kind() == io::ErrorKind::NotFound => {
                            Err(WriteErr::Other(Error::Unsupported {
                                knob: w.knob,
                                path: fb,
                                hint: w.hint,
                            }))
                        }
                        Err(e) => Err(WriteErr::Io(e, fb)),
                    };
                }
                if w.optional {
                    return Ok(());
                }
                if !dir.exists() {
                    return Err(WriteErr::Io(e, path));
                }
                Err(WriteErr::Other(Error::Unsupported {
                    knob: w.knob,
                    path,
                    hint: w.hint,
                }))
            }
            Err(e) => Err(WriteErr::Io(e, path)),
        }
    }
}

enum WriteErr {
    Io(io::Error, PathBuf),
    Other(Error),
}

impl WriteErr {
    fn into_error(self, w: &Write) -> Error {
        match self {
            WriteErr::Io(source, path) => Error::Write {
                path,
                value: w.value.clone(),
                source,
            },
            WriteErr::Other(e) => e,
        }
    }
}
