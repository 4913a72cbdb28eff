//! Networks (crates/net): `network create|ls|inspect|rm`, and a container's endpoint on its
//! bridge network (veth, address, published ports), attached before the container starts
//! and detached when it stops.

use berth_net::{
    AttachOptions, Network, NetworkInfo, NetworkSpec, NetworkStore, Rule, DEFAULT_NETWORK,
};

use crate::error::{Error, Result};
use crate::manager::Manager;
use crate::record::{ContainerRecord, NetworkMode};

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

    /// Attach the container (its init `pid`'s network namespace) to network `name`.
    pub(crate) fn attach_network(&self, rec: &ContainerRecord, name: &str, pid: i32) -> Result<()> {
        let store = self.networks()?;
        let network = if name == DEFAULT_ALIAS || name == DEFAULT_NETWORK {
            store.ensure_default()?.name
        } else {
            name.to_string()
        };
        let opts = AttachOptions {
            ip: rec.config.ip,
            mac: rec.config.mac,
            ifname: "eth0".into(),
            publish: rec.config.publish.clone(),
            egress_bps: rec.config.net_egress_bps,
            ingress_bps: rec.config.net_ingress_bps,
            firewall: rec.config.firewall.clone(),
        };
        let netns = std::path::PathBuf::from(format!("/proc/{pid}/ns/net"));
        let att = store.attach(&network, &rec.id, &netns, &opts)?;
        let addrs: Vec<std::net::IpAddr> = att
            .ipv4
            .map(std::net::IpAddr::V4)
            .into_iter()
            .chain(att.ipv6.map(std::net::IpAddr::V6))
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

    /// Remove the container's endpoint (address lease, published ports, rules), if any.
    pub(crate) fn detach_network(&self, rec: &ContainerRecord) -> Result<()> {
        if !matches!(rec.config.network, NetworkMode::Bridge(_)) || !self.layout.net().exists() {
            return Ok(());
        }
        Ok(self.networks()?.detach(&rec.id)?)
    }
}
