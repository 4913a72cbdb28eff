//! Bandwidth caps measured with iperf3 (3 s runs). `serial_`: runs alone.

mod common;

use std::net::IpAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use berth_net::AttachOptions;
use common::{sh, Fixture, Netns};

const CAP: u64 = 10_000_000;

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Receiver-side throughput in bit/s of a 3 s TCP run from `client` to `server_ns`.
fn iperf(server_ns: &Netns, client: &Netns, to: IpAddr, port: u16) -> f64 {
    let _server = Server(
        Command::new("ip")
            .args(["netns", "exec", &server_ns.name, "iperf3", "-s", "-1", "-p"])
            .arg(port.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    for _ in 0..50 {
        let out = Command::new("ip")
            .args([
                "netns",
                "exec",
                &client.name,
                "iperf3",
                "-J",
                "-t",
                "3",
                "-p",
            ])
            .arg(port.to_string())
            .args(["-c", &to.to_string()])
            .output()
            .unwrap();
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        if let Some(bps) = json["end"]["sum_received"]["bits_per_second"].as_f64() {
            return bps;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("iperf3 to {to}:{port} never ran");
}

fn within(measured: f64, expected: f64, tolerance: f64) -> bool {
    ((measured - expected) / expected).abs() <= tolerance
}

#[test]
fn serial_bandwidth_caps_hold_and_uncapped_matches_bare_veth() {
    let mut fx = Fixture::new();
    let net = fx.network(1, |_| {});
    let (a, b, c, d) = (fx.netns(), fx.netns(), fx.netns(), fx.netns());
    let capped_out = AttachOptions {
        egress_bps: Some(CAP),
        ..AttachOptions::default()
    };
    let capped_in = AttachOptions {
        ingress_bps: Some(CAP),
        ..AttachOptions::default()
    };
    fx.attach(&net, &fx.cid(1), &a, capped_out);
    let eb = fx.attach(&net, &fx.cid(2), &b, AttachOptions::default());
    let ec = fx.attach(&net, &fx.cid(3), &c, capped_in);
    fx.attach(&net, &fx.cid(4), &d, AttachOptions::default());
    let port = 5201 + (std::process::id() % 1000) as u16;
    let b4: IpAddr = eb.ipv4.unwrap().into();
    let c4: IpAddr = ec.ipv4.unwrap().into();

    let egress = iperf(&b, &a, b4, port);
    let ingress = iperf(&c, &d, c4, port);

    // The same run between two bare namespaces joined by a veth pair.
    let (x, y) = (fx.netns(), fx.netns());
    let (vx, vy) = (format!("bthb-{}x", fx.id), format!("bthb-{}y", fx.id));
    sh(&format!(
        "ip link add {vx} netns {} type veth peer name {vy} netns {}",
        x.name, y.name
    ));
    x.exec(&format!("ip addr add 10.213.254.1/30 dev {vx}"));
    y.exec(&format!("ip addr add 10.213.254.2/30 dev {vy}"));
    x.exec(&format!("ip link set {vx} up"));
    y.exec(&format!("ip link set {vy} up"));
    x.exec("ip link set lo up");
    y.exec("ip link set lo up");
    // Alternate the two, best of two each: the machine is shared, so single runs are noisy.
    let mut uncapped: f64 = 0.0;
    let mut bare: f64 = 0.0;
    for _ in 0..2 {
        uncapped = uncapped.max(iperf(&b, &d, b4, port));
        bare = bare.max(iperf(&y, &x, "10.213.254.2".parse().unwrap(), port));
    }

    println!(
        "egress cap {CAP} bit/s: {egress:.0}; ingress cap: {ingress:.0}; uncapped via bridge: {uncapped:.0}; bare veth: {bare:.0}"
    );
    assert!(
        within(egress, CAP as f64, 0.10),
        "egress {egress} vs cap {CAP}"
    );
    assert!(
        within(ingress, CAP as f64, 0.10),
        "ingress {ingress} vs cap {CAP}"
    );
    assert!(
        within(uncapped, bare, 0.10),
        "uncapped {uncapped} vs bare veth {bare}"
    );
    fx.finish();
}
