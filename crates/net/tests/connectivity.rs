//! Endpoints on one network talk TCP and UDP over IPv4 and IPv6; networks are kept apart;
//! isolated networks keep their containers apart.

mod common;

use std::net::{IpAddr, SocketAddr};

use berth_net::AttachOptions;
use common::{tcp_ok, udp_ok, Echo, Fixture};

#[test]
fn same_network_tcp_and_udp_over_ipv4_and_ipv6() {
    let mut fx = Fixture::new();
    let net = fx.network(1, |_| {});
    let (a, b) = (fx.netns(), fx.netns());
    let ea = fx.attach(&net, &fx.cid(1), &a, AttachOptions::default());
    let eb = fx.attach(&net, &fx.cid(2), &b, AttachOptions::default());
    assert_ne!(ea.ipv4, eb.ipv4);
    let b4 = IpAddr::V4(eb.ipv4.unwrap());
    let b6 = IpAddr::V6(eb.ipv6.unwrap());
    // The container side is named, addressed and routed as asked.
    let inside = a.exec("ip -o addr show dev eth0");
    assert!(inside.contains(&ea.ipv4.unwrap().to_string()), "{inside}");
    assert!(inside.contains(&ea.ipv6.unwrap().to_string()), "{inside}");
    assert!(a
        .exec("ip -o link show dev eth0")
        .contains(&ea.mac.to_string()));
    assert!(a
        .exec("ip route")
        .contains(&format!("default via {}", net.gateway_v4.unwrap())));
    assert!(a.exec("ip -o link show dev lo").contains("UP"));

    let _e4 = Echo::start(
        Some(&b.path),
        IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
        7001,
    );
    let _e6 = Echo::start(
        Some(&b.path),
        IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED),
        7002,
    );
    assert!(tcp_ok(Some(&a.path), SocketAddr::new(b4, 7001)), "tcp v4");
    assert!(udp_ok(Some(&a.path), SocketAddr::new(b4, 7001)), "udp v4");
    assert!(tcp_ok(Some(&a.path), SocketAddr::new(b6, 7002)), "tcp v6");
    assert!(udp_ok(Some(&a.path), SocketAddr::new(b6, 7002)), "udp v6");
    // The host reaches containers through the gateway too.
    assert!(tcp_ok(None, SocketAddr::new(b4, 7001)), "host to container");
    fx.finish();
}

#[test]
fn different_networks_cannot_talk() {
    let mut fx = Fixture::new();
    let n1 = fx.network(1, |_| {});
    let n2 = fx.network(2, |_| {});
    let (a, b, c) = (fx.netns(), fx.netns(), fx.netns());
    fx.attach(&n1, &fx.cid(1), &a, AttachOptions::default());
    let eb = fx.attach(&n2, &fx.cid(2), &b, AttachOptions::default());
    fx.attach(&n2, &fx.cid(3), &c, AttachOptions::default());
    let b4 = IpAddr::V4(eb.ipv4.unwrap());
    let b6 = IpAddr::V6(eb.ipv6.unwrap());
    let _e4 = Echo::start(Some(&b.path), "0.0.0.0".parse().unwrap(), 7003);
    let _e6 = Echo::start(Some(&b.path), "::".parse().unwrap(), 7004);
    // Reachable from its own network: the server is up.
    assert!(tcp_ok(Some(&c.path), SocketAddr::new(b4, 7003)));
    assert!(tcp_ok(Some(&c.path), SocketAddr::new(b6, 7004)));
    // Not from the other network, neither address family nor protocol.
    assert!(
        !tcp_ok(Some(&a.path), SocketAddr::new(b4, 7003)),
        "tcp v4 crossed"
    );
    assert!(
        !udp_ok(Some(&a.path), SocketAddr::new(b4, 7003)),
        "udp v4 crossed"
    );
    assert!(
        !tcp_ok(Some(&a.path), SocketAddr::new(b6, 7004)),
        "tcp v6 crossed"
    );
    fx.finish();
}

#[test]
fn isolated_network_forbids_container_to_container() {
    let mut fx = Fixture::new();
    let net = fx.network(1, |s| s.isolate = true);
    let (a, b) = (fx.netns(), fx.netns());
    fx.attach(&net, &fx.cid(1), &a, AttachOptions::default());
    let eb = fx.attach(&net, &fx.cid(2), &b, AttachOptions::default());
    let b4 = IpAddr::V4(eb.ipv4.unwrap());
    let b6 = IpAddr::V6(eb.ipv6.unwrap());
    let _e4 = Echo::start(Some(&b.path), "0.0.0.0".parse().unwrap(), 7005);
    let _e6 = Echo::start(Some(&b.path), "::".parse().unwrap(), 7006);
    // The host still reaches the container, so the server is up ...
    assert!(tcp_ok(None, SocketAddr::new(b4, 7005)));
    // ... but its neighbour on the same bridge does not, directly or routed via the gateway.
    assert!(!tcp_ok(Some(&a.path), SocketAddr::new(b4, 7005)), "tcp v4");
    assert!(!udp_ok(Some(&a.path), SocketAddr::new(b4, 7005)), "udp v4");
    assert!(!tcp_ok(Some(&a.path), SocketAddr::new(b6, 7006)), "tcp v6");
    fx.finish();
}
