//! Bad requests fail with a clear error and leave nothing half-built.

mod common;

use std::net::{IpAddr, Ipv4Addr};

use berth_net::{AttachOptions, Error, NetworkSpec, NetworkStore, PortMapping, PortProto};
use common::{sh, Fixture};

/// Nothing of container `cid` exists: no record, no link, no nft element or chain.
fn assert_no_trace(fx: &Fixture, cid: &str) {
    assert_eq!(fx.store.attachment(cid).unwrap(), None);
    let short = &cid[..10];
    assert!(!sh("ip -o link").contains(short), "link of {cid} left");
    let rules = sh("nft list ruleset");
    assert!(
        !rules.contains(short),
        "nft content of {cid} left:\n{rules}"
    );
}

#[test]
fn overlapping_subnet_is_refused() {
    let mut fx = Fixture::new();
    let net = fx.network(1, |_| {});
    let spec = NetworkSpec {
        name: format!("berth-test-{}-x", fx.id),
        subnet_v4: Some(
            format!("{}/16", net.subnet_v4.unwrap().network())
                .parse()
                .unwrap(),
        ),
        bridge: Some(fx.bridge(9)),
        ..NetworkSpec::default()
    };
    let err = fx.store.create(spec.clone()).unwrap_err();
    assert!(matches!(err, Error::SubnetOverlap { .. }), "{err}");
    assert!(err.to_string().contains(&net.name), "{err}");
    // Another store (another berth instance) sees it as a host route.
    let other_root = fx.root.join("other");
    let other = NetworkStore::open(&other_root).unwrap();
    let err = other.create(spec.clone()).unwrap_err();
    assert!(matches!(err, Error::HostRouteOverlap { .. }), "{err}");
    assert!(!sh("ip -o link").contains(&fx.bridge(9)));
    assert!(!sh("nft list tables").contains(&fx.bridge(9)));
    assert_eq!(fx.store.list().unwrap(), vec![net.clone()]);
    // Same name twice, unknown network.
    let err = fx
        .store
        .create(NetworkSpec {
            name: net.name.clone(),
            subnet_v4: Some("10.213.251.0/24".parse().unwrap()),
            ..NetworkSpec::default()
        })
        .unwrap_err();
    assert!(matches!(err, Error::NetworkExists(_)), "{err}");
    let ns = fx.netns();
    let err = fx
        .store
        .attach(
            "berth-test-no-such-net",
            &fx.cid(1),
            &ns.path,
            &AttachOptions::default(),
        )
        .unwrap_err();
    assert!(matches!(err, Error::UnknownNetwork(_)), "{err}");
    assert_eq!(err.to_string(), "unknown network berth-test-no-such-net");
    assert!(matches!(
        fx.store.remove("berth-test-no-such-net"),
        Err(Error::UnknownNetwork(_))
    ));
    assert_no_trace(&fx, &fx.cid(1));
    fx.finish();
}

#[test]
fn bad_addresses_are_refused_without_trace() {
    let mut fx = Fixture::new();
    let net = fx.network(1, |_| {});
    let (a, b) = (fx.netns(), fx.netns());
    let s4 = net.subnet_v4.unwrap();
    let outside: IpAddr = Ipv4Addr::new(192, 0, 2, 77).into();
    let with_ip = |ip: IpAddr| AttachOptions {
        ip: Some(ip),
        ..AttachOptions::default()
    };
    let err = fx
        .store
        .attach(&net.name, &fx.cid(1), &a.path, &with_ip(outside))
        .unwrap_err();
    assert!(matches!(err, Error::AddressOutsideSubnet { .. }), "{err}");
    assert!(err.to_string().contains("192.0.2.77"), "{err}");
    assert_no_trace(&fx, &fx.cid(1));
    let gw: IpAddr = net.gateway_v4.unwrap().into();
    let err = fx
        .store
        .attach(&net.name, &fx.cid(1), &a.path, &with_ip(gw))
        .unwrap_err();
    assert!(matches!(err, Error::AddressTaken { .. }), "{err}");
    let fixed: IpAddr = Ipv4Addr::from(u32::from(s4.network()) + 50).into();
    let ea = fx.attach(&net, &fx.cid(1), &a, with_ip(fixed));
    assert_eq!(ea.ipv4.map(IpAddr::V4), Some(fixed));
    let err = fx
        .store
        .attach(&net.name, &fx.cid(2), &b.path, &with_ip(fixed))
        .unwrap_err();
    assert!(matches!(err, Error::AddressTaken { .. }), "{err}");
    assert_no_trace(&fx, &fx.cid(2));
    let err = fx
        .store
        .attach(
            &net.name,
            &fx.cid(2),
            &b.path,
            &AttachOptions {
                mac: Some(ea.mac),
                ..AttachOptions::default()
            },
        )
        .unwrap_err();
    assert!(matches!(err, Error::MacTaken { .. }), "{err}");
    let err = fx
        .store
        .attach(&net.name, &fx.cid(1), &b.path, &AttachOptions::default())
        .unwrap_err();
    assert!(matches!(err, Error::AlreadyAttached { .. }), "{err}");
    // The container side is still the first one's only.
    assert!(!b.exec("ip -o link").contains("eth0"));
    fx.finish();
}

