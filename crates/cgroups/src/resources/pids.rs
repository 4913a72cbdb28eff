//! pids.limit.

use oci_spec::runtime::LinuxPids;

use super::{Layout, Write};
use crate::Error;

pub(super) fn plan(p: &LinuxPids, layout: &Layout, w: &mut Vec<Write>) -> Result<(), Error> {
    // runc: 0 means unset, negative means unlimited.
    let value = match p.limit() {
        0 => return Ok(()),
        l if l < 0 => "max".to_string(),
        l => l.to_string(),
    };
    let v = layout.place("pids.limit", "pids")?;
    w.push(Write::new("pids.limit", v, "pids", "pids.max", value));
    Ok(())
}
