//! Networks (crates/net): `network create|ls|inspect|rm`, and a container's endpoint on its
//! bridge network (veth, address, published ports), attached before the container starts
//! and detached when it stops.

use berth_net::{AttachOptions, Network, NetworkInfo, NetworkSpec, NetworkStore, DEFAULT_NETWORK};

use crate::error::Result;
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

    /// Attach the container (its init `pid`'s network namespace) to network `name`.
    pub(crate) fn attach_network(&self, rec: &ContainerRecord, name: &str, pid: i32) -> Result<()> {
        let store = self.networks()?;
        let network = if name == DEFAULT_ALIAS || name == DEFAULT_NETWORK {
            store.ensure_default()?.name
        } else {
            name.to_string()
        };
        let opts = AttachOptions {
            publish: rec.config.publish.clone(),
            ..AttachOptions::default()
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
