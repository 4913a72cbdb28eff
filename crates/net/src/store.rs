//! `NetworkStore`: the records of networks and endpoints under `<data-root>/net`, and the
//! operations that turn them into bridges, veth pairs, nftables elements and qdiscs.
//!
//! Every operation holds the store lock for its whole run. Records are written atomically;
//! an endpoint record (the IP lease) is written before any of its interfaces exist, so a
//! crash leaves a record that `gc` can finish removing, never an address handed out twice.

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use crate::netlink::Netlink;
use crate::records::{self, StoreLock};
use crate::{
    ipam, names, netns, nft, sysctl, tc, uplinks, AttachOptions, Attachment, Error, MacAddr,
    Network, NetworkSpec, Proto, Rule,
};

/// Name of the network `ensure_default` creates.
pub const DEFAULT_NETWORK: &str = "berth0";

/// A network and the endpoints attached to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetworkInfo {
    pub network: Network,
    pub endpoints: Vec<Attachment>,
}

pub struct NetworkStore {
    root: PathBuf,
}

impl NetworkStore {
    pub fn open(root: &Path) -> Result<Self, Error> {
        records::create_dir(&root.join("networks"))?;
        records::create_dir(&root.join("endpoints"))?;
        Ok(NetworkStore { root: root.into() })
    }

    fn lock(&self) -> Result<StoreLock, Error> {
        records::lock(&self.root.join("lock"))
    }

    fn net_path(&self, name: &str) -> PathBuf {
        self.root.join("networks").join(format!("{name}.json"))
    }

    fn ep_path(&self, container_id: &str) -> PathBuf {
        self.root
            .join("endpoints")
            .join(format!("{container_id}.json"))
    }

    fn networks(&self) -> Result<Vec<Network>, Error> {
        records::read_all(&self.root.join("networks"))
    }

    fn endpoints(&self) -> Result<Vec<Attachment>, Error> {
        records::read_all(&self.root.join("endpoints"))
    }

    fn network(&self, name: &str) -> Result<Network, Error> {
        names::check_network_name(name)?;
        records::read(&self.net_path(name))?.ok_or_else(|| Error::UnknownNetwork(name.into()))
    }

    pub fn create(&self, spec: NetworkSpec) -> Result<Network, Error> {
        let _lock = self.lock()?;
        self.create_locked(spec)
    }

    fn check_subnet_free(
        &self,
        subnet: IpNet,
        networks: &[Network],
        routes: &[IpNet],
    ) -> Result<(), Error> {
        for other in networks {
            if let Some(o) = other
                .subnets()
                .into_iter()
                .find(|o| ipam::overlaps(subnet, *o))
            {
                return Err(Error::SubnetOverlap {
                    subnet,
                    other: o,
                    network: other.name.clone(),
                });
            }
        }
        if let Some(route) = routes.iter().find(|r| ipam::overlaps(subnet, **r)) {
            return Err(Error::HostRouteOverlap {
                subnet,
                route: *route,
            });
        }
        Ok(())
    }

