//! The values callers pass in and get back: network specs, attach options, rules, ports.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use serde::{Deserialize, Serialize};

use crate::MacAddr;

/// What `berth network create` asks for.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkSpec {
    pub name: String,
    pub subnet_v4: Option<Ipv4Net>,
    pub subnet_v6: Option<Ipv6Net>,
    /// Defaults to the first host address of `subnet_v4`.
    pub gateway_v4: Option<Ipv4Addr>,
    /// Defaults to the first host address (`::1`) of `subnet_v6`.
    pub gateway_v6: Option<Ipv6Addr>,
    /// No routing off the bridge and no masquerade: containers only talk to each other and the host.
    pub internal: bool,
    /// No container-to-container traffic on the same bridge.
    pub isolate: bool,
    /// Bridge device name (`bth-...`, at most 15 characters); derived from the name when unset.
    pub bridge: Option<String>,
    /// Interfaces that carry this network's traffic off the host, on which berth turns
    /// forwarding on (per interface). Unset: the interfaces of the host's default routes.
    pub uplinks: Option<Vec<String>>,
}

/// A network as recorded in the store.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Network {
    pub name: String,
    pub bridge: String,
    pub subnet_v4: Option<Ipv4Net>,
    pub gateway_v4: Option<Ipv4Addr>,
    pub subnet_v6: Option<Ipv6Net>,
    pub gateway_v6: Option<Ipv6Addr>,
    pub internal: bool,
    pub isolate: bool,
    /// Uplinks on which berth turned forwarding on for this network (it turns it off
    /// again when no network needs it). Forwarding from them is limited to berth bridges.
    #[serde(default)]
    pub uplinks: Vec<String>,
}

impl Network {
    /// The subnets of this network, IPv4 first.
    pub fn subnets(&self) -> Vec<IpNet> {
        let mut out = Vec::new();
        if let Some(s) = self.subnet_v4 {
            out.push(IpNet::V4(s));
        }
        if let Some(s) = self.subnet_v6 {
            out.push(IpNet::V6(s));
        }
        out
    }
}

/// Transport protocol of a published port.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PortProto {
    Tcp,
    Udp,
}

impl fmt::Display for PortProto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PortProto::Tcp => "tcp",
            PortProto::Udp => "udp",
        })
    }
}

/// `-p [host_ip:]host_port:container_port[/proto]`: host traffic to `host_port` goes to the container.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortMapping {
    pub proto: PortProto,
    /// Only traffic to this host address is forwarded; every local address (of each
    /// family the container has) when unset. IPv6 works from the host's addresses, not
    /// from `::1` (Linux never routes loopback IPv6 traffic off the host).
    pub host_ip: Option<IpAddr>,
    pub host_port: u16,
    pub container_port: u16,
}

/// Allow or deny.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Allow,
    Deny,
}

/// `In`: traffic to the container (peer is the source). `Out`: from the container (peer is the destination).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    In,
    Out,
}

/// Protocol a firewall rule matches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    Tcp,
    Udp,
    Icmp,
}

/// A per-container firewall rule. Rules are checked in order, the first match wins; when
/// none matches, the network's defaults apply: everything is allowed except the host's
/// loopback (127.0.0.0/8), other berth networks and, on isolated networks, the other
/// containers. An `Allow` whose peer lies in 127.0.0.0/8 opens that flow to the host's
/// loopback; separation of networks and isolation are absolute.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rule {
    pub action: Action,
    pub direction: Direction,
    /// Remote side of the flow; any address when unset.
    pub peer: Option<IpNet>,
    pub proto: Option<Proto>,
    /// Destination port (the container's port for `In`, the peer's for `Out`); needs tcp or udp.
    pub port: Option<u16>,
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let action = match self.action {
            Action::Allow => "allow",
            Action::Deny => "deny",
        };
        let (dir, word) = match self.direction {
            Direction::In => ("in", "from"),
            Direction::Out => ("out", "to"),
        };
        write!(f, "{action} {dir}")?;
        if let Some(peer) = self.peer {
            write!(f, " {word} {peer}")?;
        }
        if let Some(proto) = self.proto {
            let p = match proto {
                Proto::Tcp => "tcp",
                Proto::Udp => "udp",
                Proto::Icmp => "icmp",
            };
            write!(f, " {p}")?;
        }
        if let Some(port) = self.port {
            write!(f, " port {port}")?;
        }
        Ok(())
    }
}

/// How to wire one container into a network.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttachOptions {
    /// A fixed address (IPv4 or IPv6); the next free one of each subnet otherwise.
    pub ip: Option<IpAddr>,
    pub mac: Option<MacAddr>,
    /// Interface name inside the container; `eth<N>` when unset, N the attachment's slot
    /// (0 for the container's first network, then the lowest number not in use).
    pub ifname: Option<String>,
    pub publish: Vec<PortMapping>,
    /// Cap on what the container sends, bit/s.
    pub egress_bps: Option<u64>,
    /// Cap on what the container receives, bit/s.
    pub ingress_bps: Option<u64>,
    pub firewall: Vec<Rule>,
}

/// One container's endpoint on a network, as recorded (this record is also its IP lease).
/// A container may have several, one per network, each with its own slot.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    pub container_id: String,
    pub network: String,
    /// 0 for the container's first attachment (the one with the default routes), then the
    /// lowest number free when attached. Part of the host-side names (`names::endpoint_key`).
    #[serde(default)]
    pub slot: u32,
    pub ifname: String,
    /// Host side of the veth pair, a port of the network's bridge.
    pub host_veth: String,
    /// The ifb device that shapes the container's egress, when capped.
    pub ifb: Option<String>,
    pub mac: MacAddr,
    pub ipv4: Option<Ipv4Addr>,
    pub ipv6: Option<Ipv6Addr>,
    pub publish: Vec<PortMapping>,
    pub egress_bps: Option<u64>,
    pub ingress_bps: Option<u64>,
    pub firewall: Vec<Rule>,
}
