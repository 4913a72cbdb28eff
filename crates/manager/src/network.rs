//! Networks (crates/net): `network create|ls|inspect|rm|connect|disconnect`, and a
//! container's endpoints on its bridge networks (veth, address, published ports on the
//! first), attached before the container starts and detached when it stops.

use berth_net::{
    AttachOptions, Network, NetworkInfo, NetworkSpec, NetworkStore, Rule, DEFAULT_NETWORK,
};

use crate::error::{Error, Result};
use crate::manager::Manager;
use crate::record::{ContainerRecord, NetworkMode, State};

/// What `--network default` means.
pub const DEFAULT_ALIAS: &str = "default";

impl Manager {
    pub fn networks(&self) -> Result<NetworkStore> {
        Ok(NetworkStore::open(&self.layout.net())?)
    }

    pub fn network_create(&self, spec: NetworkSpec) -> Result<Network> {
        Ok(self.networks()?.create(spec)?)
    }

    pub fn network_list(&self) -> Result<Vec<Network>> {
        Ok(self.networks()?.list()?)
    }

    pub fn network_inspect(&self, name: &str) -> Result<NetworkInfo> {
        Ok(self.networks()?.inspect(name)?)
    }

    pub fn network_remove(&self, name: &str) -> Result<()> {
        Ok(self.networks()?.remove(name)?)
    }

    /// The container's endpoint on its bridge network; an error naming it when it has none.
    fn attachment_of(&self, container: &str) -> Result<(NetworkStore, String)> {
        let rec = self.lookup(container)?;
        let store = self.networks()?;
        if store.attachment(&rec.id)?.is_none() {
            return Err(Error::NotAttached(container.to_string()));
        }
        Ok((store, rec.id))
    }

    /// `network rule add`: append a rule to a running container's firewall (live).
    pub fn network_rule_add(&self, container: &str, rule: Rule) -> Result<()> {
        let (store, id) = self.attachment_of(container)?;
        Ok(store.add_rule(&id, rule)?)
    }

    /// `network rule rm`: remove a rule from a running container's firewall (live).
    pub fn network_rule_remove(&self, container: &str, rule: &Rule) -> Result<()> {
        let (store, id) = self.attachment_of(container)?;
        Ok(store.remove_rule(&id, rule)?)
    }

    /// `network rule ls`: the container's rules, in order.
    pub fn network_rules(&self, container: &str) -> Result<Vec<Rule>> {
        let (store, id) = self.attachment_of(container)?;
        Ok(store
            .attachment(&id)?
            .map(|a| a.firewall)
            .unwrap_or_default())
    }

    fn resolve_network(store: &NetworkStore, name: &str) -> Result<String> {
        Ok(if name == DEFAULT_ALIAS || name == DEFAULT_NETWORK {
            store.ensure_default()?.name
        } else {
            name.to_string()
        })
    }

    /// Attach the container (its init `pid`'s network namespace) to its bridge networks:
    /// `first` (eth0: default routes, `--ip`, `--mac-address`, published ports) then each
    /// of `config.extra_networks` (eth1, ...). Firewall rules and bandwidth caps apply to
    /// every attachment: each interface gets the container's rules and its own caps (so a
    /// container on two networks may send up to twice its cap in total, one per network).
    /// On error nothing stays attached.
    pub(crate) fn attach_network(
        &self,
        rec: &ContainerRecord,
        first: &str,
        pid: i32,
    ) -> Result<()> {
        let attached = self.attach_all(rec, first, pid);
        if attached.is_err() {
            let _ = self.networks().and_then(|s| Ok(s.detach(&rec.id)?));
        }
        attached
    }

    fn attach_all(&self, rec: &ContainerRecord, first: &str, pid: i32) -> Result<()> {
        let store = self.networks()?;
        let netns = std::path::PathBuf::from(format!("/proc/{pid}/ns/net"));
        let opts = AttachOptions {
            ip: rec.config.ip,
            mac: rec.config.mac,
            ifname: None,
            publish: rec.config.publish.clone(),
            egress_bps: rec.config.net_egress_bps,
            ingress_bps: rec.config.net_ingress_bps,
            firewall: rec.config.firewall.clone(),
        };
        let network = Self::resolve_network(&store, first)?;
        store.attach(&network, &rec.id, &netns, &opts)?;
        for extra in &rec.config.extra_networks {
            let network = Self::resolve_network(&store, extra)?;
            store.attach(&network, &rec.id, &netns, &Self::extra_opts(rec, None))?;
        }
        self.write_hosts(rec, &store)
    }

    /// Options of an attachment after the first: no fixed MAC, no published ports.
    fn extra_opts(rec: &ContainerRecord, ip: Option<std::net::IpAddr>) -> AttachOptions {
        AttachOptions {
            ip,
            mac: None,
            ifname: None,
            publish: Vec::new(),
            egress_bps: rec.config.net_egress_bps,
            ingress_bps: rec.config.net_ingress_bps,
            firewall: rec.config.firewall.clone(),
        }
    }

