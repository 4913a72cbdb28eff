//! Published ports answer from the host's 127.0.0.1 and from the bridge gateway address.

mod common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use berth_net::{AttachOptions, PortMapping, PortProto};
use common::{tcp_ok, udp_ok, Echo, Fixture};

fn port_base() -> u16 {
    20000 + (std::process::id() % 20000) as u16
}

#[test]
fn published_port_answers_from_loopback_and_gateway() {
    let mut fx = Fixture::new();
    let net = fx.network(1, |_| {});
    let (a, b) = (fx.netns(), fx.netns());
    let host_port = port_base();
    let opts = AttachOptions {
        publish: vec![
            PortMapping {
                proto: PortProto::Tcp,
                host_ip: None,
                host_port,
                container_port: 80,
            },
            PortMapping {
                proto: PortProto::Udp,
                host_ip: None,
                host_port,
                container_port: 53,
            },
        ],
        ..AttachOptions::default()
    };
    fx.attach(&net, &fx.cid(1), &a, opts);
    fx.attach(&net, &fx.cid(2), &b, AttachOptions::default());
    // Dual-stack servers on [::] answer IPv4 (mapped) and IPv6.
    let any6 = IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED);
    let _tcp6 = Echo::start(Some(&a.path), any6, 80);
    let _udp6 = Echo::start(Some(&a.path), any6, 53);
    let lo = SocketAddr::new(Ipv4Addr::LOCALHOST.into(), host_port);
    let gw = SocketAddr::new(net.gateway_v4.unwrap().into(), host_port);
    assert!(tcp_ok(None, lo), "tcp via 127.0.0.1");
    assert!(tcp_ok(None, gw), "tcp via gateway");
    assert!(udp_ok(None, lo), "udp via 127.0.0.1");
    assert!(udp_ok(None, gw), "udp via gateway");
    // IPv6: through the gateway's IPv6 address.
    let gw6 = SocketAddr::new(net.gateway_v6.unwrap().into(), host_port);
    assert!(tcp_ok(None, gw6), "tcp via IPv6 gateway");
    assert!(udp_ok(None, gw6), "udp via IPv6 gateway");
    // Another container reaches it through the gateway (hairpin).
    assert!(tcp_ok(Some(&b.path), gw), "hairpin from a neighbour");
    // A port that is not published does not answer.
    assert!(!tcp_ok(
        None,
        SocketAddr::new(Ipv4Addr::LOCALHOST.into(), host_port + 1)
    ));
    // Unpublished on detach.
    fx.store.detach(&fx.cid(1)).unwrap();
    assert!(!tcp_ok(None, gw));
    fx.finish();
}

#[test]
fn published_port_bound_to_one_host_address() {
    let mut fx = Fixture::new();
    let net = fx.network(1, |_| {});
    let a = fx.netns();
    let host_port = port_base() + 1;
    let opts = AttachOptions {
        publish: vec![PortMapping {
            proto: PortProto::Tcp,
            host_ip: Some(Ipv4Addr::LOCALHOST.into()),
            host_port,
            container_port: 8080,
        }],
        ..AttachOptions::default()
    };
    fx.attach(&net, &fx.cid(1), &a, opts);
    let _tcp = Echo::start(Some(&a.path), Ipv4Addr::UNSPECIFIED.into(), 8080);
    assert!(tcp_ok(
        None,
        SocketAddr::new(Ipv4Addr::LOCALHOST.into(), host_port)
    ));
    assert!(!tcp_ok(
        None,
        SocketAddr::new(net.gateway_v4.unwrap().into(), host_port)
    ));
    fx.finish();
}
