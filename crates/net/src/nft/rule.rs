//! One firewall rule as nft text.

use std::fmt::Write as _;

use ipnet::IpNet;

use crate::{Action, Direction, Proto, Rule};

/// nft text of one rule's match and verdict. In the bridge table's container chains an
/// allow only ends the container's rule list (`return`): isolation and the separation of
/// networks stay absolute. In the loopback guard an allow accepts (`accept`), which is
/// the only way through it.
pub fn rule_statement(rule: &Rule, allow: &str) -> String {
    let mut s = String::new();
    let ip_dir = match rule.direction {
        Direction::In => "saddr",
        Direction::Out => "daddr",
    };
    match rule.peer {
        Some(IpNet::V4(n)) => {
            let _ = write!(s, "ip {ip_dir} {n} ");
        }
        Some(IpNet::V6(n)) => {
            let _ = write!(s, "ip6 {ip_dir} {n} ");
        }
        None => {}
    }
    match (rule.proto, rule.port) {
        (Some(Proto::Tcp), Some(p)) => {
            let _ = write!(s, "tcp dport {p} ");
        }
        (Some(Proto::Udp), Some(p)) => {
            let _ = write!(s, "udp dport {p} ");
        }
        (Some(Proto::Tcp), None) => s.push_str("meta l4proto tcp "),
        (Some(Proto::Udp), None) => s.push_str("meta l4proto udp "),
        (Some(Proto::Icmp), _) => match rule.peer {
            Some(IpNet::V4(_)) => s.push_str("meta l4proto icmp "),
            Some(IpNet::V6(_)) => s.push_str("meta l4proto ipv6-icmp "),
            None => s.push_str("meta l4proto { icmp, ipv6-icmp } "),
        },
        (None, _) => {}
    }
    s.push_str(match rule.action {
        Action::Allow => allow,
        Action::Deny => "drop",
    });
    s
}

/// An outgoing rule whose peer lies in 127.0.0.0/8: checked by the loopback guard.
pub fn targets_host_loopback(rule: &Rule) -> bool {
    rule.direction == Direction::Out
        && matches!(rule.peer, Some(IpNet::V4(n)) if n.prefix_len() >= 8 && n.network().is_loopback())
}
