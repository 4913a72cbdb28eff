//! Masquerade through an uplink: berth turns forwarding on for that interface only, limits
//! it to berth bridges, and turns it off again with the last network that needs it.

mod common;

use std::net::SocketAddr;

use berth_net::AttachOptions;
use common::{sh, tcp_ok, udp_ok, Echo, Fixture};

fn forwarding(dev: &str) -> String {
    sh(&format!("cat /proc/sys/net/ipv4/conf/{dev}/forwarding"))
        .trim()
        .to_string()
}

#[test]
fn masquerade_reaches_the_outside_through_a_per_interface_uplink() {
    let mut fx = Fixture::new();
    let (wan, uplink, wan_ip) = fx.wan();
    assert_eq!(forwarding(&uplink), "0");
    let global = forwarding("all");
    let up = uplink.clone();
    let net = fx.network(1, move |s| s.uplinks = Some(vec![up.clone()]));
    assert_eq!(net.uplinks, vec![uplink.clone()]);
    assert_eq!(forwarding(&uplink), "1");
    assert_eq!(forwarding("all"), global, "the global switch changed");
    let internal = fx.network(2, |s| s.internal = true);
    let (a, b) = (fx.netns(), fx.netns());
    let ea = fx.attach(&net, &fx.cid(1), &a, AttachOptions::default());
    fx.attach(&internal, &fx.cid(2), &b, AttachOptions::default());
    let echo = Echo::start(Some(&wan.path), "0.0.0.0".parse().unwrap(), 7200);
    let target = SocketAddr::new(wan_ip.into(), 7200);
    assert!(tcp_ok(Some(&a.path), target), "tcp out through the uplink");
    assert!(udp_ok(Some(&a.path), target), "udp out through the uplink");
    assert!(!tcp_ok(Some(&b.path), target), "internal network got out");
    // The outside cannot open connections to the container, even with a route to it.
    wan.exec(&format!(
        "ip route add {} via {}",
        net.subnet_v4.unwrap(),
        sh(&format!("ip -4 -o addr show dev {uplink}"))
            .split_whitespace()
            .nth(3)
            .unwrap()
            .split('/')
            .next()
            .unwrap()
    ));
    let inside = Echo::start(Some(&a.path), "0.0.0.0".parse().unwrap(), 7201);
    assert!(!tcp_ok(
        Some(&wan.path),
        SocketAddr::new(ea.ipv4.unwrap().into(), 7201)
    ));
    drop((inside, echo));
    fx.store.detach(&fx.cid(1)).unwrap();
    fx.store.remove(&net.name).unwrap();
    assert_eq!(forwarding(&uplink), "0", "forwarding left on");
    fx.finish();
}
