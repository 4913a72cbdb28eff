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