#[test]
fn port_already_published_is_refused() {
    let mut fx = Fixture::new();
    let net = fx.network(1, |_| {});
    let (a, b) = (fx.netns(), fx.netns());
    let port = 40000 + (std::process::id() % 20000) as u16;
    let publish = |container_port| AttachOptions {
        publish: vec![PortMapping {
            proto: PortProto::Tcp,
            host_ip: None,
            host_port: port,
            container_port,
        }],
        ..AttachOptions::default()
    };
    fx.attach(&net, &fx.cid(1), &a, publish(80));
    let err = fx
        .store
        .attach(&net.name, &fx.cid(2), &b.path, &publish(81))
        .unwrap_err();
    assert!(matches!(err, Error::PortPublished { .. }), "{err}");
    assert!(err.to_string().contains(&format!("tcp/{port}")), "{err}");
    assert_no_trace(&fx, &fx.cid(2));
    // Also refused on an internal network.
    let internal = fx.network(2, |s| s.internal = true);
    let err = fx
        .store
        .attach(&internal.name, &fx.cid(2), &b.path, &publish(82))
        .unwrap_err();
    assert!(matches!(err, Error::PublishOnInternal(_)), "{err}");
    assert_no_trace(&fx, &fx.cid(2));
    fx.finish();
}

#[test]
fn failure_inside_the_namespace_rolls_back() {
    let mut fx = Fixture::new();
    let net = fx.network(1, |_| {});
    let a = fx.netns();
    // An interface of that name already exists inside: the rename fails late.
    a.exec("ip link add eth0 type veth peer name eth0p");
    let err = fx
        .store
        .attach(&net.name, &fx.cid(1), &a.path, &AttachOptions::default())
        .unwrap_err();
    assert!(matches!(err, Error::Netlink { .. }), "{err}");
    assert!(err.to_string().contains("eth0"), "{err}");
    assert_no_trace(&fx, &fx.cid(1));
    // The address was not leased: the next container gets the first one.
    a.exec("ip link del eth0");
    let ea = fx.attach(&net, &fx.cid(1), &a, AttachOptions::default());
    assert_eq!(
        ea.ipv4.unwrap(),
        Ipv4Addr::from(u32::from(net.subnet_v4.unwrap().network()) + 2)
    );
    fx.finish();
}

#[test]
fn remove_refuses_while_attached() {
    let mut fx = Fixture::new();
    let net = fx.network(1, |_| {});
    let a = fx.netns();
    fx.attach(&net, &fx.cid(1), &a, AttachOptions::default());
    let err = fx.store.remove(&net.name).unwrap_err();
    assert!(matches!(err, Error::NetworkInUse { .. }), "{err}");
    assert!(sh("ip -o link").contains(&net.bridge));
    fx.store.detach(&fx.cid(1)).unwrap();
    fx.store.remove(&net.name).unwrap();
    assert!(!sh("ip -o link").contains(&net.bridge));
    assert!(!sh("nft list tables").contains(&net.bridge));
    fx.finish();
}

#[test]
fn missing_namespace_is_refused_without_trace() {
    let mut fx = Fixture::new();
    let net = fx.network(1, |_| {});
    let missing = std::path::Path::new("/run/netns/berth-test-does-not-exist");
    let err = fx
        .store
        .attach(&net.name, &fx.cid(1), missing, &AttachOptions::default())
        .unwrap_err();
    assert!(matches!(err, Error::OpenNetns { .. }), "{err}");
    assert!(
        err.to_string().contains("berth-test-does-not-exist"),
        "{err}"
    );
    assert_no_trace(&fx, &fx.cid(1));
    fx.finish();
}
