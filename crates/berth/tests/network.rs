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
