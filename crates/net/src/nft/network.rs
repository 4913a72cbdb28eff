//! One network's part of berth's tables: regular chains reached through the base
//! chains' verdict maps (by subnet or by bridge name).
//!
//! - `n-<bridge>-raw4/6` (raw prerouting, before conntrack): packets from the network to
//!   the host's 127.0.0.0/8 go to the loopback guard (the bridge has route_localnet, to
//!   publish on 127.0.0.1, so the host would accept them); container-to-container traffic
//!   skips conntrack (br_netfilter would otherwise track every bridged packet).
//! - `n-<bridge>-post4/6`: masquerade off the bridge (unless internal) and of hairpin DNAT.
//! - `n-<bridge>-from/-to` (forward): other berth networks are unreachable, only published
//!   (DNAT) flows may start from outside the bridge, internal networks stay on the bridge,
//!   isolated networks forbid container-to-container traffic.

use std::fmt::Write as _;

use super::TABLE;
use crate::Network;

fn chain(net: &Network, part: &str) -> String {
    format!("n-{}-{part}", net.bridge)
}

/// A verdict-map element: `(map, key, chain it jumps to)`.
type Element = (&'static str, String, String);
/// A regular chain: `(name, rules)`.
type Chain = (String, Vec<String>);

/// Every verdict-map element of the network, and its chains.
fn parts(net: &Network) -> (Vec<Element>, Vec<Chain>) {
    let b = &net.bridge;
    let mut elems = Vec::new();
    let mut chains = Vec::new();
    if let (Some(s4), Some(gw)) = (net.subnet_v4, net.gateway_v4) {
        let raw = chain(net, "raw4");
        chains.push((
            raw.clone(),
            vec![
                "ip daddr 127.0.0.0/8 iifname != \"lo\" jump guard_lo".to_string(),
                format!("ip daddr {s4} ip daddr != {gw} notrack"),
            ],
        ));
        elems.push(("raw4", s4.to_string(), raw));
        let post = chain(net, "post4");
        let mut rules = vec![format!("oifname \"{b}\" ct status dnat masquerade")];
        if !net.internal {
            rules.push(format!("oifname != \"{b}\" masquerade"));
        }
        chains.push((post.clone(), rules));
        elems.push(("post4", s4.to_string(), post));
    }
    if let (Some(s6), Some(gw)) = (net.subnet_v6, net.gateway_v6) {
        let raw = chain(net, "raw6");
        chains.push((
            raw.clone(),
            vec![format!("ip6 daddr {s6} ip6 daddr != {gw} notrack")],
        ));
        elems.push(("raw6", s6.to_string(), raw));
        let post = chain(net, "post6");
        let mut rules = vec![format!("oifname \"{b}\" ct status dnat masquerade")];
        if !net.internal {
            rules.push(format!("oifname != \"{b}\" masquerade"));
        }
        chains.push((post.clone(), rules));
        elems.push(("post6", s6.to_string(), post));
    }
    let mut from = vec![format!(
        "oifname != \"{b}\" oifname \"bth-*\" ct direction original ct status != dnat drop"
    )];
    let mut to = vec![format!(
        "iifname != \"{b}\" ct state new ct status != dnat drop"
    )];
    if net.internal {
        from.push(format!("oifname != \"{b}\" drop"));
        to.push(format!("iifname != \"{b}\" drop"));
    }
    if net.isolate {
        from.push(format!("oifname \"{b}\" drop"));
    }
    let (cf, ct) = (chain(net, "from"), chain(net, "to"));
    elems.push(("fwd_from", format!("\"{b}\""), cf.clone()));
    elems.push(("fwd_to", format!("\"{b}\""), ct.clone()));
    chains.push((cf, from));
    chains.push((ct, to));
    (elems, chains)
}

/// Adds the network's chains and map elements (after `delete_network` removed leftovers).
pub fn add_network(net: &Network) -> String {
    let t = TABLE;
    let mut s = String::new();
    let (elems, chains) = parts(net);
    for (name, rules) in &chains {
        let _ = writeln!(s, "add chain inet {t} {name}");
        for r in rules {
            let _ = writeln!(s, "add rule inet {t} {name} {r}");
        }
    }
    for (map, key, name) in &elems {
        let _ = writeln!(s, "add element inet {t} {map} {{ {key} : jump {name} }}");
    }
    s
}

/// Removes the network's elements and chains, whatever part of them exists. `current` is
/// the listing of `table inet berth`: elements of interval maps are deleted only when
/// listed (nft cannot delete an interval element added in the same transaction); the
/// others, and the chains, are first (re-)added so that their delete cannot fail.
pub fn delete_network(net: &Network, current: &str) -> String {
    let t = TABLE;
    let mut s = String::new();
    let (elems, chains) = parts(net);
    for (name, _) in &chains {
        let _ = writeln!(s, "add chain inet {t} {name}");
    }
    for (map, key, name) in &elems {
        if INTERVAL_MAPS.contains(map) {
            if current.contains(&format!("jump {name}")) {
                let _ = writeln!(s, "delete element inet {t} {map} {{ {key} }}");
            }
        } else {
            let _ = writeln!(
                s,
                "add element inet {t} {map} {{ {key} : jump {name} }}\ndelete element inet {t} {map} {{ {key} }}"
            );
        }
    }
    for (name, _) in &chains {
        let _ = writeln!(
            s,
            "flush chain inet {t} {name}\ndelete chain inet {t} {name}"
        );
    }
    s
}

const INTERVAL_MAPS: [&str; 4] = ["raw4", "raw6", "post4", "post6"];

/// While berth forwards on an uplink, packets from it may only be forwarded to berth
/// bridges. `on`: add the guard; otherwise remove it (idempotently).
pub fn uplink_guard(uplink: &str, on: bool) -> String {
    let t = TABLE;
    let add = format!("add element inet {t} fwd_from {{ \"{uplink}\" : jump uplink_guard }}\n");
    if on {
        add
    } else {
        format!("{add}delete element inet {t} fwd_from {{ \"{uplink}\" }}\n")
    }
}
