//! Leases survive restarts; detach is idempotent; gc cleans up after crashed containers.

mod common;

use std::net::Ipv4Addr;

use berth_net::{AttachOptions, NetworkStore, PortMapping, PortProto};
use common::{sh, Fixture};

#[test]
fn leases_survive_a_restart_and_are_released_on_detach() {
    let mut fx = Fixture::new();
    let net = fx.network(1, |_| {});
    let (a, b, c) = (fx.netns(), fx.netns(), fx.netns());
    let base = u32::from(net.subnet_v4.unwrap().network());
    let ea = fx.attach(&net, &fx.cid(1), &a, AttachOptions::default());
    assert_eq!(ea.ipv4.unwrap(), Ipv4Addr::from(base + 2));
    // A new process opening the same store sees the lease.
    let reopened = NetworkStore::open(&fx.root).unwrap();
    let eb = reopened
        .attach(&net.name, &fx.cid(2), &b.path, &AttachOptions::default())
        .unwrap();
    assert_eq!(eb.ipv4.unwrap(), Ipv4Addr::from(base + 3));
    assert_eq!(reopened.inspect(&net.name).unwrap().endpoints.len(), 2);
    // Detach releases; twice is fine.
    fx.store.detach(&fx.cid(1)).unwrap();
    fx.store.detach(&fx.cid(1)).unwrap();
    assert!(!sh("ip -o link").contains(&ea.host_veth));
    let ec = fx.attach(&net, &fx.cid(3), &c, AttachOptions::default());
    assert_eq!(ec.ipv4, ea.ipv4);
    assert_eq!(ec.ipv6, ea.ipv6);
    fx.finish();
}

#[test]
fn gc_removes_endpoints_of_dead_containers() {
    let mut fx = Fixture::new();
    let net = fx.network(1, |_| {});
    let (a, b) = (fx.netns(), fx.netns());
    let port = 50000 + (std::process::id() % 10000) as u16;
    let opts = AttachOptions {
        publish: vec![PortMapping {
            proto: PortProto::Tcp,
            host_ip: None,
            host_port: port,
            container_port: 80,
        }],
        egress_bps: Some(50_000_000),
        ingress_bps: Some(50_000_000),
        ..AttachOptions::default()
    };
    let ea = fx.attach(&net, &fx.cid(1), &a, opts.clone());
    let eb = fx.attach(&net, &fx.cid(2), &b, AttachOptions::default());
    let ifb = ea.ifb.clone().unwrap();
    assert!(sh("ip -o link").contains(&ifb));
    assert!(sh(&format!("tc qdisc show dev {}", ea.host_veth)).contains("tbf"));
    let table = sh("nft list table inet berth");
    assert!(table.contains(&port.to_string()), "{table}");
    // The container dies without a detach (its namespace and veth pair go away).
    sh(&format!("ip netns del {}", a.name));
    let removed = fx.store.gc(&|id| id != fx.cid(1)).unwrap();
    assert_eq!(removed, vec![fx.cid(1)]);
    assert_eq!(fx.store.attachment(&fx.cid(1)).unwrap(), None);
    assert!(fx.store.attachment(&fx.cid(2)).unwrap().is_some());
    let links = sh("ip -o link");
    assert!(
        !links.contains(&ifb) && !links.contains(&ea.host_veth),
        "{links}"
    );
    assert!(links.contains(&eb.host_veth));
    let ruleset = sh("nft list ruleset");
    assert!(!ruleset.contains(&port.to_string()), "{ruleset}");
    assert!(!ruleset.contains(&ea.host_veth), "{ruleset}");
    assert!(!ruleset.contains(&ea.mac.to_string()), "{ruleset}");
    assert!(ruleset.contains(&eb.host_veth), "{ruleset}");
    // Its port and address are free again.
    let c = fx.netns();
    let ec = fx.attach(&net, &fx.cid(3), &c, opts);
    assert_eq!(ec.ipv4, ea.ipv4);
    assert!(fx.store.gc(&|_| true).unwrap().is_empty());
    fx.finish();
}

#[test]
fn gc_removes_stray_veths_on_its_bridges() {
    let mut fx = Fixture::new();
    let net = fx.network(1, |_| {});
    let stray = format!("bthv-{}zz", fx.id);
    sh(&format!("ip link add {stray} type veth peer name {stray}p"));
    sh(&format!("ip link set {stray} master {}", net.bridge));
    assert!(fx.store.gc(&|_| true).unwrap().is_empty());
    assert!(!sh("ip -o link").contains(&stray));
    fx.finish();
}

