//! The nftables side: berth's own tables, one `inet` and one `bridge` table per network
//! (`berth-<bridge>`), driven through `nft -f -` so that every change is one atomic
//! transaction. Host tables are never read or written.
//!
//! Per network, table `inet berth-<bridge>`: DNAT of published ports (maps keyed by
//! protocol and port, so publishing is adding an element), masquerade, and the forward
//! rules that keep networks apart (and containers apart on isolated networks).
//! Table `bridge berth-<bridge>` sees every frame of the bridge ports: anti-spoofing
//! (each port may only send from its MAC and its addresses), the per-container rule
//! chains (`c-<short>-in` / `-out`, reached through verdict maps), isolation and the
//! guard against packets to the host's 127.0.0.0/8 (reachable because the bridge has
//! `route_localnet`, needed to publish on 127.0.0.1).

use std::fmt::Write as _;
use std::io::Write;
use std::net::IpAddr;
use std::process::{Command, Stdio};

use ipnet::IpNet;

use crate::{Action, Attachment, Direction, Error, Network, Proto, Rule};

fn chain(short: &str, dir: Direction) -> String {
    match dir {
        Direction::In => format!("c-{short}-in"),
        Direction::Out => format!("c-{short}-out"),
    }
}

/// The whole ruleset of a new network; replaces leftovers of a crashed run atomically.
pub fn network_ruleset(net: &Network) -> String {
    let t = net.nft_table();
    let b = &net.bridge;
    let mut s = String::new();
    for family in ["inet", "bridge"] {
        let _ = writeln!(s, "add table {family} {t}\ndelete table {family} {t}");
    }
    let _ = writeln!(
        s,
        "table inet {t} {{
  map pub4_any {{ type inet_proto . inet_service : ipv4_addr . inet_service; }}
  map pub4_ip {{ type ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service; }}
  map pub6_any {{ type inet_proto . inet_service : ipv6_addr . inet_service; }}
  map pub6_ip {{ type ipv6_addr . inet_proto . inet_service : ipv6_addr . inet_service; }}
  map lo_allow {{ type ipv4_addr : verdict; }}
  chain nat_pre {{
    type nat hook prerouting priority dstnat; policy accept;
    fib daddr type local dnat ip to meta l4proto . th dport map @pub4_any
    dnat ip to ip daddr . meta l4proto . th dport map @pub4_ip
    fib daddr type local dnat ip6 to meta l4proto . th dport map @pub6_any
    dnat ip6 to ip6 daddr . meta l4proto . th dport map @pub6_ip
  }}
  chain nat_out {{
    type nat hook output priority -100; policy accept;
    fib daddr type local dnat ip to meta l4proto . th dport map @pub4_any
    dnat ip to ip daddr . meta l4proto . th dport map @pub4_ip
    fib daddr type local dnat ip6 to meta l4proto . th dport map @pub6_any
    dnat ip6 to ip6 daddr . meta l4proto . th dport map @pub6_ip
  }}
  chain nat_post {{
    type nat hook postrouting priority srcnat; policy accept;
    oifname \"{b}\" ip saddr 127.0.0.0/8 masquerade"
    );
    if let Some(s4) = net.subnet_v4 {
        let _ = writeln!(
            s,
            "    oifname \"{b}\" ip saddr {s4} ct status dnat masquerade"
        );
        if !net.internal {
            let _ = writeln!(s, "    oifname != \"{b}\" ip saddr {s4} masquerade");
        }
    }
    if let Some(s6) = net.subnet_v6 {
        let _ = writeln!(
            s,
            "    oifname \"{b}\" ip6 saddr {s6} ct status dnat masquerade"
        );
        if !net.internal {
            let _ = writeln!(s, "    oifname != \"{b}\" ip6 saddr {s6} masquerade");
        }
    }
    // One prerouting chain at raw priority, before conntrack and NAT:
    // - The bridge has route_localnet (for publishing on 127.0.0.1), so the host would
    //   accept packets from containers to its 127.0.0.0/8 services: `guard_lo` drops them
    //   unless the container's rules allow the flow. Anti-spoofing makes the source
    //   address a reliable container identity here.
    // - Container-to-container traffic on the bridge needs no NAT or connection state:
    //   it skips conntrack (the host's br_netfilter would otherwise track every bridged
    //   packet).
    let _ = writeln!(
        s,
        "  }}
  chain raw_pre {{
    type filter hook prerouting priority raw; policy accept;"
    );
    if let (Some(s4), Some(gw)) = (net.subnet_v4, net.gateway_v4) {
        let _ = writeln!(
            s,
            "    ip daddr 127.0.0.0/8 iifname != \"lo\" ip saddr {s4} jump guard_lo
    ip saddr {s4} ip daddr {s4} ip daddr != {gw} notrack"
        );
    }
    if let (Some(s6), Some(gw)) = (net.subnet_v6, net.gateway_v6) {
        let _ = writeln!(
            s,
            "    ip6 saddr {s6} ip6 daddr {s6} ip6 daddr != {gw} notrack"
        );
    }
    let _ = writeln!(
        s,
        "  }}
  chain guard_lo {{
    ip saddr vmap @lo_allow
    drop"
    );
    let _ = writeln!(
        s,
        "  }}
  chain filter_fwd {{
    type filter hook forward priority filter; policy accept;
    iifname \"{b}\" oifname != \"{b}\" oifname \"bth-*\" ct direction original ct status != dnat drop"
    );
    // Only published (DNAT) flows may start from outside the bridge.
    let _ = writeln!(
        s,
        "    oifname \"{b}\" iifname != \"{b}\" ct state new ct status != dnat drop"
    );
    // Forwarding that berth turned on for an uplink only serves berth bridges.
    for up in &net.uplinks {
        let _ = writeln!(s, "    iifname \"{up}\" oifname != \"bth-*\" drop");
    }
    if net.internal {
        let _ = writeln!(
            s,
            "    iifname \"{b}\" oifname != \"{b}\" drop\n    oifname \"{b}\" iifname != \"{b}\" drop"
        );
    }
    if net.isolate {
        let _ = writeln!(s, "    iifname \"{b}\" oifname \"{b}\" drop");
    }
    let isolate = if net.isolate {
        "\n    iifname @ports oifname @ports drop"
    } else {
        ""
    };
    let _ = writeln!(
        s,
        "  }}
}}
table bridge {t} {{
  set ports {{ type ifname; }}
  set macs {{ type ifname . ether_addr; }}
  set addrs4 {{ type ifname . ipv4_addr; }}
  set addrs6 {{ type ifname . ipv6_addr; }}
  set nd6 {{ typeof iifname . @th,64,128; }}
  map fw_out {{ type ifname : verdict; }}
  map fw_in {{ type ifname : verdict; }}
  chain spoof {{
    type filter hook prerouting priority -300; policy accept;
    iifname != @ports return
    iifname . ether saddr != @macs drop
    ether type arp iifname . arp saddr ip != @addrs4 drop
    ether type arp iifname . arp saddr ether != @macs drop
    ether type ip iifname . ip saddr != @addrs4 drop
    ether type ip6 ip6 saddr :: icmpv6 type nd-neighbor-solicit return
    ether type ip6 iifname . ip6 saddr != @addrs6 drop
    icmpv6 type nd-neighbor-advert iifname . @th,64,128 != @nd6 drop
    ether type != {{ ip, ip6, arp }} drop
  }}
  chain filter_fwd {{
    type filter hook forward priority 0; policy accept;
    iifname vmap @fw_out
    oifname vmap @fw_in{isolate}
  }}
  chain filter_in {{
    type filter hook input priority 0; policy accept;
    iifname vmap @fw_out
  }}
  chain filter_out {{
    type filter hook output priority 0; policy accept;
    oifname vmap @fw_in
  }}
}}"
    );
    s
}

/// Deletes both tables of a network; succeeds when they are already gone.
pub fn delete_network(net: &Network) -> String {
    let t = net.nft_table();
    let mut s = String::new();
    for family in ["inet", "bridge"] {
        let _ = writeln!(s, "add table {family} {t}\ndelete table {family} {t}");
    }
    s
}

/// The set elements of one endpoint: `(set, element)` in table `bridge` (`None`) or `inet`.
fn elements(a: &Attachment) -> Vec<(&'static str, &'static str, String)> {
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

/// Replaces the rule chains of one endpoint with its current rule list.
pub fn set_rules(net: &Network, a: &Attachment, short: &str) -> String {
    let t = net.nft_table();
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
    // Rules naming the host's loopback are checked by the `guard_lo` chain of the inet table.
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

fn lo_chain(short: &str) -> String {
    format!("c-{short}-lo")
}

/// An outgoing rule whose peer lies in 127.0.0.0/8.
fn targets_host_loopback(rule: &Rule) -> bool {
    rule.direction == Direction::Out
        && matches!(rule.peer, Some(IpNet::V4(n)) if n.prefix_len() >= 8 && n.network().is_loopback())
}

/// Everything one endpoint adds: its addresses for anti-spoofing, its rule chains and
/// their verdict-map entries, and its published ports.
pub fn attach(net: &Network, a: &Attachment, short: &str) -> String {
    let t = net.nft_table();
    let v = &a.host_veth;
    let mut s = set_rules(net, a, short);
    for (family, set, elem) in elements(a) {
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
    let t = net.nft_table();
    let v = &a.host_veth;
    let mut s = String::new();
    for (map, key, value) in publish_elements(a) {
        let _ = writeln!(
            s,
            "add element inet {t} {map} {{ {key} : {value} }}\ndelete element inet {t} {map} {{ {key} }}"
        );
    }
    for (family, set, elem) in elements(a) {
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

/// Runs one `nft -f -` transaction.
pub fn apply(op: &str, script: &str) -> Result<(), Error> {
    let mut child = Command::new("nft")
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| Error::Spawn {
            program: "nft",
            source,
        })?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(script.as_bytes())
            .map_err(|source| Error::Spawn {
                program: "nft",
                source,
            })?;
    }
    let out = child.wait_with_output().map_err(|source| Error::Spawn {
        program: "nft",
        source,
    })?;
    if out.status.success() {
        Ok(())
    } else {
        Err(Error::Nft {
            op: op.into(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        })
    }
}

/// Whether `table <family> <name>` exists (read-only; looks at berth's table only).
pub fn table_exists(family: &str, name: &str) -> Result<bool, Error> {
    let out = Command::new("nft")
        .args(["list", "table", family, name])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map_err(|source| Error::Spawn {
            program: "nft",
            source,
        })?;
    Ok(out.success())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{MacAddr, PortMapping, PortProto};

    pub fn sample() -> (Network, Attachment) {
        let net = Network {
            name: "n".into(),
            bridge: "bth-unit".into(),
            subnet_v4: Some("10.213.250.0/24".parse().unwrap()),
            gateway_v4: Some("10.213.250.1".parse().unwrap()),
            subnet_v6: Some("fd42:b3:fa::/64".parse().unwrap()),
            gateway_v6: Some("fd42:b3:fa::1".parse().unwrap()),
            internal: false,
            isolate: true,
            uplinks: vec!["eth0".into()],
        };
        let a = Attachment {
            container_id: "unit1".into(),
            network: "n".into(),
            ifname: "eth0".into(),
            host_veth: "bthv-unit1".into(),
            ifb: None,
            mac: MacAddr([2, 0xb3, 1, 2, 3, 4]),
            ipv4: Some("10.213.250.2".parse().unwrap()),
            ipv6: Some("fd42:b3:fa::2".parse().unwrap()),
            publish: vec![
                PortMapping {
                    proto: PortProto::Tcp,
                    host_ip: None,
                    host_port: 18080,
                    container_port: 80,
                },
                PortMapping {
                    proto: PortProto::Udp,
                    host_ip: Some("127.0.0.1".parse().unwrap()),
                    host_port: 18053,
                    container_port: 53,
                },
            ],
            egress_bps: None,
            ingress_bps: None,
            firewall: vec![
                Rule {
                    action: Action::Deny,
                    direction: Direction::In,
                    peer: Some("10.213.250.0/28".parse().unwrap()),
                    proto: Some(Proto::Tcp),
                    port: Some(22),
                },
                Rule {
                    action: Action::Allow,
                    direction: Direction::Out,
                    peer: None,
                    proto: Some(Proto::Icmp),
                    port: None,
                },
            ],
        };
        (net, a)
    }

    #[test]
    fn rule_text() {
        let (_, a) = sample();
        assert_eq!(
            rule_statement(&a.firewall[0], "return"),
            "ip saddr 10.213.250.0/28 tcp dport 22 drop"
        );
        assert_eq!(
            rule_statement(&a.firewall[1], "accept"),
            "meta l4proto { icmp, ipv6-icmp } accept"
        );
    }

    /// The generated text is valid nft: checked with `nft -c` (no change to the kernel).
    #[test]
    fn generated_scripts_parse() {
        let (net, a) = sample();
        let script = format!(
            "{}{}{}{}",
            network_ruleset(&net),
            attach(&net, &a, "unit1"),
            detach(&net, &a, "unit1"),
            delete_network(&net)
        );
        let mut child = Command::new("nft")
            .args(["-c", "-f", "-"])
            .stdin(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(script.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}\n{script}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
