//! `NetworkStore`: the records of networks and endpoints under `<data-root>/net`, and the
//! operations that turn them into bridges, veth pairs, nftables elements and qdiscs.
//!
//! Every operation holds the store lock for its whole run. Records are written atomically;
//! an endpoint record (the IP lease) is written before any of its interfaces exist, so a
//! crash leaves a record that `gc` can finish removing, never an address handed out twice.

use std::collections::HashSet;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use crate::netlink::Netlink;
use crate::records::{self, StoreLock};
use crate::{
    bridge, endpoint, ipam, names, nft, tc, uplinks, validate, AttachOptions, Attachment, Error,
    Network, NetworkSpec, Rule,
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

    /// The record (the lease) of one attachment: `endpoints/<container>@<network>.json`.
    fn ep_path(&self, container_id: &str, network: &str) -> PathBuf {
        self.root
            .join("endpoints")
            .join(format!("{container_id}@{network}.json"))
    }

    /// Where records of single-network berth put a container's one endpoint.
    fn legacy_ep_path(&self, container_id: &str) -> PathBuf {
        self.root
            .join("endpoints")
            .join(format!("{container_id}.json"))
    }

    fn remove_ep(&self, att: &Attachment) -> Result<(), Error> {
        records::remove(&self.ep_path(&att.container_id, &att.network))?;
        let legacy = self.legacy_ep_path(&att.container_id);
        if records::read::<Attachment>(&legacy)?.is_some_and(|a| a.network == att.network) {
            records::remove(&legacy)?;
        }
        Ok(())
    }

    /// The container's attachments, by slot.
    fn attachments_locked(&self, container_id: &str) -> Result<Vec<Attachment>, Error> {
        let mut out: Vec<Attachment> = self
            .endpoints()?
            .into_iter()
            .filter(|a| a.container_id == container_id)
            .collect();
        out.sort_by_key(|a| a.slot);
        Ok(out)
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
        let _host = bridge::host_lock()?;
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
        let built = bridge::build(&nl, &self.root, &net)
            .and_then(|()| records::write(&self.net_path(&net.name), &net));
        if let Err(e) = built {
            // Nothing half-built: undo whatever was created before the failing step.
            let _ = bridge::destroy(&nl, &self.root, &net);
            let _ = records::remove(&self.net_path(&net.name));
            return Err(e);
        }
        Ok(net)
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
        Err(Error::NoDefaultSubnet)
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

    /// Removes the bridge, the network's nft chains and its record; refuses while
    /// containers are attached (whichever of their networks it is).
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
        let _host = bridge::host_lock()?;
        bridge::destroy(&Netlink::open()?, &self.root, &net)?;
        records::remove(&self.net_path(name))
    }

    /// The container's first endpoint (lowest slot: the one with the default routes), if
    /// attached.
    pub fn attachment(&self, container_id: &str) -> Result<Option<Attachment>, Error> {
        Ok(self.attachments(container_id)?.into_iter().next())
    }

    /// Every endpoint of a container, by slot (`eth0`, `eth1`, ...).
    pub fn attachments(&self, container_id: &str) -> Result<Vec<Attachment>, Error> {
        names::check_container_id(container_id)?;
        let _lock = self.lock()?;
        self.attachments_locked(container_id)
    }

    /// Attaches the container (its network namespace at `netns`) to `network`, in addition
    /// to the networks it is on already: a new slot, its own veth, lease, anti-spoofing
    /// elements, rule chains and caps. Refused when already on that network.
    pub fn attach(
        &self,
        network: &str,
        container_id: &str,
        netns: &Path,
        opts: &AttachOptions,
    ) -> Result<Attachment, Error> {
        names::check_container_id(container_id)?;
        if let Some(ifname) = &opts.ifname {
            names::check_ifname(ifname)?;
        }
        let _lock = self.lock()?;
        let net = self.network(network)?;
        let endpoints = self.endpoints()?;
        let mine: Vec<&Attachment> = endpoints
            .iter()
            .filter(|a| a.container_id == container_id)
            .collect();
        if let Some(a) = mine.iter().find(|a| a.network == net.name) {
            return Err(Error::AlreadyAttached {
                container: container_id.into(),
                network: a.network.clone(),
            });
        }
        let slot = (0..names::MAX_ATTACHMENTS)
            .find(|s| mine.iter().all(|a| a.slot != *s))
            .ok_or_else(|| Error::TooManyNetworks {
                container: container_id.into(),
                max: names::MAX_ATTACHMENTS,
            })?;
        let ifname = opts.ifname.clone().unwrap_or_else(|| format!("eth{slot}"));
        if let Some(a) = mine.iter().find(|a| a.ifname == ifname) {
            return Err(Error::IfnameTaken {
                ifname,
                container: container_id.into(),
                network: a.network.clone(),
            });
        }
        let key = names::endpoint_key(container_id, slot);
        let host_veth = format!("{}{key}", names::VETH_PREFIX);
        if let Some(other) = endpoints.iter().find(|a| a.host_veth == host_veth) {
            return Err(Error::VethNameTaken {
                veth: host_veth,
                container: container_id.into(),
                other: other.container_id.clone(),
            });
        }
        let peer = format!("{}{key}", names::PEER_PREFIX);
        let ifb = opts
            .egress_bps
            .map(|_| format!("{}{key}", names::IFB_PREFIX));
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
        let (ipv4, ipv6) = ipam::allocate(&net, &on_net, opts.ip)?;
        let mac = validate::choose_mac(&net, &on_net, opts.mac, ipv4, ipv6)?;
        validate::check_publish(&net, &endpoints, opts)?;
        for rule in &opts.firewall {
            validate::check_rule(rule)?;
        }
        for bps in [opts.egress_bps, opts.ingress_bps].into_iter().flatten() {
            if bps < tc::MIN_RATE {
                return Err(Error::RateTooSmall(bps));
            }
        }
        let att = Attachment {
            container_id: container_id.into(),
            network: net.name.clone(),
            slot,
            ifname,
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
        let path = self.ep_path(container_id, &net.name);
        records::write(&path, &att)?;
        if let Err(e) = endpoint::wire(&nl, &net, &att, netns) {
            let _ = endpoint::teardown(&nl, Some(&net), &att);
            let _ = records::remove(&path);
            return Err(e);
        }
        Ok(att)
    }

    /// Removes every endpoint of the container (veths, rules, qdiscs, leases); succeeds
    /// when not attached.
    pub fn detach(&self, container_id: &str) -> Result<(), Error> {
        names::check_container_id(container_id)?;
        let _lock = self.lock()?;
        for att in self.attachments_locked(container_id)? {
            self.detach_one(&att)?;
        }
        Ok(())
    }

    /// Removes the container's endpoint on `network` only; an error when it has none.
    pub fn detach_from(&self, container_id: &str, network: &str) -> Result<Attachment, Error> {
        names::check_container_id(container_id)?;
        names::check_network_name(network)?;
        let _lock = self.lock()?;
        let att = self
            .attachments_locked(container_id)?
            .into_iter()
            .find(|a| a.network == network)
            .ok_or_else(|| Error::NotOnNetwork {
                container: container_id.into(),
                network: network.into(),
            })?;
        self.detach_one(&att)?;
        Ok(att)
    }

    fn detach_one(&self, att: &Attachment) -> Result<(), Error> {
        let net = records::read::<Network>(&self.net_path(&att.network))?;
        endpoint::teardown(&Netlink::open()?, net.as_ref(), att)?;
        self.remove_ep(att)
    }

    pub fn add_rule(&self, container_id: &str, rule: Rule) -> Result<(), Error> {
        validate::check_rule(&rule)?;
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

    /// The rules are the container's: every attachment carries the same list and gets it
    /// applied to its own chains.
    fn change_rules(
        &self,
        container_id: &str,
        change: impl FnOnce(&mut Vec<Rule>) -> Result<(), Error>,
    ) -> Result<(), Error> {
        names::check_container_id(container_id)?;
        let _lock = self.lock()?;
        let atts = self.attachments_locked(container_id)?;
        let Some(first) = atts.first() else {
            return Err(Error::NotAttached(container_id.into()));
        };
        let mut rules = first.firewall.clone();
        change(&mut rules)?;
        let mut script = String::new();
        for att in &atts {
            let att = Attachment {
                firewall: rules.clone(),
                ..att.clone()
            };
            script.push_str(&nft::set_rules(
                &att,
                &names::endpoint_key(container_id, att.slot),
            ));
        }
        nft::apply(&format!("set rules of {container_id}"), &script)?;
        for att in atts {
            let path = self.ep_path(container_id, &att.network);
            let att = Attachment {
                firewall: rules.clone(),
                ..att
            };
            records::write(&path, &att)?;
            // A record from before several networks: rewritten under the new name.
            let legacy = self.legacy_ep_path(container_id);
            if records::read::<Attachment>(&legacy)?.is_some_and(|a| a.network == att.network) {
                records::remove(&legacy)?;
            }
        }
        Ok(())
    }

    /// After a crash: removes the endpoints of containers that `live` says are gone (their
    /// veth, ifb, nft elements, chains and lease) and veths left on this store's bridges
    /// without a record. Returns the ids of the containers cleaned up.
    pub fn gc(&self, live: &dyn Fn(&str) -> bool) -> Result<Vec<String>, Error> {
        let _lock = self.lock()?;
        let mut removed = Vec::new();
        for att in self.endpoints()? {
            if !live(&att.container_id) {
                self.detach_one(&att)?;
                if !removed.contains(&att.container_id) {
                    removed.push(att.container_id);
                }
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
