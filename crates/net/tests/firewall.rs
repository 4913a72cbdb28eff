//! Per-container rules, the host-loopback guard and anti-spoofing.

mod common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use berth_net::{Action, AttachOptions, Direction, Error, Proto, Rule};
use common::{tcp_ok, udp_ok, Echo, Fixture};

fn any4() -> IpAddr {
    Ipv4Addr::UNSPECIFIED.into()
}

#[test]
fn deny_rule_blocks_exactly_the_named_flow() {
    let mut fx = Fixture::new();
    let net = fx.network(1, |_| {});
    let (a, b, c) = (fx.netns(), fx.netns(), fx.netns());
    let ea = fx.attach(&net, &fx.cid(1), &a, AttachOptions::default());
    let eb = fx.attach(&net, &fx.cid(2), &b, AttachOptions::default());
    fx.attach(&net, &fx.cid(3), &c, AttachOptions::default());
    let b4: IpAddr = eb.ipv4.unwrap().into();
    let _e1 = Echo::start(Some(&b.path), any4(), 8080);
    let _e2 = Echo::start(Some(&b.path), any4(), 8081);
    let rule = Rule {
        action: Action::Deny,
        direction: Direction::In,
        peer: Some(IpAddr::V4(ea.ipv4.unwrap()).into()),
        proto: Some(Proto::Tcp),
        port: Some(8080),
    };
    assert!(
        tcp_ok(Some(&a.path), SocketAddr::new(b4, 8080)),
        "before the rule"
    );
    fx.store.add_rule(&fx.cid(2), rule).unwrap();
    assert!(
        !tcp_ok(Some(&a.path), SocketAddr::new(b4, 8080)),
        "the denied flow"
    );
    assert!(
        tcp_ok(Some(&a.path), SocketAddr::new(b4, 8081)),
        "another port"
    );
    assert!(
        udp_ok(Some(&a.path), SocketAddr::new(b4, 8080)),
        "another protocol"
    );
    assert!(
        tcp_ok(Some(&c.path), SocketAddr::new(b4, 8080)),
        "another peer"
    );
    assert!(tcp_ok(None, SocketAddr::new(b4, 8080)), "the host");
    // The rule is recorded, and removing it restores the flow.
    assert_eq!(
        fx.store.attachment(&fx.cid(2)).unwrap().unwrap().firewall,
        vec![rule]
    );
    fx.store.remove_rule(&fx.cid(2), &rule).unwrap();
    assert!(
        tcp_ok(Some(&a.path), SocketAddr::new(b4, 8080)),
        "after removal"
    );
    assert!(matches!(
        fx.store.remove_rule(&fx.cid(2), &rule),
        Err(Error::RuleNotFound { .. })
    ));
    fx.finish();
}

#[test]
fn outgoing_deny_rule_given_at_attach() {
    let mut fx = Fixture::new();
    let net = fx.network(1, |_| {});
    let (a, b) = (fx.netns(), fx.netns());
    let eb = fx.attach(&net, &fx.cid(2), &b, AttachOptions::default());
    let b4: IpAddr = eb.ipv4.unwrap().into();
    let opts = AttachOptions {
        firewall: vec![Rule {
            action: Action::Deny,
            direction: Direction::Out,
            peer: None,
            proto: Some(Proto::Udp),
            port: Some(5353),
        }],
        ..AttachOptions::default()
    };
    fx.attach(&net, &fx.cid(1), &a, opts);
    let _e = Echo::start(Some(&b.path), any4(), 5353);
    assert!(!udp_ok(Some(&a.path), SocketAddr::new(b4, 5353)));
    assert!(tcp_ok(Some(&a.path), SocketAddr::new(b4, 5353)));
    assert!(matches!(
        fx.store.add_rule(
            &fx.cid(1),
            Rule {
                action: Action::Deny,
                direction: Direction::Out,
                peer: None,
                proto: Some(Proto::Icmp),
                port: Some(1),
            }
        ),
        Err(Error::InvalidRule { .. })
    ));
    fx.finish();
}

