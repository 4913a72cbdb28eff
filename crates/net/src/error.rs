//! One error variant per step that can fail, carrying the path or value involved.

use std::net::IpAddr;
use std::path::PathBuf;

use ipnet::IpNet;

/// Everything that can go wrong while managing berth networks.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("create directory {path}: {source}")]
    CreateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("open lock file {path}: {source}")]
    OpenLock {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("lock {path}: {source}")]
    Lock { path: PathBuf, source: nix::Error },
    #[error("read {path}: {source}")]
    ReadRecord {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("parse {path}: {source}")]
    ParseRecord {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("encode record for {path}: {source}")]
    EncodeRecord {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("write {path}: {source}")]
    WriteRecord {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("remove {path}: {source}")]
    RemoveRecord {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("list {path}: {source}")]
    ListRecords {
        path: PathBuf,
        source: std::io::Error,
    },

    #[error("invalid network name {0:?}: use 1-64 characters [A-Za-z0-9_.-], starting with a letter or digit")]
    InvalidNetworkName(String),
    #[error("invalid bridge name {0:?}: must start with \"bth-\" and have at most 15 characters [A-Za-z0-9_-]")]
    InvalidBridgeName(String),
    #[error("invalid container id {0:?}: use 1-128 characters [A-Za-z0-9_.-], starting with a letter or digit")]
    InvalidContainerId(String),
    #[error("network {0} already exists")]
    NetworkExists(String),
    #[error("unknown network {0}")]
    UnknownNetwork(String),
    #[error("network {network} needs at least one subnet (IPv4 or IPv6)")]
    NoSubnet { network: String },
    #[error("subnet {subnet} is too small: need room for a gateway and at least one container")]
    SubnetTooSmall { subnet: IpNet },
    #[error("subnet {subnet} overlaps subnet {other} of network {network}")]
    SubnetOverlap {
        subnet: IpNet,
        other: IpNet,
        network: String,
    },
    #[error("subnet {subnet} overlaps host route {route}")]
    HostRouteOverlap { subnet: IpNet, route: IpNet },
    #[error("bridge {bridge} is already used by network {network}")]
    BridgeTaken { bridge: String, network: String },
    #[error("interface {0} already exists on the host")]
    LinkExists(String),
    #[error("gateway {gateway} is not a host address of subnet {subnet}")]
    GatewayOutsideSubnet { gateway: IpAddr, subnet: IpNet },
    #[error("address {addr} is not a usable host address of subnet {subnet}")]
    AddressOutsideSubnet { addr: IpAddr, subnet: IpNet },
    #[error("network {network} has no {family} subnet for address {addr}")]
    NoSubnetForAddress {
        network: String,
        family: &'static str,
        addr: IpAddr,
    },
    #[error("address {addr} is already in use on network {network}")]
    AddressTaken { addr: IpAddr, network: String },
    #[error("no free address left in subnet {subnet}")]
    SubnetExhausted { subnet: IpNet },
    #[error("no free subnet for the default network in 10.89.0.0/16")]
    NoDefaultSubnet,
    #[error("invalid MAC address {0:?}")]
    InvalidMac(String),
    #[error("MAC address {mac} is not a unicast address")]
    MacNotUnicast { mac: String },
    #[error("MAC address {mac} is already in use on network {network}")]
    MacTaken { mac: String, network: String },
    #[error("invalid interface name {0:?}")]
    InvalidIfname(String),
    #[error("host port {proto}/{host_port} is already published by container {container}")]
    PortPublished {
        proto: String,
        host_port: u16,
        container: String,
    },
    #[error("cannot publish {proto}/{host_port}: port 0 is not a valid port")]
    InvalidPort { proto: String, host_port: u16 },
    #[error("cannot publish ports on internal network {0}")]
    PublishOnInternal(String),
    #[error("cannot publish on {host_ip}: network {network} has no {family} subnet")]
    PublishWithoutFamily {
        network: String,
        family: &'static str,
        host_ip: IpAddr,
    },
    #[error("invalid firewall rule {rule}: {reason}")]
    InvalidRule { rule: String, reason: &'static str },
    #[error("container {container} has no rule {rule}")]
    RuleNotFound { container: String, rule: String },
    #[error("container {container} is already attached to network {network}")]
    AlreadyAttached { container: String, network: String },
    #[error("container {0} is not attached to any network")]
    NotAttached(String),
    #[error("container {container} is not attached to network {network}")]
    NotOnNetwork { container: String, network: String },
    #[error("container {container} is on {max} networks already, the most it can be on")]
    TooManyNetworks { container: String, max: u32 },
    #[error("container {container} already has an interface {ifname} (on network {network})")]
    IfnameTaken {
        ifname: String,
        container: String,
        network: String,
    },
    #[error(
        "host interface name {veth} for container {container} is already used by container {other}"
    )]
    VethNameTaken {
        veth: String,
        container: String,
        other: String,
    },
    #[error(
        "network {network} is in use by containers {containers:?}: disconnect or remove them first"
    )]
    NetworkInUse {
        network: String,
        containers: Vec<String>,
    },
    #[error("rate {0} bit/s is too small: at least 8000 bit/s")]
    RateTooSmall(u64),

    #[error("start netlink runtime: {0}")]
    Runtime(std::io::Error),
    #[error("open netlink socket: {0}")]
    NetlinkSocket(std::io::Error),
    #[error("netlink: {op} {target}: {source}")]
    Netlink {
        op: &'static str,
        target: String,
        source: rtnetlink::Error,
    },
    #[error("interface {0} not found")]
    LinkNotFound(String),
    #[error("open network namespace {path}: {source}")]
    OpenNetns {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("enter network namespace {path}: {source}")]
    EnterNetns { path: PathBuf, source: nix::Error },
    #[error("worker thread inside network namespace {0} panicked")]
    NetnsThread(PathBuf),
    #[error("write {value} to {path}: {source}")]
    Sysctl {
        path: PathBuf,
        value: String,
        source: std::io::Error,
    },
    #[error("run {program}: {source}")]
    Spawn {
        program: &'static str,
        source: std::io::Error,
    },
    #[error("nft {op}: {stderr}")]
    Nft { op: String, stderr: String },
    #[error("tc {args}: {stderr}")]
    Tc { args: String, stderr: String },
}