/// `serial_`: the default network has a fixed bridge name (`bth-berth0`), so this test
/// must not run next to another instance of itself.
#[test]
fn serial_default_network_is_created_once() {
    let fx = Fixture::new();
    let net = fx
        .store
        .ensure_default_with_uplinks(Some(Vec::new()))
        .unwrap();
    assert_eq!(net.name, berth_net::DEFAULT_NETWORK);
    assert_eq!(net.bridge, "bth-berth0");
    let s4 = net.subnet_v4.unwrap();
    assert!(s4.to_string().starts_with("10.89."), "{s4}");
    assert!(net.subnet_v6.is_some());
    assert!(sh("ip -o addr show dev bth-berth0").contains(&net.gateway_v4.unwrap().to_string()));
    let again = fx
        .store
        .ensure_default_with_uplinks(Some(Vec::new()))
        .unwrap();
    assert_eq!(again, net);
    assert_eq!(fx.store.list().unwrap(), vec![net]);
    fx.finish();
    assert!(!sh("ip -o link").contains("bth-berth0"));
    assert!(!sh("nft list tables").contains("bth-berth0"));
}

#[test]
fn parallel_attaches_from_separate_store_handles_get_distinct_addresses() {
    let mut fx = Fixture::new();
    let net = fx.network(1, |_| {});
    let namespaces: Vec<_> = (0..4).map(|_| fx.netns()).collect();
    let threads: Vec<_> = namespaces
        .iter()
        .enumerate()
        .map(|(i, ns)| {
            let (root, name, cid, path) = (
                fx.root.clone(),
                net.name.clone(),
                fx.cid(i as u32),
                ns.path.clone(),
            );
            std::thread::spawn(move || {
                // Each thread opens its own handle, as separate berth processes would.
                let store = NetworkStore::open(&root).unwrap();
                store
                    .attach(&name, &cid, &path, &AttachOptions::default())
                    .unwrap()
            })
        })
        .collect();
    let eps: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let mut v4: Vec<_> = eps.iter().map(|e| e.ipv4.unwrap()).collect();
    let mut v6: Vec<_> = eps.iter().map(|e| e.ipv6.unwrap()).collect();
    let mut macs: Vec<_> = eps.iter().map(|e| e.mac).collect();
    v4.sort();
    v4.dedup();
    v6.sort();
    v6.dedup();
    macs.sort_by_key(|m| m.0);
    macs.dedup();
    assert_eq!((v4.len(), v6.len(), macs.len()), (4, 4, 4), "{eps:?}");
    fx.finish();
}

