//! Networks through crates/net: two containers on one berth network talk, a published port
//! answers on the host's 127.0.0.1, and everything is gone after `rm` and `network rm`.

mod common;

use common::{unique, Env};

/// A /24 that no other test (running in parallel) picks: derived from pid and a counter.
fn subnet() -> String {
    let n = unique("net");
    let h: u32 = n
        .bytes()
        .fold(7u32, |a, b| a.wrapping_mul(31).wrapping_add(b as u32));
    format!("10.{}.{}.0/24", 200 + (h % 50), (h >> 8) % 250)
}

#[test]
fn containers_on_one_network_talk_and_ports_are_published() {
    let env = Env::new("net");
    let net = unique("n");
    env.ok(&["network", "create", "--subnet", &subnet(), &net]);
    let port = 20000 + (std::process::id() % 20000) as u16;
    env.ok(&[
        "run",
        "-d",
        "--name",
        "srv",
        "--network",
        &net,
        "-p",
        &format!("127.0.0.1:{port}:8080"),
        "--",
        "sh",
        "-c",
        "mkdir -p /srv; echo hello-net > /srv/f; exec busybox httpd -f -p 8080 -h /srv",
    ]);
    let info: serde_json::Value =
        serde_json::from_str(&env.ok(&["network", "inspect", &net])).unwrap();
    let ep = &info[0]["endpoints"][0];
    let ip = ep["ipv4"].as_str().unwrap().to_string();
    let veth = ep["host_veth"].as_str().unwrap().to_string();
    assert!(std::path::Path::new(&format!("/sys/class/net/{veth}")).exists());
    // Container to container over the bridge.
    let url = format!("http://{ip}:8080/f");
    let mut got = String::new();
    for _ in 0..20 {
        let r = env.run(&[
            "run",
            "--rm",
            "--network",
            &net,
            "--",
            "busybox",
            "wget",
            "-qO-",
            &url,
        ]);
        got = String::from_utf8_lossy(&r.stdout).into_owned();
        if got == "hello-net\n" {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(got, "hello-net\n");
    // Its /etc/hosts names its address.
    let hosts = env.ok(&["exec", "srv", "cat", "/etc/hosts"]);
    let srv_id = env.id("srv");
    assert!(
        hosts.contains(&format!("{ip}\t{}", &srv_id[..12])),
        "{hosts}"
    );
    // A container without the network cannot reach it.
    let r = env.run(&[
        "run", "--rm", "--", "busybox", "wget", "-T", "2", "-qO-", &url,
    ]);
    assert_ne!(r.status.code(), Some(0));
    // The published port, from the host's loopback.
    let out = std::process::Command::new("busybox")
        .args(["wget", "-qO-", &format!("http://127.0.0.1:{port}/f")])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hello-net\n");
    env.ok(&["rm", "-f", "srv"]);
    assert!(!std::path::Path::new(&format!("/sys/class/net/{veth}")).exists());
    let info: serde_json::Value =
        serde_json::from_str(&env.ok(&["network", "inspect", &net])).unwrap();
    assert_eq!(
        info[0]["endpoints"].as_array().unwrap().len(),
        0,
        "the lease is released"
    );
    let bridge = info[0]["network"]["bridge"].as_str().unwrap().to_string();
    env.ok(&["network", "rm", &net]);
    assert!(!std::path::Path::new(&format!("/sys/class/net/{bridge}")).exists());
}

/// The /24's prefix (`10.a.b.`) and the subnet itself.
fn subnet_and_prefix() -> (String, String) {
    let s = subnet();
    let prefix = s.trim_end_matches("0/24").to_string();
    (s, prefix)
}

#[test]
fn ip_dns_and_add_host_reach_the_container() {
    let env = Env::new("netflags");
    let net = unique("n");
    let (sub, prefix) = subnet_and_prefix();
    env.ok(&["network", "create", "--subnet", &sub, &net]);
    let ip = format!("{prefix}77");
    env.ok(&[
        "run",
        "-d",
        "--name",
        "c",
        "--network",
        &net,
        "--ip",
        &ip,
        "--mac-address",
        "02:42:ac:11:00:77",
        "--dns",
        "192.0.2.53",
        "--dns",
        "2001:db8::53",
        "--add-host",
        "db.internal:192.0.2.10",
        "--",
        "sleep",
        "30",
    ]);
    let fib = env.ok(&["exec", "c", "cat", "/proc/net/fib_trie"]);
    assert!(fib.contains(&ip), "{fib}");
    let mac = env.ok(&["exec", "c", "cat", "/sys/class/net/eth0/address"]);
    assert_eq!(mac.trim(), "02:42:ac:11:00:77");
    let resolv = env.ok(&["exec", "c", "cat", "/etc/resolv.conf"]);
    assert_eq!(resolv, "nameserver 192.0.2.53\nnameserver 2001:db8::53\n");
    let hosts = env.ok(&["exec", "c", "cat", "/etc/hosts"]);
    assert!(hosts.contains("192.0.2.10\tdb.internal\n"), "{hosts}");
    assert!(hosts.contains(&format!("{ip}\t")), "{hosts}");
}

/// Can a fresh container on `net` fetch `http://ip:port/f`? (`timeout`, not wget's `-T`:
/// Debian's busybox 1.35 wget segfaults with `-T`.)
fn reaches(env: &Env, net: &str, ip: &str, port: u16) -> bool {
    let url = format!("http://{ip}:{port}/f");
    let r = env.run(&[
        "run",
        "--rm",
        "--network",
        net,
        "--",
        "timeout",
        "2",
        "busybox",
        "wget",
        "-qO-",
        &url,
    ]);
    String::from_utf8_lossy(&r.stdout) == "fw\n"
}

#[test]
fn firewall_flag_blocks_exactly_its_port_and_rules_change_live() {
    let env = Env::new("netfw");
    let net = unique("n");
    let (sub, prefix) = subnet_and_prefix();
    env.ok(&["network", "create", "--subnet", &sub, &net]);
    let ip = format!("{prefix}50");
    env.ok(&[
        "run",
        "-d",
        "--name",
        "srv",
        "--network",
        &net,
        "--ip",
        &ip,
        "--firewall",
        "deny in tcp port 8080",
        "--",
        "sh",
        "-c",
        "mkdir -p /srv; echo fw > /srv/f; busybox httpd -p 8081 -h /srv; exec busybox httpd -f -p 8080 -h /srv",
    ]);
    // The open port answers (retried: httpd may still be starting).
    let mut open = false;
    for _ in 0..20 {
        if reaches(&env, &net, &ip, 8081) {
            open = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(open, "port 8081 is not denied");
    assert!(!reaches(&env, &net, &ip, 8080), "port 8080 is denied");
    assert_eq!(
        env.ok(&["network", "rule", "ls", "srv"]),
        "deny in tcp port 8080\n"
    );
    // Live: without the rule 8080 answers, with a new one 8081 does not.
    env.ok(&[
        "network", "rule", "rm", "srv", "deny", "in", "tcp", "port", "8080",
    ]);
    assert!(reaches(&env, &net, &ip, 8080), "rule removed live");
    env.ok(&["network", "rule", "add", "srv", "deny in tcp port 8081"]);
    assert!(!reaches(&env, &net, &ip, 8081), "rule added live");
    assert!(reaches(&env, &net, &ip, 8080));
}

#[test]
fn bad_network_flags_fail_with_125_and_leave_nothing() {
    let env = Env::new("netbad");
    let net = unique("n");
    env.ok(&["network", "create", "--subnet", &subnet(), &net]);
    for args in [
        vec!["--firewall", "deny sideways"],
        vec!["--net-egress", "fast"],
        vec!["--net-ingress", "10mb"],
        vec!["--add-host", "nocolon"],
        vec!["--ip", "not-an-ip"],
    ] {
        let mut full = vec!["run", "--network", net.as_str()];
        full.extend(args.iter().copied());
        full.extend(["--", "true"]);
        let r = env.run(&full);
        assert_eq!(r.status.code(), Some(125), "{args:?}");
        let err = String::from_utf8_lossy(&r.stderr);
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
        assert!(err.contains(args[0]), "{args:?}: {err}");
    }
    assert_eq!(env.ok(&["ps", "-aq"]), "");
    // An address outside the subnet: refused at start, said once, no endpoint left.
    let r = env.run(&["run", "--network", &net, "--ip", "192.0.2.1", "--", "true"]);
    assert_eq!(r.status.code(), Some(125));
    let err = String::from_utf8_lossy(&r.stderr);
    assert_eq!(err.matches("192.0.2.1").count(), 1, "{err}");
    let r = env.run(&["network", "rule", "ls", "nosuch"]);
    assert_eq!(r.status.code(), Some(125));
    let r = env.run(&["network", "rule", "add", "nosuch", "deny in"]);
    assert_eq!(r.status.code(), Some(125));
    let info: serde_json::Value =
        serde_json::from_str(&env.ok(&["network", "inspect", &net])).unwrap();
    assert_eq!(info[0]["endpoints"].as_array().unwrap().len(), 0);
}

#[test]
fn network_container_shares_the_namespace() {
    let env = Env::new("netshare");
    let net = unique("n");
    let (sub, prefix) = subnet_and_prefix();
    env.ok(&["network", "create", "--subnet", &sub, &net]);
    let ip = format!("{prefix}60");
    env.ok(&[
        "run",
        "-d",
        "--name",
        "srv",
        "--network",
        &net,
        "--ip",
        &ip,
        "--",
        "sh",
        "-c",
        "mkdir -p /srv; echo shared > /srv/f; exec busybox httpd -f -p 127.0.0.1:8080 -h /srv",
    ]);
    env.ok(&[
        "run",
        "-d",
        "--name",
        "side",
        "--network",
        "container:srv",
        "--",
        "sleep",
        "30",
    ]);
    let ns = |c: &str| env.ok(&["exec", c, "readlink", "/proc/1/ns/net"]);
    let srv_ns = ns("srv");
    assert!(srv_ns.starts_with("net:["), "{srv_ns}");
    assert_eq!(srv_ns, ns("side"));
    let fib = env.ok(&["exec", "side", "cat", "/proc/net/fib_trie"]);
    assert!(fib.contains(&ip), "{fib}");
    // The server's loopback-only port, from the other container.
    let mut got = String::new();
    for _ in 0..20 {
        let r = env.run(&[
            "exec",
            "side",
            "busybox",
            "wget",
            "-qO-",
            "http://127.0.0.1:8080/f",
        ]);
        got = String::from_utf8_lossy(&r.stdout).into_owned();
        if got == "shared\n" {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(got, "shared\n");
    // An unknown container: docker's 125, nothing made.
    let r = env.run(&["run", "--network", "container:nosuch", "--", "true"]);
    assert_eq!(r.status.code(), Some(125));
    assert_eq!(env.ok(&["ps", "-aq"]).lines().count(), 2);
}

#[test]
fn bandwidth_caps_become_tc_qdiscs() {
    let env = Env::new("netcap");
    let net = unique("n");
    env.ok(&["network", "create", "--subnet", &subnet(), &net]);
    env.ok(&[
        "run",
        "-d",
        "--name",
        "c",
        "--network",
        &net,
        "--net-egress",
        "10mbit",
        "--net-ingress",
        "500kbit",
        "--",
        "sleep",
        "30",
    ]);
    let info: serde_json::Value =
        serde_json::from_str(&env.ok(&["network", "inspect", &net])).unwrap();
    let ep = &info[0]["endpoints"][0];
    assert_eq!(ep["egress_bps"], 10_000_000);
    assert_eq!(ep["ingress_bps"], 500_000);
    let qdisc = |dev: &str| {
        let out = std::process::Command::new("tc")
            .args(["qdisc", "show", "dev", dev])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let veth = ep["host_veth"].as_str().unwrap();
    let ifb = ep["ifb"].as_str().unwrap();
    let v = qdisc(veth);
    assert!(v.contains("tbf") && v.contains("rate 500Kbit"), "{v}");
    let i = qdisc(ifb);
    assert!(i.contains("tbf") && i.contains("rate 10Mbit"), "{i}");
}

/// Runs `cmd` in the network namespace of container `name`, from the host (the
/// container's own /proc/sys is read-only).
fn in_netns(env: &Env, name: &str, cmd: &str) -> bool {
    let pid = env.inspect(name)["pid"].as_i64().unwrap().to_string();
    std::process::Command::new("nsenter")
        .args(["-t", &pid, "-n", "--", "sh", "-c", cmd])
        .status()
        .unwrap()
        .success()
}

/// Can container `from` fetch `http://ip:8080/f` (expecting `body`)?
fn fetches(env: &Env, from: &str, ip: &str, body: &str) -> bool {
    let url = format!("http://{ip}:8080/f");
    let r = env.run(&[
        "exec", from, "timeout", "2", "busybox", "wget", "-qO-", &url,
    ]);
    String::from_utf8_lossy(&r.stdout) == format!("{body}\n")
}

fn eventually(mut f: impl FnMut() -> bool) -> bool {
    for _ in 0..30 {
        if f() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    false
}

fn serve(env: &Env, name: &str, net: &str, ip: &str, body: &str) {
    env.ok(&[
        "run",
        "-d",
        "--name",
        name,
        "--network",
        net,
        "--ip",
        ip,
        "--",
        "sh",
        "-c",
        &format!("mkdir -p /srv; echo {body} > /srv/f; exec busybox httpd -f -p 8080 -h /srv"),
    ]);
}

fn link_exists(name: &str) -> bool {
    std::path::Path::new(&format!("/sys/class/net/{name}")).exists()
}

#[test]
fn a_container_on_two_networks_reaches_both_and_keeps_them_apart() {
    let env = Env::new("netmulti");
    let (na, nb, nc) = (unique("a"), unique("b"), unique("c"));
    let (sa, pa) = subnet_and_prefix();
    let (sb, pb) = subnet_and_prefix();
    let (sc, pc) = subnet_and_prefix();
    env.ok(&["network", "create", "--subnet", &sa, &na]);
    env.ok(&["network", "create", "--subnet", &sb, &nb]);
    env.ok(&["network", "create", "--subnet", &sc, &nc]);
    let (peer_a, peer_b) = (format!("{pa}10"), format!("{pb}10"));
    serve(&env, "pa", &na, &peer_a, "on-a");
    serve(&env, "pb", &nb, &peer_b, "on-b");
    // Repeated flag and podman's comma list.
    env.ok(&[
        "run",
        "-d",
        "--name",
        "dual",
        "--network",
        &na,
        "--network",
        &nb,
        "--ip",
        &format!("{pa}20"),
        "--",
        "sleep",
        "300",
    ]);
    let dual_a = format!("{pa}20");
    let dual_id = env.id("dual");
    let addr = |net: &str| -> (String, String) {
        let info: serde_json::Value =
            serde_json::from_str(&env.ok(&["network", "inspect", net])).unwrap();
        let containers = info[0]["containers"].as_array().unwrap();
        assert!(containers.iter().any(|c| c == dual_id.as_str()), "{info}");
        let ep = info[0]["endpoints"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["container_id"] == dual_id.as_str())
            .unwrap();
        (
            ep["ipv4"].as_str().unwrap().to_string(),
            ep["host_veth"].as_str().unwrap().to_string(),
        )
    };
    let (dual_b, veth_b) = addr(&nb);
    let (got_a, veth_a) = addr(&na);
    assert_eq!(got_a, dual_a, "--ip applies to the first network");
    assert!(dual_b.starts_with(&pb), "{dual_b}");
    // eth0 on A with the default route, eth1 on B.
    let a4 = env.ok(&["exec", "dual", "ip", "-o", "-4", "addr"]);
    assert!(a4.contains(&format!("eth0    inet {dual_a}/")), "{a4}");
    assert!(a4.contains(&format!("eth1    inet {dual_b}/")), "{a4}");
    let routes = env.ok(&["exec", "dual", "ip", "route"]);
    assert!(
        routes.contains(&format!("default via {pa}1 dev eth0")),
        "{routes}"
    );
    assert_eq!(routes.matches("default").count(), 1, "{routes}");
    let hosts = env.ok(&["exec", "dual", "cat", "/etc/hosts"]);
    assert!(
        hosts.contains(&format!("{dual_a}\t")) && hosts.contains(&format!("{dual_b}\t")),
        "{hosts}"
    );
    // TCP to a peer on each network.
    assert!(
        eventually(|| fetches(&env, "dual", &peer_a, "on-a")),
        "dual -> A"
    );
    assert!(
        eventually(|| fetches(&env, "dual", &peer_b, "on-b")),
        "dual -> B"
    );
    // The peers cannot reach each other: not directly...
    assert!(!fetches(&env, "pa", &peer_b, "on-b"), "A -> B directly");
    // ...nor routed through the dual-homed container, even when it forwards and both
    // peers route the other's subnet through it: anti-spoofing on its veths drops what
    // it sends from an address that is not its own.
    assert!(in_netns(
        &env,
        "dual",
        "echo 1 > /proc/sys/net/ipv4/ip_forward"
    ));
    assert!(in_netns(
        &env,
        "pa",
        &format!("ip route add {sb} via {dual_a}")
    ));
    assert!(in_netns(
        &env,
        "pb",
        &format!("ip route add {sa} via {dual_b}")
    ));
    assert!(!fetches(&env, "pa", &peer_b, "on-b"), "A -> B through dual");
    assert!(!fetches(&env, "pb", &peer_a, "on-a"), "B -> A through dual");
    // Control: the dual-homed container does forward. Relaying as itself (DNAT to the
    // peer on B and masquerade: its own addresses on both sides, as a proxy would) passes;
    // that relay is the container's own choice, like running a proxy.
    let relay = format!(
        "nft add table ip berth-test-relay && nft 'add chain ip berth-test-relay pre {{ type nat hook prerouting priority dstnat; }}' && nft 'add chain ip berth-test-relay post {{ type nat hook postrouting priority srcnat; }}' && nft add rule ip berth-test-relay pre iifname eth0 tcp dport 8080 dnat to {peer_b} && nft add rule ip berth-test-relay post oifname eth1 masquerade"
    );
    assert!(in_netns(&env, "dual", &relay));
    assert!(
        eventually(|| fetches(&env, "pa", &dual_a, "on-b")),
        "relayed by dual"
    );
    // A network in use cannot be removed; the error names the container.
    let r = env.run(&["network", "rm", &nb]);
    assert_eq!(r.status.code(), Some(125));
    assert!(
        String::from_utf8_lossy(&r.stderr).contains(&dual_id),
        "{r:?}"
    );
    // Connect to a third network live, with a fixed address: eth2.
    let dual_c = format!("{pc}30");
    assert_eq!(
        env.ok(&["network", "connect", "--ip", &dual_c, &nc, "dual"])
            .trim(),
        "eth2"
    );
    let a4 = env.ok(&["exec", "dual", "ip", "-o", "-4", "addr"]);
    assert!(a4.contains(&format!("eth2    inet {dual_c}/")), "{a4}");
    assert!(env
        .ok(&["exec", "dual", "cat", "/etc/hosts"])
        .contains(&format!("{dual_c}\t")));
    // Disconnect B live: eth1 and its veth go, the address is free for a new container.
    env.ok(&["network", "disconnect", &nb, "dual"]);
    let a4 = env.ok(&["exec", "dual", "ip", "-o", "-4", "addr"]);
    assert!(!a4.contains("eth1"), "{a4}");
    assert!(!link_exists(&veth_b));
    assert!(!env
        .ok(&["exec", "dual", "cat", "/etc/hosts"])
        .contains(&format!("{dual_b}\t")));
    env.ok(&[
        "run",
        "-d",
        "--name",
        "reuse",
        "--network",
        &nb,
        "--ip",
        &dual_b,
        "--",
        "sleep",
        "300",
    ]);
    let r = env.run(&["network", "disconnect", &nb, "dual"]);
    assert_eq!(r.status.code(), Some(125), "not on that network any more");
    // A stopped container only loses the network from its record.
    env.ok(&[
        "run",
        "--name",
        "off",
        "--network",
        &format!("{nb},{nc}"),
        "--",
        "true",
    ]);
    env.ok(&["network", "disconnect", &nb, "off"]);
    let cfg = &env.inspect("off")["config"];
    assert_eq!(cfg["network"]["bridge"], nc.as_str(), "{cfg}");
    assert_eq!(
        cfg["extra_networks"].as_array().map(Vec::len),
        Some(0),
        "{cfg}"
    );
    let r = env.run(&["network", "disconnect", &nb, "off"]);
    assert_eq!(r.status.code(), Some(125));
    env.ok(&["rm", "off"]);
    // rm removes every attachment: veths, leases; then the networks can go.
    let (_, veth_c) = addr(&nc);
    env.ok(&["rm", "-f", "dual", "reuse", "pa", "pb"]);
    assert!(!link_exists(&veth_a) && !link_exists(&veth_c));
    for n in [&na, &nb, &nc] {
        let info: serde_json::Value =
            serde_json::from_str(&env.ok(&["network", "inspect", n])).unwrap();
        assert_eq!(info[0]["endpoints"].as_array().unwrap().len(), 0, "{info}");
        env.ok(&["network", "rm", n]);
    }
}

#[test]
fn bad_network_lists_are_refused() {
    let env = Env::new("netlist");
    for (args, what) in [
        (vec!["--network", "host,x"], "host"),
        (vec!["--network", "a", "--network", "none"], "none"),
        (vec!["--network", "a,a"], "twice"),
        (vec!["--network", "a,"], "empty"),
    ] {
        let mut full = vec!["run"];
        full.extend(args.iter().copied());
        full.extend(["--", "true"]);
        let r = env.run(&full);
        assert_eq!(r.status.code(), Some(125), "{args:?}");
        let err = String::from_utf8_lossy(&r.stderr);
        assert!(err.contains(what), "{args:?}: {err}");
    }
    assert_eq!(env.ok(&["ps", "-aq"]), "");
}
