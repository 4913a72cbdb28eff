//! A network in the kernel: its nft chains, its bridge with the gateway addresses and
//! per-interface settings, and forwarding on its uplinks.

use std::path::Path;

use crate::netlink::Netlink;
use crate::{names, nft, records, sysctl, uplinks, Error, Network};

/// Builds the network; on error the caller runs `destroy`. The caller holds `host_lock`.
pub fn build(nl: &Netlink, root: &Path, net: &Network) -> Result<(), Error> {
    let b = &net.bridge;
    nft::ensure_base()?;
    let leftovers = nft::delete_network(net, &nft::list_inet()?);
    nft::apply(
        &format!("add network {} to nft", net.name),
        &format!("{leftovers}{}", nft::add_network(net)),
    )?;
    let index = nl.add_bridge(b)?;
    // A fixed bridge MAC: otherwise it follows the lowest port MAC and the gateway's
    // address changes under the containers as they come and go.
    nl.set_mac(index, b, names::bridge_mac(b))?;
    // Forwarding for this bridge only, never the global switch.
    sysctl::set(&format!("net/ipv4/conf/{b}/forwarding"), "1")?;
    // Lets DNAT send host-loopback traffic to published ports (127.0.0.1:port).
    sysctl::set(&format!("net/ipv4/conf/{b}/route_localnet"), "1")?;
    if net.subnet_v6.is_some() {
        sysctl::set_if_present(&format!("net/ipv6/conf/{b}/force_forwarding"), "1")?;
    } else {
        sysctl::set(&format!("net/ipv6/conf/{b}/disable_ipv6"), "1")?;
    }
    if let (Some(s), Some(gw)) = (net.subnet_v4, net.gateway_v4) {
        nl.add_address(index, b, gw.into(), s.prefix_len())?;
    }
    if let (Some(s), Some(gw)) = (net.subnet_v6, net.gateway_v6) {
        nl.add_address(index, b, gw.into(), s.prefix_len())?;
    }
    nl.set_up(index, b)?;
    // After the ruleset that limits what the uplinks may forward is in place.
    uplinks::acquire(root, &net.name, &net.uplinks)
}

/// Removes what `build` created; each step tolerates absence. The caller holds
/// `host_lock`.
pub fn destroy(nl: &Netlink, root: &Path, net: &Network) -> Result<(), Error> {
    // Forwarding off before the rules that limit it go.
    uplinks::release(root, &net.name, &net.uplinks)?;
    if nft::table_exists("inet", nft::TABLE)? {
        nft::apply(
            &format!("delete network {} from nft", net.name),
            &nft::delete_network(net, &nft::list_inet()?),
        )?;
        // The last network of the host takes berth's tables with it.
        nft::drop_base_if_unused()?;
    }
    // The bridge (and so its route) last: its subnet looks free only once all is gone.
    nl.delete_link(&net.bridge)?;
    Ok(())
}

/// Serialises, host-wide, the creation and removal of networks among all berth stores:
/// a subnet checked free against the host's routes stays free until its network is
/// built, and berth's tables are never dropped while a network is being added.
pub fn host_lock() -> Result<records::StoreLock, Error> {
    records::lock(Path::new(nft::HOST_LOCK))
}