    fn create_locked(&self, spec: NetworkSpec) -> Result<Network, Error> {
        names::check_network_name(&spec.name)?;
        if records::read::<Network>(&self.net_path(&spec.name))?.is_some() {
            return Err(Error::NetworkExists(spec.name));
        }
        if spec.subnet_v4.is_none() && spec.subnet_v6.is_none() {
            return Err(Error::NoSubnet { network: spec.name });
        }
        let subnet_v4 = spec.subnet_v4.map(|s| s.trunc());
        let subnet_v6 = spec.subnet_v6.map(|s| s.trunc());
        let mut gateway_v4 = None;
        if let Some(s) = subnet_v4 {
            ipam::check_size(IpNet::V4(s))?;
            let gw = spec
                .gateway_v4
                .unwrap_or_else(|| ipam::default_gateway_v4(&s));
            if !ipam::is_host_v4(&s, gw) {
                return Err(Error::GatewayOutsideSubnet {
                    gateway: gw.into(),
                    subnet: s.into(),
                });
            }
            gateway_v4 = Some(gw);
        }
        let mut gateway_v6 = None;
        if let Some(s) = subnet_v6 {
            ipam::check_size(IpNet::V6(s))?;
            let gw = spec
                .gateway_v6
                .unwrap_or_else(|| ipam::default_gateway_v6(&s));
            if !ipam::is_host_v6(&s, gw) {
                return Err(Error::GatewayOutsideSubnet {
                    gateway: gw.into(),
                    subnet: s.into(),
                });
            }
            gateway_v6 = Some(gw);
        }
        let bridge = spec
            .bridge
            .clone()
            .unwrap_or_else(|| names::default_bridge(&spec.name));
        names::check_bridge_name(&bridge)?;
        let networks = self.networks()?;
        if let Some(other) = networks.iter().find(|n| n.bridge == bridge) {
            return Err(Error::BridgeTaken {
                bridge,
                network: other.name.clone(),
            });
        }
        let nl = Netlink::open()?;
        if nl.link_index(&bridge)?.is_some() {
            return Err(Error::LinkExists(bridge));
        }
        let routes = nl.routes()?;
        let candidates = match (&spec.uplinks, spec.internal) {
            (_, true) => Vec::new(),
            (Some(u), false) => u.clone(),
            (None, false) => nl.default_route_links()?,
        };
        for up in &candidates {
            if nl.link_index(up)?.is_none() {
                return Err(Error::LinkNotFound(up.clone()));
            }
        }
        let net = Network {
            name: spec.name,
            bridge,
            subnet_v4,
            gateway_v4,
            subnet_v6,
            gateway_v6,
            internal: spec.internal,
            isolate: spec.isolate,
            uplinks: uplinks::managed(&self.root, &candidates)?,
        };
        for subnet in net.subnets() {
            self.check_subnet_free(subnet, &networks, &routes)?;
        }
        let built = self.build_network(&nl, &net);
        if let Err(e) = built {
            // Nothing half-built: undo whatever was created before the failing step.
            let _ = nl.delete_link(&net.bridge);
            let _ = nft::apply("delete network", &nft::delete_network(&net));
            let _ = uplinks::release(&self.root, &net.name, &net.uplinks);
            let _ = records::remove(&self.net_path(&net.name));
            return Err(e);
        }
        Ok(net)
    }

    fn build_network(&self, nl: &Netlink, net: &Network) -> Result<(), Error> {
        let b = &net.bridge;
        nft::apply(
            &format!("create tables of network {}", net.name),
            &nft::network_ruleset(net),
        )?;
        let index = nl.add_bridge(b)?;
        // A fixed bridge MAC: otherwise it follows the lowest port MAC and the gateway's
        // address changes under the containers as they come and go.
        let h = names::default_bridge(b);
        let seed = u32::from_str_radix(&h[names::BRIDGE_PREFIX.len()..], 16).unwrap_or(0);
        nl.set_mac(
            index,
            b,
            MacAddr([
                0x02,
                0xb3,
                0xff,
                (seed >> 16) as u8,
                (seed >> 8) as u8,
                seed as u8,
            ]),
        )?;
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
        uplinks::acquire(&self.root, &net.name, &net.uplinks)?;
        records::write(&self.net_path(&net.name), net)
    }

    /// The default network, created on first use with the first free 10.89.N.0/24 and
    /// fd42:b3:89:N::/64.
    pub fn ensure_default(&self) -> Result<Network, Error> {
        self.ensure_default_with_uplinks(None)
    }

    /// `ensure_default` with explicit uplinks (see `NetworkSpec::uplinks`).
    pub fn ensure_default_with_uplinks(
        &self,
        uplinks: Option<Vec<String>>,
    ) -> Result<Network, Error> {
        let _lock = self.lock()?;
        if let Some(net) = records::read(&self.net_path(DEFAULT_NETWORK))? {
            return Ok(net);
        }
        let networks = self.networks()?;
        let routes = Netlink::open()?.routes()?;
        for n in 0..=255u8 {
            let v4 = Ipv4Net::new(Ipv4Addr::new(10, 89, n, 0), 24).unwrap_or_default();
            let v6 = Ipv6Net::new(
                Ipv6Addr::new(0xfd42, 0xb3, 0x89, u16::from(n), 0, 0, 0, 0),
                64,
            )
            .unwrap_or_default();
            let free = self
                .check_subnet_free(v4.into(), &networks, &routes)
                .is_ok()
                && self
                    .check_subnet_free(v6.into(), &networks, &routes)
                    .is_ok();
            if free {
                return self.create_locked(NetworkSpec {
                    name: DEFAULT_NETWORK.into(),
                    subnet_v4: Some(v4),
                    subnet_v6: Some(v6),
                    bridge: Some(format!("{}{DEFAULT_NETWORK}", names::BRIDGE_PREFIX)),
                    uplinks,
                    ..NetworkSpec::default()
                });
            }
        }
        Err(Error::SubnetExhausted {
            subnet: "10.89.0.0/16"
                .parse()
                .unwrap_or(IpNet::V4(Ipv4Net::default())),
        })
    }