/// The attacker's way to the host's loopback: make 127.0.0.1 routable inside the
/// container and send it to the gateway, which accepts it (route_localnet is on).
fn route_loopback_via_gateway(ns: &common::Netns, gw: Ipv4Addr) {
    ns.exec("sysctl -qw net.ipv4.conf.eth0.route_localnet=1");
    ns.exec("sysctl -qw net.ipv4.conf.all.route_localnet=1");
    ns.exec("ip addr del 127.0.0.1/8 dev lo");
    ns.exec(&format!("ip route add 127.0.0.1/32 via {gw} dev eth0"));
}

#[test]
fn host_loopback_service_unreachable_unless_allowed() {
    let mut fx = Fixture::new();
    let net = fx.network(1, |_| {});
    let a = fx.netns();
    fx.attach(&net, &fx.cid(1), &a, AttachOptions::default());
    let port = 30000 + (std::process::id() % 20000) as u16;
    let _host = Echo::start(None, Ipv4Addr::LOCALHOST.into(), port);
    let target = SocketAddr::new(Ipv4Addr::LOCALHOST.into(), port);
    route_loopback_via_gateway(&a, net.gateway_v4.unwrap());
    assert!(
        !tcp_ok(Some(&a.path), target),
        "reached the host's loopback"
    );
    let allow = Rule {
        action: Action::Allow,
        direction: Direction::Out,
        peer: Some("127.0.0.1/32".parse().unwrap()),
        proto: Some(Proto::Tcp),
        port: Some(port),
    };
    fx.store.add_rule(&fx.cid(1), allow).unwrap();
    assert!(tcp_ok(Some(&a.path), target), "allowed flow blocked");
    assert!(!udp_ok(Some(&a.path), target), "only the allowed protocol");
    fx.store.remove_rule(&fx.cid(1), &allow).unwrap();
    assert!(
        !tcp_ok(Some(&a.path), target),
        "rule removal did not close it"
    );
    fx.finish();
}

#[test]
fn forged_source_address_is_dropped() {
    let mut fx = Fixture::new();
    let net = fx.network(1, |_| {});
    let (a, b) = (fx.netns(), fx.netns());
    let ea = fx.attach(&net, &fx.cid(1), &a, AttachOptions::default());
    let eb = fx.attach(&net, &fx.cid(2), &b, AttachOptions::default());
    let b4: IpAddr = eb.ipv4.unwrap().into();
    let b6: IpAddr = eb.ipv6.unwrap().into();
    let _e4 = Echo::start(Some(&b.path), any4(), 9000);
    let _e6 = Echo::start(Some(&b.path), "::".parse().unwrap(), 9001);
    assert!(tcp_ok(Some(&a.path), SocketAddr::new(b4, 9000)));
    // Claim a neighbour's-looking address inside the subnet and send from it.
    let s4 = net.subnet_v4.unwrap();
    let forged4 = Ipv4Addr::from(u32::from(s4.network()) + 200);
    let s6 = net.subnet_v6.unwrap();
    let forged6 = std::net::Ipv6Addr::from(u128::from(s6.network()) + 200);
    a.exec(&format!("ip addr add {forged4}/32 dev eth0"));
    a.exec(&format!("ip route add {b4}/32 dev eth0 src {forged4}"));
    a.exec(&format!("ip -6 addr add {forged6}/128 dev eth0 nodad"));
    a.exec(&format!("ip -6 route add {b6}/128 dev eth0 src {forged6}"));
    assert!(
        !tcp_ok(Some(&a.path), SocketAddr::new(b4, 9000)),
        "forged v4"
    );
    assert!(
        !udp_ok(Some(&a.path), SocketAddr::new(b4, 9000)),
        "forged v4 udp"
    );
    assert!(
        !tcp_ok(Some(&a.path), SocketAddr::new(b6, 9001)),
        "forged v6"
    );
    // Back to its own address: works again, so the drop was about the source.
    a.exec(&format!("ip route del {b4}/32"));
    a.exec(&format!("ip -6 route del {b6}/128"));
    a.exec(&format!("ip addr del {forged4}/32 dev eth0"));
    a.exec(&format!("ip -6 addr del {forged6}/128 dev eth0"));
    a.exec("ip neigh flush all");
    a.exec("ip -6 neigh flush all");
    assert!(tcp_ok(Some(&a.path), SocketAddr::new(b4, 9000)));
    assert!(tcp_ok(Some(&a.path), SocketAddr::new(b6, 9001)));
    let _ = ea;
    fx.finish();
}

