//! Forwarding on uplinks, per interface: berth turns `forwarding` (IPv4) and
//! `force_forwarding` (IPv6) on for an uplink whose forwarding is off, remembers which
//! networks need it in `<root>/uplinks.json`, and turns it off when the last one goes.
//! Uplinks an administrator already forwards on are left alone. (Return traffic of
//! masqueraded flows arrives on the uplink, and Linux checks forwarding on the input
//! interface, so the bridge's own setting is not enough.)

use std::collections::BTreeMap;
use std::path::Path;

use crate::{nft, records, sysctl, Error};

type State = BTreeMap<String, Vec<String>>;

fn state_path(root: &Path) -> std::path::PathBuf {
    root.join("uplinks.json")
}

fn load(root: &Path) -> Result<State, Error> {
    Ok(records::read(&state_path(root))?.unwrap_or_default())
}

/// The uplinks among `candidates` whose forwarding berth manages: those it already
/// manages, and those whose forwarding is off now.
pub fn managed(root: &Path, candidates: &[String]) -> Result<Vec<String>, Error> {
    let state = load(root)?;
    let mut out = Vec::new();
    for up in candidates {
        if state.contains_key(up) || sysctl::get(&format!("net/ipv4/conf/{up}/forwarding"))? == "0"
        {
            out.push(up.clone());
        }
    }
    Ok(out)
}

fn set_forwarding(up: &str, on: bool) -> Result<(), Error> {
    let v = if on { "1" } else { "0" };
    sysctl::set(&format!("net/ipv4/conf/{up}/forwarding"), v)?;
    sysctl::set_if_present(&format!("net/ipv6/conf/{up}/force_forwarding"), v)?;
    Ok(())
}

/// Records that `network` needs forwarding on `uplinks` and turns it on.
pub fn acquire(root: &Path, network: &str, uplinks: &[String]) -> Result<(), Error> {
    let mut state = load(root)?;
    for up in uplinks {
        let users = state.entry(up.clone()).or_default();
        if !users.iter().any(|n| n == network) {
            users.push(network.into());
        }
    }
    records::write(&state_path(root), &state)?;
    for up in uplinks {
        // The guard first: the uplink never forwards to anything but berth bridges.
        nft::apply(&format!("guard uplink {up}"), &nft::uplink_guard(up, true))?;
        set_forwarding(up, true)?;
    }
    Ok(())
}

/// Drops `network` from the users of its uplinks; turns forwarding off where none is left.
/// An uplink that no longer exists is simply forgotten.
pub fn release(root: &Path, network: &str, uplinks: &[String]) -> Result<(), Error> {
    let mut state = load(root)?;
    let mut off = Vec::new();
    for up in uplinks {
        if let Some(users) = state.get_mut(up) {
            users.retain(|n| n != network);
            if users.is_empty() {
                state.remove(up);
                off.push(up.clone());
            }
        }
    }
    records::write(&state_path(root), &state)?;
    for up in off {
        if Path::new("/proc/sys/net/ipv4/conf").join(&up).exists() {
            set_forwarding(&up, false)?;
        }
        if nft::table_exists("inet", nft::TABLE)? {
            nft::apply(
                &format!("unguard uplink {up}"),
                &nft::uplink_guard(&up, false),
            )?;
        }
    }
    Ok(())
}