    pub fn list(&self) -> Result<Vec<Network>, Error> {
        let _lock = self.lock()?;
        self.networks()
    }

    pub fn inspect(&self, name: &str) -> Result<NetworkInfo, Error> {
        let _lock = self.lock()?;
        let network = self.network(name)?;
        let endpoints = self
            .endpoints()?
            .into_iter()
            .filter(|a| a.network == name)
            .collect();
        Ok(NetworkInfo { network, endpoints })
    }

    /// Removes the bridge, the network's nft tables and its record; refuses while
    /// containers are attached.
    pub fn remove(&self, name: &str) -> Result<(), Error> {
        let _lock = self.lock()?;
        let net = self.network(name)?;
        let attached: Vec<String> = self
            .endpoints()?
            .into_iter()
            .filter(|a| a.network == name)
            .map(|a| a.container_id)
            .collect();
        if !attached.is_empty() {
            return Err(Error::NetworkInUse {
                network: name.into(),
                containers: attached,
            });
        }
        Netlink::open()?.delete_link(&net.bridge)?;
        uplinks::release(&self.root, name, &net.uplinks)?;
        nft::apply(
            &format!("delete tables of network {name}"),
            &nft::delete_network(&net),
        )?;
        records::remove(&self.net_path(name))
    }

    /// The endpoint of a container, if attached.
    pub fn attachment(&self, container_id: &str) -> Result<Option<Attachment>, Error> {
        names::check_container_id(container_id)?;
        let _lock = self.lock()?;
        records::read(&self.ep_path(container_id))
    }

    pub fn attach(
        &self,
        network: &str,
        container_id: &str,
        netns: &Path,
        opts: &AttachOptions,
    ) -> Result<Attachment, Error> {
        names::check_container_id(container_id)?;
        names::check_ifname(&opts.ifname)?;
        let _lock = self.lock()?;
        let net = self.network(network)?;
        let endpoints = self.endpoints()?;
        if let Some(a) = endpoints.iter().find(|a| a.container_id == container_id) {
            return Err(Error::AlreadyAttached {
                container: container_id.into(),
                network: a.network.clone(),
            });
        }
        let short = names::container_short(container_id);
        let host_veth = format!("{}{short}", names::VETH_PREFIX);
        if let Some(other) = endpoints.iter().find(|a| a.host_veth == host_veth) {
            return Err(Error::VethNameTaken {
                veth: host_veth,
                container: container_id.into(),
                other: other.container_id.clone(),
            });
        }
        let peer = format!("{}{short}", names::PEER_PREFIX);
        let ifb = opts
            .egress_bps
            .map(|_| format!("{}{short}", names::IFB_PREFIX));
        let nl = Netlink::open()?;
        for name in [Some(&host_veth), Some(&peer), ifb.as_ref()]
            .into_iter()
            .flatten()
        {
            if nl.link_index(name)?.is_some() {
                return Err(Error::LinkExists(name.clone()));
            }
        }
        let on_net: Vec<&Attachment> = endpoints.iter().filter(|a| a.network == net.name).collect();
        let (ipv4, ipv6) = allocate(&net, &on_net, opts.ip)?;
        let mac = choose_mac(&net, &on_net, opts.mac, ipv4, ipv6)?;
        check_publish(&net, &endpoints, opts)?;
        for rule in &opts.firewall {
            check_rule(rule)?;
        }
        for bps in [opts.egress_bps, opts.ingress_bps].into_iter().flatten() {
            if bps < tc::MIN_RATE {
                return Err(Error::RateTooSmall(bps));
            }
        }
        let att = Attachment {
            container_id: container_id.into(),
            network: net.name.clone(),
            ifname: opts.ifname.clone(),
            host_veth,
            ifb,
            mac,
            ipv4,
            ipv6,
            publish: opts.publish.clone(),
            egress_bps: opts.egress_bps,
            ingress_bps: opts.ingress_bps,
            firewall: opts.firewall.clone(),
        };
        // The lease first: from here on a crash leaves a record for `gc`.
        records::write(&self.ep_path(container_id), &att)?;
        if let Err(e) = self.wire(&nl, &net, &att, &short, netns) {
            let _ = teardown(&nl, Some(&net), &att);
            let _ = records::remove(&self.ep_path(container_id));
            return Err(e);
        }
        Ok(att)
    }