#[test]
fn mac_spoofing_is_dropped() {
    let mut fx = Fixture::new();
    let net = fx.network(1, |_| {});
    let (a, b) = (fx.netns(), fx.netns());
    let ea = fx.attach(&net, &fx.cid(1), &a, AttachOptions::default());
    let eb = fx.attach(&net, &fx.cid(2), &b, AttachOptions::default());
    let b4: IpAddr = eb.ipv4.unwrap().into();
    let _e = Echo::start(Some(&b.path), any4(), 9002);
    assert!(tcp_ok(Some(&a.path), SocketAddr::new(b4, 9002)));
    // Take the neighbour's MAC (and flush the neighbour caches).
    a.exec(&format!("ip link set dev eth0 address {}", eb.mac));
    a.exec("ip neigh flush all");
    b.exec("ip neigh flush all");
    assert!(
        !tcp_ok(Some(&a.path), SocketAddr::new(b4, 9002)),
        "spoofed MAC"
    );
    a.exec("ip link set dev eth0 address 02:b3:de:ad:be:ef");
    assert!(
        !tcp_ok(Some(&a.path), SocketAddr::new(b4, 9002)),
        "made-up MAC"
    );
    a.exec(&format!("ip link set dev eth0 address {}", ea.mac));
    assert!(
        tcp_ok(Some(&a.path), SocketAddr::new(b4, 9002)),
        "own MAC again"
    );
    fx.finish();
}

/// An unsolicited neighbour advertisement (override flag) claiming `target` for `mac`.
fn forged_na(target: std::net::Ipv6Addr, mac: berth_net::MacAddr, to: std::net::Ipv6Addr) {
    use nix::sys::socket::{
        sendto, setsockopt, socket, sockopt, AddressFamily, MsgFlags, SockFlag, SockProtocol,
        SockType, SockaddrIn6,
    };
    use std::os::fd::AsRawFd;
    let fd = socket(
        AddressFamily::Inet6,
        SockType::Raw,
        SockFlag::empty(),
        SockProtocol::IcmpV6,
    )
    .unwrap();
    setsockopt(&fd, sockopt::Ipv6Ttl, &255).unwrap();
    let mut msg = vec![136u8, 0, 0, 0, 0x20, 0, 0, 0];
    msg.extend_from_slice(&target.octets());
    msg.extend_from_slice(&[2, 1]);
    msg.extend_from_slice(&mac.0);
    let dest = SockaddrIn6::from(std::net::SocketAddrV6::new(to, 0, 0, 0));
    sendto(fd.as_raw_fd(), &msg, &dest, MsgFlags::empty()).unwrap();
}

#[test]
fn forged_neighbour_advertisement_is_dropped() {
    let mut fx = Fixture::new();
    let net = fx.network(1, |_| {});
    let (a, b, c) = (fx.netns(), fx.netns(), fx.netns());
    let ea = fx.attach(&net, &fx.cid(1), &a, AttachOptions::default());
    let eb = fx.attach(&net, &fx.cid(2), &b, AttachOptions::default());
    let ec = fx.attach(&net, &fx.cid(3), &c, AttachOptions::default());
    let b6 = eb.ipv6.unwrap();
    let _e = Echo::start(Some(&b.path), "::".parse().unwrap(), 9003);
    assert!(tcp_ok(Some(&c.path), SocketAddr::new(b6.into(), 9003)));
    let neigh = || c.exec(&format!("ip -6 neigh show {b6} dev eth0"));
    assert!(neigh().contains(&eb.mac.to_string()), "{}", neigh());
    // A claims B's address towards C.
    let (mac, to) = (ea.mac, ec.ipv6.unwrap());
    common::in_ns(&a.path, move || forged_na(b6, mac, to));
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert!(
        neigh().contains(&eb.mac.to_string()),
        "poisoned: {}",
        neigh()
    );
    assert!(
        !neigh().contains(&ea.mac.to_string()),
        "poisoned: {}",
        neigh()
    );
    assert!(tcp_ok(Some(&c.path), SocketAddr::new(b6.into(), 9003)));
    fx.finish();
}
