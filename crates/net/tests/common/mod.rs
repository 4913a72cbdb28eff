//! Test support: unique names, a private store, network namespaces standing in for
//! containers, echo servers and clients that run inside them, and a teardown that checks
//! nothing is left behind.
#![allow(dead_code)]

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use berth_net::{AttachOptions, Attachment, Error, Network, NetworkSpec, NetworkStore};
use ipnet::{Ipv4Net, Ipv6Net};
use nix::fcntl::{Flock, FlockArg};
use nix::sched::{setns, CloneFlags};

static COUNTER: AtomicU32 = AtomicU32::new(0);

fn base36(mut n: u32) -> String {
    let digits = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::new();
    loop {
        out.push(digits[(n % 36) as usize]);
        n /= 36;
        if n == 0 {
            break;
        }
    }
    out.reverse();
    String::from_utf8(out).unwrap()
}

/// Runs `cmd` and returns its stdout; panics with stderr on failure.
pub fn sh(cmd: &str) -> String {
    let out = Command::new("sh").arg("-c").arg(cmd).output().unwrap();
    assert!(
        out.status.success(),
        "{cmd}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs `cmd`, returns whether it succeeded.
pub fn try_sh(cmd: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// A network namespace standing in for a container.
pub struct Netns {
    pub name: String,
    pub path: PathBuf,
}

impl Netns {
    pub fn exec(&self, cmd: &str) -> String {
        sh(&format!("ip netns exec {} {cmd}", self.name))
    }
}

/// Runs `f` on a thread inside the namespace at `path`.
pub fn in_ns<T: Send + 'static>(path: &Path, f: impl FnOnce() -> T + Send + 'static) -> T {
    let file = File::open(path).unwrap();
    std::thread::spawn(move || {
        setns(file.as_fd(), CloneFlags::CLONE_NEWNET).unwrap();
        f()
    })
    .join()
    .unwrap()
}

/// Echo servers (TCP and UDP on the same port) running inside a namespace until dropped.
pub struct Echo {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl Echo {
    pub fn start(ns: Option<&Path>, addr: IpAddr, port: u16) -> Echo {
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, rx) = std::sync::mpsc::channel();
        let mut threads = Vec::new();
        for udp in [false, true] {
            let stop = stop.clone();
            let tx = tx.clone();
            let ns = ns.map(|p| File::open(p).unwrap());
            threads.push(std::thread::spawn(move || {
                if let Some(f) = ns {
                    setns(f.as_fd(), CloneFlags::CLONE_NEWNET).unwrap();
                }
                let sa = SocketAddr::new(addr, port);
                if udp {
                    let s = UdpSocket::bind(sa).unwrap();
                    s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
                    tx.send(()).unwrap();
                    let mut buf = [0u8; 1500];
                    while !stop.load(Ordering::Relaxed) {
                        if let Ok((n, from)) = s.recv_from(&mut buf) {
                            let _ = s.send_to(&buf[..n], from);
                        }
                    }
                } else {
                    let l = TcpListener::bind(sa).unwrap();
                    l.set_nonblocking(true).unwrap();
                    tx.send(()).unwrap();
                    while !stop.load(Ordering::Relaxed) {
                        match l.accept() {
                            Ok((mut c, _)) => {
                                c.set_nonblocking(false).unwrap();
                                c.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
                                let mut buf = [0u8; 64];
                                if let Ok(n) = c.read(&mut buf) {
                                    let _ = c.write_all(&buf[..n]);
                                }
                            }
                            Err(_) => std::thread::sleep(Duration::from_millis(10)),
                        }
                    }
                }
            }));
        }
        rx.recv().unwrap();
        rx.recv().unwrap();
        Echo { stop, threads }
    }
}

impl Drop for Echo {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

const TIMEOUT: Duration = Duration::from_millis(1500);

fn tcp_once(to: SocketAddr) -> bool {
    let Ok(mut s) = TcpStream::connect_timeout(&to, TIMEOUT) else {
        return false;
    };
    s.set_read_timeout(Some(TIMEOUT)).unwrap();
    if s.write_all(b"berth-ping").is_err() {
        return false;
    }
    let mut buf = [0u8; 10];
    s.read_exact(&mut buf).is_ok() && &buf == b"berth-ping"
}

fn udp_once(to: SocketAddr) -> bool {
    let any: IpAddr = if to.is_ipv4() {
        Ipv4Addr::UNSPECIFIED.into()
    } else {
        Ipv6Addr::UNSPECIFIED.into()
    };
    let s = UdpSocket::bind(SocketAddr::new(any, 0)).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut buf = [0u8; 10];
    // A few tries: the first datagram may be lost while ARP/ND resolves.
    for _ in 0..4 {
        if s.send_to(b"berth-ping", to).is_err() {
            return false;
        }
        if let Ok((n, _)) = s.recv_from(&mut buf) {
            return &buf[..n] == b"berth-ping";
        }
    }
    false
}

/// TCP echo round trip from inside `ns` (the host when `None`).
pub fn tcp_ok(ns: Option<&Path>, to: SocketAddr) -> bool {
    match ns {
        Some(p) => in_ns(p, move || tcp_once(to)),
        None => tcp_once(to),
    }
}

/// UDP echo round trip from inside `ns` (the host when `None`).
pub fn udp_ok(ns: Option<&Path>, to: SocketAddr) -> bool {
    match ns {
        Some(p) => in_ns(p, move || udp_once(to)),
        None => udp_once(to),
    }
}

/// One test's world: a private store, unique names, and a teardown that checks that
/// nothing is left (links, nft tables, namespaces, addresses).
pub struct Fixture {
    pub id: String,
    pub root: PathBuf,
    pub store: NetworkStore,
    namespaces: Vec<String>,
    networks: Vec<Network>,
    finished: bool,
}

impl Fixture {
    pub fn new() -> Fixture {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let id = format!("{:0>5}{}", base36(std::process::id()), base36(n % 36));
        let root = std::env::temp_dir().join(format!("berth-test-net-{id}"));
        let _ = std::fs::remove_dir_all(&root);
        let store = NetworkStore::open(&root).unwrap();
        Fixture {
            id,
            root,
            store,
            namespaces: Vec::new(),
            networks: Vec::new(),
            finished: false,
        }
    }

    /// A container id unique to this test (its first 10 characters are unique too).
    pub fn cid(&self, n: u32) -> String {
        format!("{}c{n}-container", self.id)
    }

    pub fn bridge(&self, n: u32) -> String {
        format!("bth-{}n{n}", self.id)
    }

    pub fn netns(&mut self) -> Netns {
        let name = format!("berth-test-{}-{}", self.id, self.namespaces.len());
        sh(&format!("ip netns add {name}"));
        self.namespaces.push(name.clone());
        Netns {
            path: PathBuf::from(format!("/run/netns/{name}")),
            name,
        }
    }

    /// Creates a network on free test subnets 10.213.N.0/24 and fd42:b3:N::/64. A
    /// machine-wide lock keeps parallel tests from picking the same N.
    pub fn network(&mut self, n: u32, tweak: impl Fn(&mut NetworkSpec)) -> Network {
        let lock_file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(std::env::temp_dir().join("berth-test-net-subnets.lock"))
            .unwrap();
        let _lock = Flock::lock(lock_file, FlockArg::LockExclusive).unwrap();
        let start = std::process::id() % 200;
        for k in 0..250u32 {
            let third = ((start + k) % 250) as u8;
            let mut spec = NetworkSpec {
                name: format!("berth-test-{}-{n}", self.id),
                subnet_v4: Some(Ipv4Net::new(Ipv4Addr::new(10, 213, third, 0), 24).unwrap()),
                subnet_v6: Some(
                    Ipv6Net::new(
                        Ipv6Addr::new(0xfd42, 0xb3, u16::from(third), 0, 0, 0, 0, 0),
                        64,
                    )
                    .unwrap(),
                ),
                bridge: Some(self.bridge(n)),
                // Never touch the host's own interfaces: no uplink unless a test makes one.
                uplinks: Some(Vec::new()),
                ..NetworkSpec::default()
            };
            tweak(&mut spec);
            match self.store.create(spec) {
                Ok(net) => {
                    self.networks.push(net.clone());
                    return net;
                }
                Err(Error::SubnetOverlap { .. } | Error::HostRouteOverlap { .. }) => continue,
                Err(e) => panic!("create network: {e}"),
            }
        }
        panic!("no free test subnet");
    }

    /// A stand-in for the outside world: namespace `wan` joined to the host by a veth
    /// pair (host side `bthu-<id>`) on a free 10.213.N.0/24, host .1 and wan .2. The wan
    /// has no route back to container subnets, so only masqueraded traffic gets answers.
    pub fn wan(&mut self) -> (Netns, String, Ipv4Addr) {
        let ns = self.netns();
        let host_if = format!("bthu-{}", self.id);
        let lock_file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(std::env::temp_dir().join("berth-test-net-subnets.lock"))
            .unwrap();
        let _lock = Flock::lock(lock_file, FlockArg::LockExclusive).unwrap();
        let routes = sh("ip -4 route");
        let third = (0..250u32)
            .map(|k| ((std::process::id() + 100 + k) % 250) as u8)
            .find(|t| !routes.contains(&format!("10.213.{t}.")))
            .unwrap();
        sh(&format!(
            "ip link add {host_if} type veth peer name wan0 netns {}",
            ns.name
        ));
        sh(&format!("ip addr add 10.213.{third}.1/24 dev {host_if}"));
        sh(&format!("ip link set {host_if} up"));
        ns.exec(&format!("ip addr add 10.213.{third}.2/24 dev wan0"));
        ns.exec("ip link set wan0 up");
        ns.exec("ip link set lo up");
        (ns, host_if, Ipv4Addr::new(10, 213, third, 2))
    }

    pub fn attach(&self, net: &Network, cid: &str, ns: &Netns, opts: AttachOptions) -> Attachment {
        self.store
            .attach(&net.name, cid, &ns.path, &opts)
            .unwrap_or_else(|e| panic!("attach {cid}: {e}"))
    }

    fn cleanup(&mut self) {
        if let Ok(nets) = self.store.list() {
            for net in nets {
                if let Ok(info) = self.store.inspect(&net.name) {
                    for ep in info.endpoints {
                        let _ = self.store.detach(&ep.container_id);
                    }
                }
                let _ = self.store.remove(&net.name);
            }
        }
        let _ = Command::new("ip")
            .args(["link", "del", &format!("bthu-{}", self.id)])
            .output();
        for ns in self.namespaces.drain(..) {
            let _ = Command::new("ip").args(["netns", "del", &ns]).output();
        }
        let _ = std::fs::remove_dir_all(&self.root);
    }

    /// Removes everything through the store and asserts nothing of this test is left.
    pub fn finish(mut self) {
        self.finished = true;
        let nets = self.store.list().unwrap();
        for net in &nets {
            for ep in self.store.inspect(&net.name).unwrap().endpoints {
                self.store.detach(&ep.container_id).unwrap();
            }
            self.store.remove(&net.name).unwrap();
        }
        self.cleanup();
        let links = sh("ip -o link");
        assert!(!links.contains(&self.id), "links left: {links}");
        let ruleset = sh("nft list ruleset");
        assert!(!ruleset.contains(&self.id), "nft content left: {ruleset}");
        let nss = sh("ip netns list");
        assert!(!nss.contains(&self.id), "namespaces left: {nss}");
        // Addresses live on the test's own links (named with its id): none may be left.
        // (Subnets themselves may already be reused by a parallel test.)
        let addrs = sh("ip -o addr");
        assert!(!addrs.contains(&self.id), "addresses left: {addrs}");
        for net in &self.networks {
            for gw in [
                net.gateway_v4.map(|g| g.to_string()),
                net.gateway_v6.map(|g| g.to_string()),
            ]
            .into_iter()
            .flatten()
            {
                let stale = addrs
                    .lines()
                    .any(|l| l.contains(&format!(" {gw}/")) && l.contains(&net.bridge));
                assert!(!stale, "gateway {gw} left on {}", net.bridge);
            }
        }
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        if !self.finished {
            self.cleanup();
        }
    }
}

/// Polls `f` until it returns true or `timeout` passes.
pub fn eventually(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}
