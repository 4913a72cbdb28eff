//! rdma limits.

use std::collections::HashMap;

use oci_spec::runtime::LinuxRdma;

use super::{plain_name, Layout, Write};
use crate::Error;

pub(super) fn plan(
    r: &HashMap<String, LinuxRdma>,
    layout: &Layout,
    w: &mut Vec<Write>,
) -> Result<(), Error> {
    if r.is_empty() {
        return Ok(());
    }
    let v = layout.place("rdma", "rdma")?;
    let mut names: Vec<&String> = r.keys().collect();
    names.sort();
    for name in names {
        if !plain_name(name) {
            return Err(Error::InvalidValue {
                knob: "rdma",
                value: name.clone(),
                reason: "not an RDMA device name",
            });
        }
        let lim = &r[name];
        let mut value = name.clone();
        if let Some(h) = lim.hca_handles() {
            value.push_str(&format!(" hca_handle={h}"));
        }
        if let Some(o) = lim.hca_objects() {
            value.push_str(&format!(" hca_object={o}"));
        }
        if value.len() > name.len() {
            w.push(Write::new("rdma", v, "rdma", "rdma.max", value));
        }
    }
    Ok(())
}