/// A container on two networks: one slot each (eth0 with the default route, eth1), the
/// caps and rules on both, its own lease on each; `rule add` reaches both; gc after a
/// crash removes both attachments' veths, ifbs, chains and leases.
#[test]
fn several_attachments_are_wired_and_collected_together() {
    use berth_net::{Action, Direction, Proto, Rule};
    let mut fx = Fixture::new();
    let (n1, n2) = (fx.network(1, |_| {}), fx.network(2, |_| {}));
    let a = fx.netns();
    let opts = AttachOptions {
        egress_bps: Some(50_000_000),
        ingress_bps: Some(40_000_000),
        ..AttachOptions::default()
    };
    let e1 = fx.attach(&n1, &fx.cid(1), &a, opts.clone());
    let e2 = fx.attach(&n2, &fx.cid(1), &a, opts.clone());
    assert_eq!((e1.slot, e1.ifname.as_str()), (0, "eth0"));
    assert_eq!((e2.slot, e2.ifname.as_str()), (1, "eth1"));
    assert_ne!(e1.host_veth, e2.host_veth);
    assert_ne!(e1.ifb, e2.ifb);
    let addrs = a.exec("ip -o -4 addr");
    assert!(
        addrs.contains(&format!("eth0    inet {}/", e1.ipv4.unwrap())),
        "{addrs}"
    );
    assert!(
        addrs.contains(&format!("eth1    inet {}/", e2.ipv4.unwrap())),
        "{addrs}"
    );
    let routes = a.exec("ip route; ip -6 route");
    assert_eq!(
        routes.matches("default").count(),
        2,
        "v4 and v6 via eth0: {routes}"
    );
    assert!(
        !routes
            .lines()
            .any(|l| l.starts_with("default") && l.contains("eth1")),
        "{routes}"
    );
    for e in [&e1, &e2] {
        let q = sh(&format!("tc qdisc show dev {}", e.host_veth));
        assert!(q.contains("tbf") && q.contains("rate 40Mbit"), "{q}");
        let q = sh(&format!("tc qdisc show dev {}", e.ifb.as_ref().unwrap()));
        assert!(q.contains("tbf") && q.contains("rate 50Mbit"), "{q}");
    }
    // The same network twice is refused; the store lists both, by slot.
    let err = fx
        .store
        .attach(&n2.name, &fx.cid(1), &a.path, &opts)
        .unwrap_err();
    assert!(
        matches!(err, berth_net::Error::AlreadyAttached { .. }),
        "{err}"
    );
    assert_eq!(
        fx.store.attachments(&fx.cid(1)).unwrap(),
        vec![e1.clone(), e2.clone()]
    );
    // A rule is the container's: both attachments' chains get it.
    let rule = Rule {
        action: Action::Deny,
        direction: Direction::In,
        peer: None,
        proto: Some(Proto::Tcp),
        port: Some(4242),
    };
    fx.store.add_rule(&fx.cid(1), rule).unwrap();
    let bridge_table = sh("nft list table bridge berth");
    let key = |e: &berth_net::Attachment| e.host_veth.trim_start_matches("bthv-").to_string();
    for e in [&e1, &e2] {
        let chain = format!("chain c-{}-in", key(e));
        let body = bridge_table
            .split(&chain)
            .nth(1)
            .unwrap_or_else(|| panic!("{chain}: {bridge_table}"));
        let body = body.split('}').next().unwrap();
        assert!(body.contains("tcp dport 4242 drop"), "{chain}: {body}");
    }
    for att in fx.store.attachments(&fx.cid(1)).unwrap() {
        assert_eq!(att.firewall, vec![rule]);
    }
    // Crash: gc removes both.
    sh(&format!("ip netns del {}", a.name));
    assert_eq!(fx.store.gc(&|id| id != fx.cid(1)).unwrap(), vec![fx.cid(1)]);
    assert!(fx.store.attachments(&fx.cid(1)).unwrap().is_empty());
    let links = sh("ip -o link");
    for e in [&e1, &e2] {
        assert!(!links.contains(&format!("{}:", e.host_veth)), "{links}");
        assert!(
            !links.contains(&format!("{}:", e.ifb.as_ref().unwrap())),
            "{links}"
        );
    }
    let ruleset = sh("nft list ruleset");
    assert!(
        !ruleset.contains(&key(&e1)) && !ruleset.contains(&key(&e2)),
        "{ruleset}"
    );
    // Both leases are free again.
    let b = fx.netns();
    assert_eq!(
        fx.attach(&n2, &fx.cid(2), &b, AttachOptions::default())
            .ipv4,
        e2.ipv4
    );
    fx.finish();
}

/// `detach_from` removes one attachment only and frees its slot for the next attach.
#[test]
fn detach_from_one_network_keeps_the_others() {
    let mut fx = Fixture::new();
    let (n1, n2, n3) = (
        fx.network(1, |_| {}),
        fx.network(2, |_| {}),
        fx.network(3, |_| {}),
    );
    let a = fx.netns();
    let e1 = fx.attach(&n1, &fx.cid(1), &a, AttachOptions::default());
    let e2 = fx.attach(&n2, &fx.cid(1), &a, AttachOptions::default());
    let gone = fx.store.detach_from(&fx.cid(1), &n2.name).unwrap();
    assert_eq!(gone, e2);
    assert!(!a.exec("ip -o link").contains("eth1"));
    assert!(!sh("ip -o link").contains(&format!("{}:", e2.host_veth)));
    let err = fx.store.detach_from(&fx.cid(1), &n2.name).unwrap_err();
    assert!(
        matches!(err, berth_net::Error::NotOnNetwork { .. }),
        "{err}"
    );
    assert_eq!(fx.store.attachments(&fx.cid(1)).unwrap(), vec![e1.clone()]);
    // The freed slot is reused; the address on n2 is free for another container.
    let e3 = fx.attach(&n3, &fx.cid(1), &a, AttachOptions::default());
    assert_eq!((e3.slot, e3.ifname.as_str()), (1, "eth1"));
    let b = fx.netns();
    assert_eq!(
        fx.attach(&n2, &fx.cid(2), &b, AttachOptions::default())
            .ipv4,
        e2.ipv4
    );
    // The network still used is not removable.
    let err = fx.store.remove(&n1.name).unwrap_err();
    assert!(
        matches!(err, berth_net::Error::NetworkInUse { .. }),
        "{err}"
    );
    fx.finish();
}
