//! Checks of an attach request against what the store already holds: MAC, published
//! ports and firewall rules.

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::{AttachOptions, Attachment, Error, MacAddr, Network, PortMapping, Proto, Rule};

/// The requested MAC, checked, or one derived from the container's address.
pub fn choose_mac(
    net: &Network,
    on_net: &[&Attachment],
    requested: Option<MacAddr>,
    v4: Option<Ipv4Addr>,
    v6: Option<Ipv6Addr>,
) -> Result<MacAddr, Error> {
    let taken: HashSet<MacAddr> = on_net.iter().map(|a| a.mac).collect();
    if let Some(mac) = requested {
        if !mac.is_unicast() {
            return Err(Error::MacNotUnicast {
                mac: mac.to_string(),
            });
        }
        if taken.contains(&mac) {
            return Err(Error::MacTaken {
                mac: mac.to_string(),
                network: net.name.clone(),
            });
        }
        return Ok(mac);
    }
    // Derived from the address (unique on this network), like docker's 02:42:<ipv4>.
    let seed = match (v4, v6) {
        (Some(a), _) => a.octets(),
        (None, Some(a)) => {
            let o = a.octets();
            [o[12], o[13], o[14], o[15]]
        }
        (None, None) => [0; 4],
    };
    let mut n = u32::from_be_bytes(seed);
    loop {
        let mac = MacAddr::local(n.to_be_bytes());
        if !taken.contains(&mac) {
            return Ok(mac);
        }
        n = n.wrapping_add(1);
    }
}

pub fn check_publish(
    net: &Network,
    endpoints: &[Attachment],
    opts: &AttachOptions,
) -> Result<(), Error> {
    if opts.publish.is_empty() {
        return Ok(());
    }
    if net.internal {
        return Err(Error::PublishOnInternal(net.name.clone()));
    }
    let clash = |a: &PortMapping, b: &PortMapping| {
        a.proto == b.proto
            && a.host_port == b.host_port
            && (a.host_ip.is_none() || b.host_ip.is_none() || a.host_ip == b.host_ip)
    };
    for (i, p) in opts.publish.iter().enumerate() {
        let family_missing = match p.host_ip {
            Some(IpAddr::V4(_)) => net.subnet_v4.is_none().then_some("IPv4"),
            Some(IpAddr::V6(_)) => net.subnet_v6.is_none().then_some("IPv6"),
            None => None,
        };
        if let (Some(family), Some(host_ip)) = (family_missing, p.host_ip) {
            return Err(Error::PublishWithoutFamily {
                network: net.name.clone(),
                family,
                host_ip,
            });
        }
        if p.host_port == 0 || p.container_port == 0 {
            return Err(Error::InvalidPort {
                proto: p.proto.to_string(),
                host_port: p.host_port,
            });
        }
        for a in endpoints {
            if a.publish.iter().any(|q| clash(p, q)) {
                return Err(Error::PortPublished {
                    proto: p.proto.to_string(),
                    host_port: p.host_port,
                    container: a.container_id.clone(),
                });
            }
        }
        if opts.publish[..i].iter().any(|q| clash(p, q)) {
            return Err(Error::PortPublished {
                proto: p.proto.to_string(),
                host_port: p.host_port,
                container: "(this request)".into(),
            });
        }
    }
    Ok(())
}

pub fn check_rule(rule: &Rule) -> Result<(), Error> {
    let invalid = |reason| Error::InvalidRule {
        rule: rule.to_string(),
        reason,
    };
    match (rule.proto, rule.port) {
        (Some(Proto::Icmp), Some(_)) | (None, Some(_)) => {
            Err(invalid("a port needs protocol tcp or udp"))
        }
        (_, Some(0)) => Err(invalid("port 0 is not a valid port")),
        _ => Ok(()),
    }
}
