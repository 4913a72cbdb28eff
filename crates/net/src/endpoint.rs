//! One container's endpoint in the kernel: the veth pair, its container side (name, MAC,
//! addresses, routes, inside the container's netns), its nft elements and its qdiscs.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::os::fd::AsRawFd;
use std::path::Path;

use crate::netlink::Netlink;
use crate::{names, netns, nft, sysctl, tc, Attachment, Error, MacAddr, Network};

/// Creates everything of an endpoint whose record is already written. On error the
/// caller runs `teardown`. Only slot 0 (the container's first network) gets default routes;
/// the others reach their own subnet through its connected route.
pub fn wire(nl: &Netlink, net: &Network, att: &Attachment, netns_path: &Path) -> Result<(), Error> {
    let short = &names::endpoint_key(&att.container_id, att.slot);
    // Anti-spoofing elements exist before the port joins the bridge: no window in
    // which the container could send from another address.
    nft::apply(
        &format!("attach {} to {}", att.container_id, net.name),
        &nft::attach(net, att, short),
    )?;
    let peer = format!("{}{short}", names::PEER_PREFIX);
    let vi = nl.add_veth(&att.host_veth, &peer)?;
    sysctl::set(
        &format!("net/ipv6/conf/{}/disable_ipv6", att.host_veth),
        "1",
    )?;
    if let Some(mtu) = nl.mtu(&net.bridge)? {
        nl.set_mtu(vi, &att.host_veth, mtu)?;
    }
    let pi = nl.require_index(&peer)?;
    let ns = netns::open(netns_path)?;
    nl.move_to_netns(pi, &peer, ns.as_raw_fd())?;
    drop(ns);
    let inside = Inside {
        peer,
        ifname: att.ifname.clone(),
        mac: att.mac,
        default_route: att.slot == 0,
        v4: match (att.ipv4, net.subnet_v4, net.gateway_v4) {
            (Some(ip), Some(s), Some(gw)) => Some((ip, s.prefix_len(), gw)),
            _ => None,
        },
        v6: match (att.ipv6, net.subnet_v6, net.gateway_v6) {
            (Some(ip), Some(s), Some(gw)) => Some((ip, s.prefix_len(), gw)),
            _ => None,
        },
    };
    netns::run_in(netns_path, move || inside.configure())?;
    if let Some(bps) = att.ingress_bps {
        tc::cap_ingress(&att.host_veth, bps)?;
    }
    if let (Some(bps), Some(ifb)) = (att.egress_bps, &att.ifb) {
        let ii = nl.add_ifb(ifb)?;
        nl.set_up(ii, ifb)?;
        tc::cap_egress(&att.host_veth, ifb, bps)?;
    }
    let bi = nl.require_index(&net.bridge)?;
    nl.set_master(vi, &att.host_veth, bi)?;
    nl.set_up(vi, &att.host_veth)
}

/// Container-side configuration, run on a thread inside the container's netns.
struct Inside {
    peer: String,
    ifname: String,
    mac: MacAddr,
    default_route: bool,
    v4: Option<(Ipv4Addr, u8, Ipv4Addr)>,
    v6: Option<(Ipv6Addr, u8, Ipv6Addr)>,
}

impl Inside {
    fn configure(self) -> Result<(), Error> {
        let nl = Netlink::open()?;
        let lo = nl.require_index("lo")?;
        nl.set_up(lo, "lo")?;
        let index = nl.require_index(&self.peer)?;
        nl.rename_with_mac(index, &self.ifname, self.mac)?;
        let name = &self.ifname;
        // No duplicate address detection: the link-local must be usable at once too.
        sysctl::set_if_present(&format!("net/ipv6/conf/{name}/accept_dad"), "0")?;
        if let Some((ip, prefix, _)) = self.v4 {
            nl.add_address(index, name, ip.into(), prefix)?;
        }
        if let Some((ip, prefix, _)) = self.v6 {
            nl.add_address(index, name, ip.into(), prefix)?;
        }
        nl.set_up(index, name)?;
        if !self.default_route {
            return Ok(());
        }
        if let Some((_, _, gw)) = self.v4 {
            nl.add_default_route(index, name, gw.into())?;
        }
        if let Some((_, _, gw)) = self.v6 {
            nl.add_default_route(index, name, gw.into())?;
        }
        Ok(())
    }
}

/// Removes everything an endpoint may have created; each step tolerates absence.
pub fn teardown(nl: &Netlink, net: Option<&Network>, att: &Attachment) -> Result<(), Error> {
    let short = names::endpoint_key(&att.container_id, att.slot);
    nl.delete_link(&att.host_veth)?;
    nl.delete_link(&format!("{}{short}", names::PEER_PREFIX))?;
    if let Some(ifb) = &att.ifb {
        nl.delete_link(ifb)?;
    }
    if let Some(net) = net {
        if nft::base_exists()? {
            nft::apply(
                &format!("detach {} from {}", att.container_id, net.name),
                &nft::detach(net, att, &short),
            )?;
        }
    }
    Ok(())
}