    fn wire(
        &self,
        nl: &Netlink,
        net: &Network,
        att: &Attachment,
        short: &str,
        netns_path: &Path,
    ) -> Result<(), Error> {
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

    /// Removes the container's veth, rules, qdiscs and lease; succeeds when not attached.
    pub fn detach(&self, container_id: &str) -> Result<(), Error> {
        names::check_container_id(container_id)?;
        let _lock = self.lock()?;
        self.detach_locked(container_id)
    }

    fn detach_locked(&self, container_id: &str) -> Result<(), Error> {
        let Some(att) = records::read::<Attachment>(&self.ep_path(container_id))? else {
            return Ok(());
        };
        let net = records::read::<Network>(&self.net_path(&att.network))?;
        teardown(&Netlink::open()?, net.as_ref(), &att)?;
        records::remove(&self.ep_path(container_id))
    }

    pub fn add_rule(&self, container_id: &str, rule: Rule) -> Result<(), Error> {
        check_rule(&rule)?;
        self.change_rules(container_id, |rules| {
            rules.push(rule);
            Ok(())
        })
    }

    pub fn remove_rule(&self, container_id: &str, rule: &Rule) -> Result<(), Error> {
        self.change_rules(container_id, |rules| {
            let pos = rules
                .iter()
                .position(|r| r == rule)
                .ok_or_else(|| Error::RuleNotFound {
                    container: container_id.into(),
                    rule: rule.to_string(),
                })?;
            rules.remove(pos);
            Ok(())
        })
    }

    fn change_rules(
        &self,
        container_id: &str,
        change: impl FnOnce(&mut Vec<Rule>) -> Result<(), Error>,
    ) -> Result<(), Error> {
        names::check_container_id(container_id)?;
        let _lock = self.lock()?;
        let path = self.ep_path(container_id);
        let mut att: Attachment =
            records::read(&path)?.ok_or_else(|| Error::NotAttached(container_id.into()))?;
        let net = self.network(&att.network)?;
        change(&mut att.firewall)?;
        let short = names::container_short(container_id);
        nft::apply(
            &format!("set rules of {container_id}"),
            &nft::set_rules(&net, &att, &short),
        )?;
        records::write(&path, &att)
    }

    /// After a crash: removes the endpoints of containers that `live` says are gone (their
    /// veth, ifb, nft elements, chains and lease) and veths left on this store's bridges
    /// without a record. Returns the ids of the containers cleaned up.
    pub fn gc(&self, live: &dyn Fn(&str) -> bool) -> Result<Vec<String>, Error> {
        let _lock = self.lock()?;
        let mut removed = Vec::new();
        for att in self.endpoints()? {
            if !live(&att.container_id) {
                self.detach_locked(&att.container_id)?;
                removed.push(att.container_id);
            }
        }
        let nl = Netlink::open()?;
        let links = nl.links()?;
        let bridges: HashSet<u32> = self
            .networks()?
            .iter()
            .filter_map(|n| links.iter().find(|l| l.name == n.bridge).map(|l| l.index))
            .collect();
        let known: HashSet<String> = self.endpoints()?.into_iter().map(|a| a.host_veth).collect();
        for link in &links {
            let ours = link.master.is_some_and(|m| bridges.contains(&m));
            if ours && link.name.starts_with(names::VETH_PREFIX) && !known.contains(&link.name) {
                nl.delete_link(&link.name)?;
            }
        }
        Ok(removed)
    }
}

/// Container-side configuration, run on a thread inside the container's netns.
struct Inside {
    peer: String,
    ifname: String,
    mac: MacAddr,
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
fn teardown(nl: &Netlink, net: Option<&Network>, att: &Attachment) -> Result<(), Error> {
    let short = names::container_short(&att.container_id);
    nl.delete_link(&att.host_veth)?;
    nl.delete_link(&format!("{}{short}", names::PEER_PREFIX))?;
    if let Some(ifb) = &att.ifb {
        nl.delete_link(ifb)?;
    }
    if let Some(net) = net {
        let t = net.nft_table();
        if nft::table_exists("bridge", &t)? && nft::table_exists("inet", &t)? {
            nft::apply(
                &format!("detach {} from {}", att.container_id, net.name),
                &nft::detach(net, att, &short),
            )?;
        }
    }
    Ok(())
}

fn taken_addresses(net: &Network, on_net: &[&Attachment]) -> HashSet<IpAddr> {
    let mut taken: HashSet<IpAddr> = HashSet::new();
    taken.extend(net.gateway_v4.map(IpAddr::V4));
    taken.extend(net.gateway_v6.map(IpAddr::V6));
    for a in on_net {
        taken.extend(a.ipv4.map(IpAddr::V4));
        taken.extend(a.ipv6.map(IpAddr::V6));
    }
    taken
}

/// One address per subnet of the network: the requested one, or the lowest free one.
fn allocate(
    net: &Network,
    on_net: &[&Attachment],
    requested: Option<IpAddr>,
) -> Result<(Option<Ipv4Addr>, Option<Ipv6Addr>), Error> {
    let taken = taken_addresses(net, on_net);
    let mut v4 = None;
    let mut v6 = None;
    match requested {
        Some(IpAddr::V4(a)) => {
            let s = net.subnet_v4.ok_or(Error::NoSubnetForAddress {
                network: net.name.clone(),
                family: "IPv4",
                addr: a.into(),
            })?;
            ipam::reserve(s.into(), a.into(), &taken, &net.name)?;
            v4 = Some(a);
        }
        Some(IpAddr::V6(a)) => {
            let s = net.subnet_v6.ok_or(Error::NoSubnetForAddress {
                network: net.name.clone(),
                family: "IPv6",
                addr: a.into(),
            })?;
            ipam::reserve(s.into(), a.into(), &taken, &net.name)?;
            v6 = Some(a);
        }
        None => {}
    }
    if let (None, Some(s)) = (v4, net.subnet_v4) {
        if let IpAddr::V4(a) = ipam::next_free(s.into(), &taken)? {
            v4 = Some(a);
        }
    }
    if let (None, Some(s)) = (v6, net.subnet_v6) {
        if let IpAddr::V6(a) = ipam::next_free(s.into(), &taken)? {
            v6 = Some(a);
        }
    }
    Ok((v4, v6))
}

fn choose_mac(
    net: &Network,
    on_net: &[&Attachment],
    requested: Option<MacAddr>,
    v4: Option<Ipv4Addr>,
    v6: Option<Ipv6Addr>,
) -> Result<MacAddr, Error> {
    let taken: HashSet<MacAddr> = on_net.iter().map(|a| a.mac).collect();
    if let Some(mac) = requested {
        if !mac.is_unicast() {
            return Err(Error::MacNotUnicast {
                mac: mac.to_string(),
            });
        }
        if taken.contains(&mac) {
            return Err(Error::MacTaken {
                mac: mac.to_string(),
                network: net.name.clone(),
            });
        }
        return Ok(mac);
    }
    // Derived from the address (unique on this network), like docker's 02:42:<ipv4>.
    let seed = match (v4, v6) {
        (Some(a), _) => a.octets(),
        (None, Some(a)) => {
            let o = a.octets();
            [o[12], o[13], o[14], o[15]]
        }
        (None, None) => [0; 4],
    };
    let mut n = u32::from_be_bytes(seed);
    loop {
        let mac = MacAddr::local(n.to_be_bytes());
        if !taken.contains(&mac) {
            return Ok(mac);
        }
        n = n.wrapping_add(1);
    }
}

fn check_publish(
    net: &Network,
    endpoints: &[Attachment],
    opts: &AttachOptions,
) -> Result<(), Error> {
    if opts.publish.is_empty() {
        return Ok(());
    }
    if net.internal {
        return Err(Error::PublishOnInternal(net.name.clone()));
    }
    if net.subnet_v4.is_none() {
        return Err(Error::PublishWithoutIpv4(net.name.clone()));
    }
    let clash = |a: &crate::PortMapping, b: &crate::PortMapping| {
        a.proto == b.proto
            && a.host_port == b.host_port
            && (a.host_ip.is_none() || b.host_ip.is_none() || a.host_ip == b.host_ip)
    };
    for (i, p) in opts.publish.iter().enumerate() {
        if p.host_port == 0 || p.container_port == 0 {
            return Err(Error::InvalidPort {
                proto: p.proto.to_string(),
                host_port: p.host_port,
            });
        }
        for a in endpoints {
            if a.publish.iter().any(|q| clash(p, q)) {
                return Err(Error::PortPublished {
                    proto: p.proto.to_string(),
                    host_port: p.host_port,
                    container: a.container_id.clone(),
                });
            }
        }
        if opts.publish[..i].iter().any(|q| clash(p, q)) {
            return Err(Error::PortPublished {
                proto: p.proto.to_string(),
                host_port: p.host_port,
                container: "(this request)".into(),
            });
        }
    }
    Ok(())
}

fn check_rule(rule: &Rule) -> Result<(), Error> {
    let invalid = |reason| Error::InvalidRule {
        rule: rule.to_string(),
        reason,
    };
    match (rule.proto, rule.port) {
        (Some(Proto::Icmp), Some(_)) | (None, Some(_)) => {
            Err(invalid("a port needs protocol tcp or udp"))
        }
        (_, Some(0)) => Err(invalid("port 0 is not a valid port")),
        _ => Ok(()),
    }
}
