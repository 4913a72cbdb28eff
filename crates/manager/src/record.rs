//! What the metadata store keeps per container, and what a user asks for (`RunConfig`).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::limits::Limits;

/// A container's life as the manager records it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// Made (storage, bundle) but never started, or stopped by `create` semantics.
    Created,
    /// A monitor is creating the container.
    Starting,
    Running,
    Exited,
}

impl std::fmt::Display for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            State::Created => "created",
            State::Starting => "starting",
            State::Running => "running",
            State::Exited => "exited",
        })
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NetworkMode {
    /// A new network namespace with only `lo` (up).
    #[default]
    None,
    /// The host's network namespace.
    Host,
    /// A new network namespace attached to this berth network (crates/net: bridge, veth,
    /// IPAM, NAT, published ports).
    Bridge(String),
    /// `--network container:ID`: the network namespace of that container's init (its
    /// full id; it must be running when this one starts).
    Container(String),
}

/// `-v host:ctr[:ro]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Volume {
    pub host: PathBuf,
    pub container: String,
    pub read_only: bool,
}

/// Everything `berth run`/`create` accepts about a container. Fields missing from an older
/// record take their defaults.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RunConfig {
    pub name: Option<String>,
    /// An image reference; `None`: the host's own tree, read-only, with a private upper layer.
    pub image: Option<String>,
    /// The command (image's Cmd replaced when not empty).
    pub command: Vec<String>,
    /// `--entrypoint` (an empty string clears the image's entrypoint).
    pub entrypoint: Option<String>,
    pub env: Vec<String>,
    pub volumes: Vec<Volume>,
    pub workdir: Option<String>,
    pub user: Option<String>,
    pub hostname: Option<String>,
    pub read_only: bool,
    pub interactive: bool,
    pub tty: bool,
    pub auto_remove: bool,
    /// Run a tiny reaper as pid 1 (the berth binary's init mode) in front of the command.
    pub init: bool,
    pub network: NetworkMode,
    /// With `NetworkMode::Bridge`: the further berth networks (`--network a --network b`,
    /// `network connect`), attached after the first as eth1, eth2, ...
    pub extra_networks: Vec<String>,
    /// A user namespace with the container's own id range (the CLI's default; false for
    /// `--userns host`). See `userns`.
    pub userns_private: bool,
    /// `-p`: ports published through the network (bridge networks only).
    pub publish: Vec<berth_net::PortMapping>,
    /// `--ip`: a fixed address on the (first) bridge network.
    pub ip: Option<std::net::IpAddr>,
    /// `--mac-address`.
    pub mac: Option<berth_net::MacAddr>,
    /// `--dns`: the container's resolvers (replacing the host's).
    pub dns: Vec<std::net::IpAddr>,
    /// `--add-host NAME:ADDR`: extra /etc/hosts lines.
    pub extra_hosts: Vec<(String, std::net::IpAddr)>,
    /// `--net-egress`: cap on what the container sends, bit/s.
    pub net_egress_bps: Option<u64>,
    /// `--net-ingress`: cap on what the container receives, bit/s.
    pub net_ingress_bps: Option<u64>,
    /// `--firewall`: the container's rules at attach time (first match wins).
    pub firewall: Vec<berth_net::Rule>,
    pub limits: Limits,
    /// Disk quota of the writable layer, bytes.
    pub disk: Option<u64>,
}

/// One container in the metadata store.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ContainerRecord {
    pub id: String,
    pub name: String,
    /// Image reference as given; `None` for the host tree.
    pub image: Option<String>,
    pub image_id: Option<String>,
    /// What the image's config contributes (env, entrypoint, cmd, workdir, user).
    pub image_defaults: crate::spec::ImageDefaults,
    pub config: RunConfig,
    /// The resolved command line (entrypoint + cmd).
    pub args: Vec<String>,
    pub created: String,
    pub state: State,
    pub exit_code: Option<i32>,
    /// Why the container is exited when it was not its own doing (monitor died, start failed).
    pub error: Option<String>,
    /// The container's init, host pid.
    pub pid: i32,
    pub monitor_pid: i32,
    /// Start time of the monitor (clock ticks since boot): a reused pid is not our monitor.
    pub monitor_start: u64,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub log_path: PathBuf,
    /// cgroup parent (cgroupsPath = `<parent>/<id>`).
    pub cgroup_parent: String,
    /// The signal `stop` sends first (the image's StopSignal, SIGTERM by default).
    pub stop_signal: String,
}

impl ContainerRecord {
    pub fn short_id(&self) -> &str {
        &self.id[..12.min(self.id.len())]
    }

    /// Is the recorded monitor still the process we started?
    pub fn monitor_alive(&self) -> bool {
        self.monitor_pid > 0
            && berth_container::state::process_start_time(self.monitor_pid)
                == Some(self.monitor_start)
    }
}

pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}
