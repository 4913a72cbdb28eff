//! IP address management: which addresses of a subnet are usable, free or taken.
//!
//! Pure functions over the leases recorded in the store; the store holds its lock while it
//! calls them and writes the new lease before any interface exists, so an address is never
//! handed out twice, also across restarts and crashes.

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use crate::{Attachment, Error, Network};

/// A host address of `subnet`: not the network address, and for IPv4 not the broadcast.
pub fn is_host_v4(subnet: &Ipv4Net, addr: Ipv4Addr) -> bool {
    subnet.contains(&addr)
        && (subnet.prefix_len() >= 31 || (addr != subnet.network() && addr != subnet.broadcast()))
}

/// A host address of `subnet`: not the subnet-router anycast address (the network address).
pub fn is_host_v6(subnet: &Ipv6Net, addr: Ipv6Addr) -> bool {
    subnet.contains(&addr) && (subnet.prefix_len() == 128 || addr != subnet.network())
}

/// The subnet must hold a gateway and at least one container.
pub fn check_size(subnet: IpNet) -> Result<(), Error> {
    let too_small = match subnet {
        IpNet::V4(n) => n.prefix_len() > 29,
        IpNet::V6(n) => n.prefix_len() > 125,
    };
    if too_small {
        Err(Error::SubnetTooSmall { subnet })
    } else {
        Ok(())
    }
}

pub fn default_gateway_v4(subnet: &Ipv4Net) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(subnet.network()) + 1)
}

pub fn default_gateway_v6(subnet: &Ipv6Net) -> Ipv6Addr {
    Ipv6Addr::from(u128::from(subnet.network()) + 1)
}

/// Checks a requested address against the subnet and the addresses already taken.
pub fn reserve(
    subnet: IpNet,
    addr: IpAddr,
    taken: &HashSet<IpAddr>,
    network: &str,
) -> Result<IpAddr, Error> {
    let usable = match (subnet, addr) {
        (IpNet::V4(s), IpAddr::V4(a)) => is_host_v4(&s, a),
        (IpNet::V6(s), IpAddr::V6(a)) => is_host_v6(&s, a),
        _ => false,
    };
    if !usable {
        return Err(Error::AddressOutsideSubnet { addr, subnet });
    }
    if taken.contains(&addr) {
        return Err(Error::AddressTaken {
            addr,
            network: network.into(),
        });
    }
    Ok(addr)
}

/// The lowest free host address of `subnet` (IPv6 searches the first 2^16 hosts).
pub fn next_free(subnet: IpNet, taken: &HashSet<IpAddr>) -> Result<IpAddr, Error> {
    let found = match subnet {
        IpNet::V4(s) => s.hosts().map(IpAddr::V4).find(|a| !taken.contains(a)),
        IpNet::V6(s) => {
            let base = u128::from(s.network());
            let span = if s.prefix_len() >= 112 {
                (1u128 << (128 - s.prefix_len())) - 1
            } else {
                1u128 << 16
            };
            (1..span)
                .map(|i| IpAddr::V6(Ipv6Addr::from(base + i)))
                .find(|a| !taken.contains(a))
        }
    };
    found.ok_or(Error::SubnetExhausted { subnet })
}

/// True when the two subnets share at least one address.
pub fn overlaps(a: IpNet, b: IpNet) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
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
pub fn allocate(
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
            reserve(s.into(), a.into(), &taken, &net.name)?;
            v4 = Some(a);
        }
        Some(IpAddr::V6(a)) => {
            let s = net.subnet_v6.ok_or(Error::NoSubnetForAddress {
                network: net.name.clone(),
                family: "IPv6",
                addr: a.into(),
            })?;
            reserve(s.into(), a.into(), &taken, &net.name)?;
            v6 = Some(a);
        }
        None => {}
    }
    if let (None, Some(s)) = (v4, net.subnet_v4) {
        if let IpAddr::V4(a) = next_free(s.into(), &taken)? {
            v4 = Some(a);
        }
    }
    if let (None, Some(s)) = (v6, net.subnet_v6) {
        if let IpAddr::V6(a) = next_free(s.into(), &taken)? {
            v6 = Some(a);
        }
    }
    Ok((v4, v6))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocates_lowest_free_and_never_twice() {
        let subnet: IpNet = "10.213.0.0/29".parse().unwrap();
        let mut taken: HashSet<IpAddr> = HashSet::new();
        taken.insert("10.213.0.1".parse().unwrap());
        let mut got = Vec::new();
        while let Ok(a) = next_free(subnet, &taken) {
            taken.insert(a);
            got.push(a.to_string());
        }
        assert_eq!(
            got,
            [
                "10.213.0.2",
                "10.213.0.3",
                "10.213.0.4",
                "10.213.0.5",
                "10.213.0.6"
            ]
        );
        assert!(matches!(
            next_free(subnet, &taken),
            Err(Error::SubnetExhausted { .. })
        ));
    }

    #[test]
    fn reserve_rejects_outside_reserved_and_taken() {
        let subnet: IpNet = "10.213.1.0/24".parse().unwrap();
        let taken: HashSet<IpAddr> = ["10.213.1.1".parse().unwrap()].into();
        let err = |a: &str| reserve(subnet, a.parse().unwrap(), &taken, "n").unwrap_err();
        assert!(matches!(
            err("10.213.2.5"),
            Error::AddressOutsideSubnet { .. }
        ));
        assert!(matches!(
            err("10.213.1.0"),
            Error::AddressOutsideSubnet { .. }
        ));
        assert!(matches!(
            err("10.213.1.255"),
            Error::AddressOutsideSubnet { .. }
        ));
        assert!(matches!(err("10.213.1.1"), Error::AddressTaken { .. }));
        assert!(matches!(err("fd00::1"), Error::AddressOutsideSubnet { .. }));
        reserve(subnet, "10.213.1.7".parse().unwrap(), &taken, "n").unwrap();
    }

    #[test]
    fn v6_allocation_and_overlap() {
        let subnet: IpNet = "fd42:b3::/64".parse().unwrap();
        let taken: HashSet<IpAddr> = ["fd42:b3::1".parse().unwrap()].into();
        assert_eq!(next_free(subnet, &taken).unwrap().to_string(), "fd42:b3::2");
        assert!(overlaps(subnet, "fd42:b3::/48".parse().unwrap()));
        assert!(!overlaps(subnet, "fd42:b4::/64".parse().unwrap()));
        assert!(overlaps(
            "10.0.0.0/8".parse().unwrap(),
            "10.213.0.0/24".parse().unwrap()
        ));
        assert!(!overlaps(
            "10.213.1.0/24".parse().unwrap(),
            "10.213.2.0/24".parse().unwrap()
        ));
        assert!(check_size("10.0.0.0/30".parse().unwrap()).is_err());
    }
}
