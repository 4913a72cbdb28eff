//! One endpoint's part of berth's tables: its addresses for anti-spoofing, its rule
//! chains (`c-<short>-in/-out` in the bridge table, `c-<short>-lo` for the loopback
//! guard), the verdict-map entries leading there, and its published ports.

use std::fmt::Write as _;
use std::net::IpAddr;

use super::rule::{rule_statement, targets_host_loopback};
use super::TABLE;
use crate::{Attachment, Direction, Network};

fn chain(short: &str, dir: Direction) -> String {
    match dir {
        Direction::In => format!("c-{short}-in"),
        Direction::Out => format!("c-{short}-out"),
    }
}

fn lo_chain(short: &str) -> String {
    format!("c-{short}-lo")
}

/// `(family, set, element)` of the endpoint's set elements.
fn elements(net: &Network, a: &Attachment) -> Vec<(&'static str, &'static str, String)> {
    let v = &a.host_veth;
    let mut out = vec![
        ("bridge", "ports", format!("\"{v}\"")),
        ("bridge", "macs", format!("\"{v}\" . {}", a.mac)),
        (
            "bridge",
            "addrs6",
            format!("\"{v}\" . {}", a.mac.link_local()),
        ),
    ];
    if net.isolate {
        out.push(("bridge", "isolated", format!("\"{v}\"")));
    }
    if let Some(ip) = a.ipv4 {
        out.push(("bridge", "addrs4", format!("\"{v}\" . {ip}")));
    }
    if let Some(ip) = a.ipv6 {
        out.push(("bridge", "addrs6", format!("\"{v}\" . {ip}")));
    }
    // Neighbour advertisements may only announce the port's own IPv6 addresses (the
    // target field, bits 64..192 of the ICMPv6 message): no neighbour cache poisoning.
    for ip in [Some(a.mac.link_local()), a.ipv6].into_iter().flatten() {
        out.push((
            "bridge",
            "nd6",
            format!("\"{v}\" . 0x{:032x}", u128::from(ip)),
        ));
    }
    out
}

/// `(map, key, value)` of each published port: a port without host address is published
/// on every local address of each family the container has.
fn publish_elements(a: &Attachment) -> Vec<(&'static str, String, String)> {
    let mut out = Vec::new();
    for p in &a.publish {
        let (proto, hp, cp) = (p.proto, p.host_port, p.container_port);
        match (p.host_ip, a.ipv4, a.ipv6) {
            (None, v4, v6) => {
                if let Some(ip) = v4 {
                    out.push((
                        "pub4_any",
                        format!("{proto} . {hp}"),
                        format!("{ip} . {cp}"),
                    ));
                }
                if let Some(ip) = v6 {
                    out.push((
                        "pub6_any",
                        format!("{proto} . {hp}"),
                        format!("{ip} . {cp}"),
                    ));
                }
            }
            (Some(IpAddr::V4(h)), Some(ip), _) => out.push((
                "pub4_ip",
                format!("{h} . {proto} . {hp}"),
                format!("{ip} . {cp}"),
            )),
            (Some(IpAddr::V6(h)), _, Some(ip)) => out.push((
                "pub6_ip",
                format!("{h} . {proto} . {hp}"),
                format!("{ip} . {cp}"),
            )),
            // Refused by `validate::check_publish`.
            (Some(_), _, _) => {}
        }
    }
    out
}

/// Replaces the rule chains of one endpoint with its current rule list.
pub fn set_rules(a: &Attachment, short: &str) -> String {
    let t = TABLE;
    let mut s = String::new();
    for dir in [Direction::In, Direction::Out] {
        let c = chain(short, dir);
        let _ = writeln!(s, "add chain bridge {t} {c}\nflush chain bridge {t} {c}");
        for rule in a.firewall.iter().filter(|r| r.direction == dir) {
            let _ = writeln!(
                s,
                "add rule bridge {t} {c} {}",
                rule_statement(rule, "return")
            );
        }
    }
    let lo = lo_chain(short);
    let _ = writeln!(s, "add chain inet {t} {lo}\nflush chain inet {t} {lo}");
    for rule in a.firewall.iter().filter(|r| targets_host_loopback(r)) {
        let _ = writeln!(
            s,
            "add rule inet {t} {lo} {}",
            rule_statement(rule, "accept")
        );
    }
    s
}

/// Everything one endpoint adds.
pub fn attach(net: &Network, a: &Attachment, short: &str) -> String {
    let t = TABLE;
    let v = &a.host_veth;
    let mut s = set_rules(a, short);
    for (family, set, elem) in elements(net, a) {
        let _ = writeln!(s, "add element {family} {t} {set} {{ {elem} }}");
    }
    let _ = writeln!(
        s,
        "add element bridge {t} fw_out {{ \"{v}\" : jump {} }}\nadd element bridge {t} fw_in {{ \"{v}\" : jump {} }}",
        chain(short, Direction::Out),
        chain(short, Direction::In)
    );
    for (map, key, value) in publish_elements(a) {
        let _ = writeln!(s, "add element inet {t} {map} {{ {key} : {value} }}");
    }
    if let Some(ip) = a.ipv4 {
        let _ = writeln!(
            s,
            "add element inet {t} lo_allow {{ {ip} : jump {} }}",
            lo_chain(short)
        );
    }
    s
}

/// Removes everything `attach` added. Each element is first (re-)added so that the delete
/// cannot fail on a half-attached endpoint: the transaction is idempotent.
pub fn detach(net: &Network, a: &Attachment, short: &str) -> String {
    let t = TABLE;
    let v = &a.host_veth;
    let mut s = String::new();
    for (map, key, value) in publish_elements(a) {
        let _ = writeln!(
            s,
            "add element inet {t} {map} {{ {key} : {value} }}\ndelete element inet {t} {map} {{ {key} }}"
        );
    }
    for (family, set, elem) in elements(net, a) {
        let _ = writeln!(
            s,
            "add element {family} {t} {set} {{ {elem} }}\ndelete element {family} {t} {set} {{ {elem} }}"
        );
    }
    for (map, dir) in [("fw_out", Direction::Out), ("fw_in", Direction::In)] {
        let c = chain(short, dir);
        let _ = writeln!(
            s,
            "add chain bridge {t} {c}\nadd element bridge {t} {map} {{ \"{v}\" : jump {c} }}\ndelete element bridge {t} {map} {{ \"{v}\" }}\nflush chain bridge {t} {c}\ndelete chain bridge {t} {c}"
        );
    }
    let lo = lo_chain(short);
    let _ = writeln!(s, "add chain inet {t} {lo}");
    if let Some(ip) = a.ipv4 {
        let _ = writeln!(
            s,
            "add element inet {t} lo_allow {{ {ip} : jump {lo} }}\ndelete element inet {t} lo_allow {{ {ip} }}"
        );
    }
    let _ = writeln!(s, "flush chain inet {t} {lo}\ndelete chain inet {t} {lo}");
    s
}
