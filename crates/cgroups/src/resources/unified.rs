//! The `unified` map: cgroup v2 files written verbatim.

use std::collections::HashMap;

use super::{Layout, Version, Write};
use crate::Error;

/// Files of the cgroup core that would move or kill processes; not resources.
const FORBIDDEN_UNIFIED: &[&str] = &["cgroup.procs", "cgroup.threads", "cgroup.kill"];

pub(super) fn plan(
    u: &HashMap<String, String>,
    layout: &Layout,
    w: &mut Vec<Write>,
) -> Result<(), Error> {
    let mut keys: Vec<&String> = u.keys().collect();
    keys.sort();
    for key in keys {
        if layout.v2.is_none() {
            return Err(Error::UnifiedOnV1 { key: key.clone() });
        }
        let ok = !key.starts_with('.')
            && key.contains('.')
            && key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_' || c == '-')
            && !FORBIDDEN_UNIFIED.contains(&key.as_str());
        if !ok {
            return Err(Error::InvalidUnifiedKey { key: key.clone() });
        }
        w.push(
            Write::new("unified", Version::V2, "", key.clone(), u[key].clone()).hint(
                "no such file in the container's cgroup v2 directory (controller not enabled?)",
            ),
        );
    }
    Ok(())
}
