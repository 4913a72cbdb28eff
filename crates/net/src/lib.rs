//! berth-net: container networks on Linux.
//!
//! A network is a bridge (`bth-...`) with gateway addresses and its chains in berth's own
//! nftables tables (`inet berth` for NAT, forwarding and the host-loopback guard,
//! `bridge berth` for anti-spoofing, per-container rules and isolation). Attaching a
//! container creates a veth pair (host side `bthv-...`), moves the other end into the
//! container's network namespace, gives it addresses from the network's IPAM and default
//! routes, publishes ports through DNAT maps and caps bandwidth with tc. A container may
//! be attached to several networks: one endpoint (slot, veth, lease, chains, caps) per
//! network, the default routes through slot 0 (`eth0`) only. Everything is
//! recorded under the store's root, written atomically under a lock, so a crash can be
//! cleaned up by `gc`.

mod bridge;
mod endpoint;
mod error;
mod ipam;
mod mac;
mod names;
mod netlink;
mod netns;
mod nft;
mod records;
mod spec;
mod store;
mod sysctl;
mod tc;
mod uplinks;
mod validate;

pub use error::Error;
pub use mac::MacAddr;
pub use names::{BRIDGE_PREFIX, IFB_PREFIX, PEER_PREFIX, VETH_PREFIX};
pub use spec::{
    Action, AttachOptions, Attachment, Direction, Network, NetworkSpec, PortMapping, PortProto,
    Proto, Rule,
};
pub use store::{NetworkInfo, NetworkStore, DEFAULT_NETWORK};
