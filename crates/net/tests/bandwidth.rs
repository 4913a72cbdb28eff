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

/// Every iperf3 process, client and server, runs on the same CPU: a run's two ends do not
/// land on one CPU in one run and on two in the next (a large difference), and the runs
/// that are compared see the same CPU, whatever else runs on the machine's other CPUs.
fn cpu() -> String {
    let n = std::thread::available_parallelism().map_or(1, |n| n.get());
    (n - 1).to_string()
}

fn parse_bps(stdout: &[u8]) -> Option<f64> {
    let json: serde_json::Value = serde_json::from_slice(stdout).ok()?;
    json["end"]["sum_received"]["bits_per_second"].as_f64()
}

fn server(ns: &Netns, port: u16) -> Server {
    Server(
        Command::new("ip")
            .args([
                "netns",
                "exec",
                &ns.name,
                "taskset",
                "-c",
                &cpu(),
                "iperf3",
                "-s",
                "-1",
                "-p",
            ])
            .arg(port.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    )
}

fn client(ns: &Netns, to: IpAddr, port: u16) -> Child {
    Command::new("ip")
        .args(["netns", "exec", &ns.name, "taskset", "-c", &cpu()])
        .args(["iperf3", "-J", "-O", "1", "-t", "3", "-p"])
        .arg(port.to_string())
        .args(["-c", &to.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// Receiver-side throughputs in bit/s of TCP runs (3 s, after 1 s of warm-up that is not
/// counted) that run at the same time, one per `(server, client, address)`.
fn iperf_together(runs: &[(&Netns, &Netns, IpAddr)], port: u16) -> Vec<f64> {
    for _ in 0..50 {
        let ports: Vec<u16> = (0..runs.len() as u16).map(|i| port + i).collect();
        let _servers: Vec<Server> = runs
            .iter()
            .zip(&ports)
            .map(|((srv, _, _), p)| server(srv, *p))
            .collect();
        std::thread::sleep(Duration::from_millis(200));
        let clients: Vec<Child> = runs
            .iter()
            .zip(&ports)
            .map(|((_, cli, to), p)| client(cli, *to, *p))
            .collect();
        let results: Vec<Option<f64>> = clients
            .into_iter()
            .map(|c| parse_bps(&c.wait_with_output().unwrap().stdout))
            .collect();
        if results.iter().all(Option::is_some) {
            return results.into_iter().flatten().collect();
        }
    }
    panic!("iperf3 never ran");
}

fn iperf(server_ns: &Netns, client_ns: &Netns, to: IpAddr, port: u16) -> f64 {
    iperf_together(&[(server_ns, client_ns, to)], port)[0]
}

fn within(measured: f64, expected: f64, tolerance: f64) -> bool {
    ((measured - expected) / expected).abs() <= tolerance
}

#[test]
fn serial_bandwidth_caps_hold_within_10_percent() {
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
    // Median of three: the machine is shared, one run may be off either way.
    let median = |f: &dyn Fn() -> f64| {
        let mut runs = [f(), f(), f()];
        runs.sort_by(f64::total_cmp);
        runs[1]
    };
    let egress = median(&|| iperf(&b, &a, b4, port));
    let ingress = median(&|| iperf(&c, &d, c4, port));
    // Uncapped neighbours are not held back.
    let free = iperf(&b, &d, b4, port);
    println!("cap {CAP} bit/s: egress {egress:.0}, ingress {ingress:.0}, uncapped {free:.0}");
    assert!(
        within(egress, CAP as f64, 0.10),
        "egress {egress} vs cap {CAP}"
    );
    assert!(
        within(ingress, CAP as f64, 0.10),
        "ingress {ingress} vs cap {CAP}"
    );
    assert!(free > 10.0 * CAP as f64, "uncapped {free}");
    fx.finish();
}

/// A link this test made, deleted on drop.
struct Link(String);

impl Drop for Link {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["link", "del", &self.0]).output();
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Uncapped throughput between two containers on one berth network against the same run
/// between two bare network namespaces, both ways "bare" can be read: on a plain Linux
/// bridge berth did not configure (the same topology without berth's rules), and joined
/// by one veth pair (no bridge at all).
///
/// Runs are sequential, one path after the other in a rotating order, 7 rounds; the
/// median of the per-round ratios is compared. (Running the flows side by side was
/// tried: two TCP flows on a loaded 2-core machine do not share it fairly, and a round
/// came out at 0.47 or 1.47 either way.) A comparison below its bound is measured once
/// more and fails only when that too is below: interference from the machine's other
/// users only ever lowers a run, and this keeps the test from failing on a burst of it.
///
/// Measured here with both ends on one CPU (this test twice, bench/net-throughput.sh
/// once; medians of per-round ratios, machine under load 3-4): berth / bare bridge
/// 0.96-0.99, berth / bare veth 0.94-0.97. The bound against the same bridge is 10%.
/// Against a veth pair (no bridge: the host's built-in br_netfilter with
/// bridge-nf-call-iptables=1, a global setting berth must not change, runs for every
/// bridged packet) the margin to 10% is too thin for this machine's noise (an unpinned
/// run once gave 0.89): that comparison guards against regressions (20%).
const MAX_LOSS_VS_BRIDGE: f64 = 0.10;
const MAX_LOSS_VS_VETH: f64 = 0.20;

/// Per-round ratios berth / bare bridge and berth / bare veth.
fn measure_ratios(paths: [(&Netns, &Netns, IpAddr); 3], port: u16) -> (f64, f64) {
    let mut vs_bridge = Vec::new();
    let mut vs_veth = Vec::new();
    for round in 0..7 {
        let mut got = [0.0f64; 3];
        for k in 0..3 {
            let i = (round + k) % 3;
            let (srv, cli, to) = paths[i];
            got[i] = iperf(srv, cli, to, port);
        }
        println!(
            "round {round}: berth {:.0}, bare bridge {:.0}, bare veth {:.0} Mbit/s",
            got[0] / 1e6,
            got[1] / 1e6,
            got[2] / 1e6
        );
        vs_bridge.push(got[0] / got[1]);
        vs_veth.push(got[0] / got[2]);
    }
    (median(vs_bridge), median(vs_veth))
}

#[test]
fn serial_uncapped_throughput_close_to_bare_namespaces() {
    let mut fx = Fixture::new();
    let net = fx.network(1, |_| {});
    let (b, d) = (fx.netns(), fx.netns());
    let eb = fx.attach(&net, &fx.cid(2), &b, AttachOptions::default());
    fx.attach(&net, &fx.cid(4), &d, AttachOptions::default());
    let port = 6201 + (std::process::id() % 1000) as u16;
    let b4: IpAddr = eb.ipv4.unwrap().into();
    // Two bare namespaces joined by a veth pair.
    let (x, y) = (fx.netns(), fx.netns());
    let (vx, vy) = (format!("bthb{}x", fx.id), format!("bthb{}y", fx.id));
    sh(&format!(
        "ip link add {vx} netns {} type veth peer name {vy} netns {}",
        x.name, y.name
    ));
    for (ns, dev, ip) in [(&x, &vx, "10.213.254.1/30"), (&y, &vy, "10.213.254.2/30")] {
        ns.exec(&format!("ip addr add {ip} dev {dev}"));
        ns.exec(&format!("ip link set {dev} up"));
        ns.exec("ip link set lo up");
    }
    let veth_ip: IpAddr = "10.213.254.2".parse().unwrap();
    // Two bare namespaces on a plain bridge (no berth rules match its ports).
    let (p, q) = (fx.netns(), fx.netns());
    let br = Link(format!("bthb{}br", fx.id));
    sh(&format!(
        "ip link add {} type bridge && ip link set {} up",
        br.0, br.0
    ));
    let mut ports = Vec::new();
    for (i, ns) in [(1, &p), (2, &q)] {
        let host = Link(format!("bthb{}h{i}", fx.id));
        sh(&format!(
            "ip link add {} type veth peer name eth0 netns {} && ip link set {} master {} up",
            host.0, ns.name, host.0, br.0
        ));
        ns.exec(&format!("ip addr add 10.213.255.{i}/24 dev eth0"));
        ns.exec("ip link set eth0 up");
        ns.exec("ip link set lo up");
        ports.push(host);
    }
    let bridge_ip: IpAddr = "10.213.255.2".parse().unwrap();
    let paths = [(&b, &d, b4), (&q, &p, bridge_ip), (&y, &x, veth_ip)];
    let ok = |(rb, rv): (f64, f64)| rb >= 1.0 - MAX_LOSS_VS_BRIDGE && rv >= 1.0 - MAX_LOSS_VS_VETH;
    let mut ratios = measure_ratios(paths, port);
    println!(
        "median ratios: berth/bare bridge {:.3}, berth/bare veth {:.3}",
        ratios.0, ratios.1
    );
    if !ok(ratios) {
        ratios = measure_ratios(paths, port);
        println!(
            "again: berth/bare bridge {:.3}, berth/bare veth {:.3}",
            ratios.0, ratios.1
        );
    }
    let (rb, rv) = ratios;
    assert!(
        rb >= 1.0 - MAX_LOSS_VS_BRIDGE,
        "berth / bare bridge {rb:.3}"
    );
    assert!(rv >= 1.0 - MAX_LOSS_VS_VETH, "berth / bare veth {rv:.3}");
    drop(ports);
    drop(br);
    fx.finish();
}