    /// The container's /etc/hosts names every address of every attachment.
    fn write_hosts(&self, rec: &ContainerRecord, store: &NetworkStore) -> Result<()> {
        let addrs: Vec<std::net::IpAddr> = store
            .attachments(&rec.id)?
            .iter()
            .flat_map(|a| {
                a.ipv4
                    .map(std::net::IpAddr::V4)
                    .into_iter()
                    .chain(a.ipv6.map(std::net::IpAddr::V6))
            })
            .collect();
        crate::etc_files::set_addresses(
            &self.layout.container(&rec.id),
            &crate::spec::hostname_of(rec),
            &addrs,
            &crate::etc_files::Extras {
                dns: &rec.config.dns,
                hosts: &rec.config.extra_hosts,
            },
        )
    }

    /// `network connect NETWORK CONTAINER [--ip ADDR]`: a running container with its own
    /// network namespace gets one more interface (the next free `ethN`; `eth0` with the
    /// default routes when it had none), with its current firewall rules and its caps.
    /// Recorded, so a restart attaches it again.
    pub fn network_connect(
        &self,
        network: &str,
        container: &str,
        ip: Option<std::net::IpAddr>,
    ) -> Result<berth_net::Attachment> {
        let rec = self.lookup(container)?;
        if !matches!(
            rec.config.network,
            NetworkMode::None | NetworkMode::Bridge(_)
        ) {
            return Err(Error::WrongState {
                id: rec.id,
                state: "not in a network namespace of its own".into(),
                what: "--network host or container:ID cannot be connected to a network",
            });
        }
        if rec.state != State::Running || rec.pid <= 0 {
            return Err(Error::WrongState {
                id: rec.id,
                state: rec.state.to_string(),
                what: "only a running container can be connected",
            });
        }
        let store = self.networks()?;
        let network = Self::resolve_network(&store, network)?;
        let mut opts = Self::extra_opts(&rec, ip);
        // The rules as they are now (`network rule add|rm` changes them live).
        if let Some(first) = store.attachment(&rec.id)? {
            opts.firewall = first.firewall;
        }
        let netns = std::path::PathBuf::from(format!("/proc/{}/ns/net", rec.pid));
        let att = store.attach(&network, &rec.id, &netns, &opts)?;
        let recorded = self.db.modify(&rec.id, |r| match &r.config.network {
            NetworkMode::Bridge(_) => r.config.extra_networks.push(network.clone()),
            _ => r.config.network = NetworkMode::Bridge(network.clone()),
        });
        let done = recorded.and_then(|r| match r {
            Some(r) => self.write_hosts(&r, &store),
            None => Err(Error::NoSuchContainer(rec.id.clone())),
        });
        if let Err(e) = done {
            let _ = store.detach_from(&rec.id, &network);
            return Err(e);
        }
        Ok(att)
    }

    /// `network disconnect NETWORK CONTAINER`: removes that interface, its rules, caps and
    /// lease. When it was the first network, the next one recorded becomes the first on
    /// the next start (the running container keeps its other interfaces as they are).
    /// A stopped container only loses the network from its record.
    pub fn network_disconnect(&self, network: &str, container: &str) -> Result<()> {
        let rec = self.lookup(container)?;
        let store = self.networks()?;
        let network = if network == DEFAULT_ALIAS {
            DEFAULT_NETWORK.to_string()
        } else {
            network.to_string()
        };
        // A recorded name, which may be the default network's alias, names `network`.
        let named =
            |n: &String| n == &network || (network == DEFAULT_NETWORK && n == DEFAULT_ALIAS);
        let configured = rec.config.extra_networks.iter().any(named)
            || matches!(&rec.config.network, NetworkMode::Bridge(n) if named(n));
        if rec.state == State::Running || !configured {
            // A stopped container has no endpoint: only its record changes.
            store.detach_from(&rec.id, &network)?;
        }
        let updated = self.db.modify(&rec.id, |r| {
            let cfg = &mut r.config;
            cfg.extra_networks.retain(|n| !named(n));
            if matches!(&cfg.network, NetworkMode::Bridge(n) if named(n)) {
                cfg.network = if cfg.extra_networks.is_empty() {
                    NetworkMode::None
                } else {
                    NetworkMode::Bridge(cfg.extra_networks.remove(0))
                };
            }
        })?;
        if let Some(r) = updated {
            self.write_hosts(&r, &store)?;
        }
        Ok(())
    }

    /// Remove every endpoint of the container (address leases, published ports, rules),
    /// whatever its network mode says (`network connect` may have attached one since).
    pub(crate) fn detach_network(&self, rec: &ContainerRecord) -> Result<()> {
        if !self.layout.net().exists() {
            return Ok(());
        }
        Ok(self.networks()?.detach(&rec.id)?)
    }
}
