//! `pause`, `resume` (the freezer), `update` (live resource changes) and `events --stats`.

use std::path::Path;

use oci_spec::runtime::LinuxResources;

use super::Container;
use crate::error::{Error, Result};
use crate::state::Status;

fn cgroup_of(c: &Container) -> Result<berth_cgroups::Manager> {
    c.cgroup()?
        .ok_or_else(|| Error::Unsupported(format!("container {} has no cgroup", c.id())))
}

pub fn pause(root: &Path, id: &str) -> Result<()> {
    let c = Container::load(root, id)?;
    match c.status() {
        Status::Running | Status::Created => cgroup_of(&c)?.freeze().map_err(Into::into),
        s => Err(Error::WrongStatus(format!("container not running: {s}"))),
    }
}

pub fn resume(root: &Path, id: &str) -> Result<()> {
    let c = Container::load(root, id)?;
    match c.status() {
        Status::Paused => cgroup_of(&c)?.thaw().map_err(Into::into),
        _ => Err(Error::WrongStatus("container not paused".into())),
    }
}

pub fn update(root: &Path, id: &str, res: &LinuxResources) -> Result<()> {
    let c = Container::load(root, id)?;
    if c.status() == Status::Stopped {
        return Err(Error::WrongStatus("container not running".into()));
    }
    cgroup_of(&c)?.update(res).map_err(Into::into)
}

pub fn stats(root: &Path, id: &str) -> Result<berth_cgroups::Stats> {
    let c = Container::read(root, id)?;
    if c.status() == Status::Stopped {
        return Err(Error::WrongStatus("container not running".into()));
    }
    cgroup_of(&c)?.stats().map_err(Into::into)
}
