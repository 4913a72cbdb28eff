//! Links, addresses and routes through rtnetlink, driven from synchronous code.
//!
//! Each `Netlink` owns a single-threaded tokio runtime and a netlink socket opened in the
//! network namespace of the calling thread (see `netns::run_in` for the container side).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::RawFd;

use futures_util::TryStreamExt;
use ipnet::IpNet;
use netlink_packet_route::address::{AddressAttribute, AddressFlags};
use netlink_packet_route::link::{LinkAttribute, LinkMessage};
use netlink_packet_route::route::{RouteAddress, RouteAttribute, RouteType};
use rtnetlink::{Handle, LinkBridge, LinkIfb, LinkUnspec, LinkVeth, RouteMessageBuilder};
use tokio::runtime::Runtime;

use crate::{Error, MacAddr};

const RT_TABLE_MAIN: u32 = 254;

pub struct Netlink {
    rt: Runtime,
    handle: Handle,
}

/// A link as seen in a dump: name, index and the index of its bridge, if any.
pub struct LinkInfo {
    pub name: String,
    pub index: u32,
    pub master: Option<u32>,
}

fn errno_of(e: &rtnetlink::Error) -> Option<i32> {
    match e {
        rtnetlink::Error::NetlinkError(m) => m.to_io().raw_os_error(),
        _ => None,
    }
}

fn nl(op: &'static str, target: impl Into<String>) -> impl FnOnce(rtnetlink::Error) -> Error {
    let target = target.into();
    move |source| Error::Netlink { op, target, source }
}

fn link_info(msg: &LinkMessage) -> LinkInfo {
    let mut name = String::new();
    let mut master = None;
    for attr in &msg.attributes {
        match attr {
            LinkAttribute::IfName(n) => name = n.clone(),
            LinkAttribute::Controller(m) => master = Some(*m),
            _ => {}
        }
    }
    LinkInfo {
        name,
        index: msg.header.index,
        master,
    }
}

impl Netlink {
    /// Opens a netlink socket in the calling thread's network namespace.
    pub fn open() -> Result<Self, Error> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build()
            .map_err(Error::Runtime)?;
        let (conn, handle, _) = {
            let _guard = rt.enter();
            rtnetlink::new_connection().map_err(Error::NetlinkSocket)?
        };
        rt.spawn(conn);
        Ok(Netlink { rt, handle })
    }

    pub fn link_index(&self, name: &str) -> Result<Option<u32>, Error> {
        self.rt.block_on(async {
            let mut links = self.handle.link().get().match_name(name).execute();
            match links.try_next().await {
                Ok(Some(msg)) => Ok(Some(msg.header.index)),
                Ok(None) => Ok(None),
                Err(e) if errno_of(&e) == Some(libc::ENODEV) => Ok(None),
                Err(e) => Err(nl("get link", name)(e)),
            }
        })
    }

    /// The index of `name`, or `LinkNotFound`.
    pub fn require_index(&self, name: &str) -> Result<u32, Error> {
        self.link_index(name)?
            .ok_or_else(|| Error::LinkNotFound(name.into()))
    }

    pub fn links(&self) -> Result<Vec<LinkInfo>, Error> {
        self.rt.block_on(async {
            let links: Vec<LinkMessage> = self
                .handle
                .link()
                .get()
                .execute()
                .try_collect()
                .await
                .map_err(nl("dump links", "all"))?;
            Ok(links.iter().map(link_info).collect())
        })
    }

    pub fn add_bridge(&self, name: &str) -> Result<u32, Error> {
        self.rt
            .block_on(
                self.handle
                    .link()
                    .add(LinkBridge::new(name).build())
                    .execute(),
            )
            .map_err(nl("create bridge", name))?;
        self.require_index(name)
    }

    pub fn add_veth(&self, name: &str, peer: &str) -> Result<u32, Error> {
        self.rt
            .block_on(
                self.handle
                    .link()
                    .add(LinkVeth::new(name, peer).build())
                    .execute(),
            )
            .map_err(nl("create veth pair", format!("{name}/{peer}")))?;
        self.require_index(name)
    }

    pub fn add_ifb(&self, name: &str) -> Result<u32, Error> {
        load_ifb_module();
        self.rt
            .block_on(self.handle.link().add(LinkIfb::new(name).build()).execute())
            .map_err(nl("create ifb", name))?;
        self.require_index(name)
    }

    /// Deletes the link; `Ok(false)` when it did not exist.
    pub fn delete_link(&self, name: &str) -> Result<bool, Error> {
        let Some(index) = self.link_index(name)? else {
            return Ok(false);
        };
        match self.rt.block_on(self.handle.link().del(index).execute()) {
            Ok(()) => Ok(true),
            Err(e) if errno_of(&e) == Some(libc::ENODEV) => Ok(false),
            Err(e) => Err(nl("delete link", name)(e)),
        }
    }

    fn set(&self, op: &'static str, target: &str, msg: LinkMessage) -> Result<(), Error> {
        self.rt
            .block_on(self.handle.link().set(msg).execute())
            .map_err(nl(op, target))
    }

    pub fn set_up(&self, index: u32, name: &str) -> Result<(), Error> {
        self.set(
            "set up",
            name,
            LinkUnspec::new_with_index(index).up().build(),
        )
    }

    pub fn set_master(&self, index: u32, name: &str, master: u32) -> Result<(), Error> {
        let msg = LinkUnspec::new_with_index(index).controller(master).build();
        self.set("attach to bridge", name, msg)
    }

    pub fn set_mtu(&self, index: u32, name: &str, mtu: u32) -> Result<(), Error> {
        self.set(
            "set mtu",
            name,
            LinkUnspec::new_with_index(index).mtu(mtu).build(),
        )
    }

    pub fn move_to_netns(&self, index: u32, name: &str, netns_fd: RawFd) -> Result<(), Error> {
        let msg = LinkUnspec::new_with_index(index)
            .setns_by_fd(netns_fd)
            .build();
        self.set("move to netns", name, msg)
    }

    pub fn rename_with_mac(&self, index: u32, name: &str, mac: MacAddr) -> Result<(), Error> {
        let msg = LinkUnspec::new_with_index(index)
            .name(name.to_string())
            .address(mac.0.to_vec())
            .build();
        self.set("rename and set MAC", name, msg)
    }

    pub fn set_mac(&self, index: u32, name: &str, mac: MacAddr) -> Result<(), Error> {
        let msg = LinkUnspec::new_with_index(index)
            .address(mac.0.to_vec())
            .build();
        self.set("set MAC", name, msg)
    }

    pub fn mtu(&self, name: &str) -> Result<Option<u32>, Error> {
        self.rt.block_on(async {
            let mut links = self.handle.link().get().match_name(name).execute();
            let msg = links
                .try_next()
                .await
                .map_err(nl("get link", name))?
                .ok_or_else(|| Error::LinkNotFound(name.into()))?;
            Ok(msg.attributes.iter().find_map(|a| match a {
                LinkAttribute::Mtu(m) => Some(*m),
                _ => None,
            }))
        })
    }

    /// Adds `addr/prefix` to the link; IPv6 addresses skip duplicate address detection
    /// (berth's IPAM already guarantees uniqueness) so they are usable at once.
    pub fn add_address(
        &self,
        index: u32,
        name: &str,
        addr: IpAddr,
        prefix: u8,
    ) -> Result<(), Error> {
        let mut req = self.handle.address().add(index, addr, prefix);
        if addr.is_ipv6() {
            req.message_mut()
                .attributes
                .push(AddressAttribute::Flags(AddressFlags::Nodad));
        }
        self.rt
            .block_on(req.execute())
            .map_err(nl("add address", format!("{addr}/{prefix} on {name}")))
    }

    pub fn add_default_route(&self, index: u32, name: &str, gateway: IpAddr) -> Result<(), Error> {
        let msg = match gateway {
            IpAddr::V4(gw) => RouteMessageBuilder::<Ipv4Addr>::new()
                .gateway(gw)
                .output_interface(index)
                .build(),
            IpAddr::V6(gw) => RouteMessageBuilder::<Ipv6Addr>::new()
                .gateway(gw)
                .output_interface(index)
                .build(),
        };
        self.rt
            .block_on(self.handle.route().add(msg).execute())
            .map_err(nl("add default route", format!("via {gateway} dev {name}")))
    }

    /// Names of the links that carry a default route of the main table (IPv4 or IPv6).
    pub fn default_route_links(&self) -> Result<Vec<String>, Error> {
        let mut indexes = Vec::new();
        for query in [
            RouteMessageBuilder::<Ipv4Addr>::new().build(),
            RouteMessageBuilder::<Ipv6Addr>::new().build(),
        ] {
            let routes: Vec<_> = self
                .rt
                .block_on(self.handle.route().get(query).execute().try_collect())
                .map_err(nl("dump routes", "main table"))?;
            for route in routes {
                if route.header.destination_prefix_length != 0
                    || route.header.kind != RouteType::Unicast
                {
                    continue;
                }
                for attr in &route.attributes {
                    if let RouteAttribute::Oif(i) = attr {
                        if !indexes.contains(i) {
                            indexes.push(*i);
                        }
                    }
                }
            }
        }
        let links = self.links()?;
        Ok(indexes
            .into_iter()
            .filter_map(|i| links.iter().find(|l| l.index == i).map(|l| l.name.clone()))
            .collect())
    }

    /// Destinations of the main table's unicast routes, default routes excluded.
    pub fn routes(&self) -> Result<Vec<IpNet>, Error> {
        let mut out = Vec::new();
        for query in [
            RouteMessageBuilder::<Ipv4Addr>::new().build(),
            RouteMessageBuilder::<Ipv6Addr>::new().build(),
        ] {
            let routes: Vec<_> = self
                .rt
                .block_on(self.handle.route().get(query).execute().try_collect())
                .map_err(nl("dump routes", "main table"))?;
            for route in routes {
                let prefix = route.header.destination_prefix_length;
                let table = route
                    .attributes
                    .iter()
                    .find_map(|a| match a {
                        RouteAttribute::Table(t) => Some(*t),
                        _ => None,
                    })
                    .unwrap_or(u32::from(route.header.table));
                if table != RT_TABLE_MAIN || prefix == 0 || route.header.kind != RouteType::Unicast
                {
                    continue;
                }
                let dest = route.attributes.iter().find_map(|a| match a {
                    RouteAttribute::Destination(RouteAddress::Inet(a)) => {
                        IpNet::new(IpAddr::V4(*a), prefix).ok()
                    }
                    RouteAttribute::Destination(RouteAddress::Inet6(a)) => {
                        IpNet::new(IpAddr::V6(*a), prefix).ok()
                    }
                    _ => None,
                });
                if let Some(d) = dest {
                    // fe80::/64 exists on every IPv6 link and never collides with a berth subnet.
                    if !matches!(d, IpNet::V6(n) if n.addr().segments()[0] & 0xffc0 == 0xfe80) {
                        out.push(d.trunc());
                    }
                }
            }
        }
        Ok(out)
    }
}

/// Load the ifb module without its default devices: left to the kernel's autoload on the
/// first ifb link, it comes with `ifb0` and `ifb1`, two interfaces nobody asked for on the
/// host. Best effort: where modprobe is missing or ifb is built in, the link is created all
/// the same.
fn load_ifb_module() {
    if std::path::Path::new("/sys/module/ifb").exists() {
        return;
    }
    let _ = std::process::Command::new("modprobe")
        .args(["ifb", "numifbs=0"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status();
}
