//! The nftables side. berth keeps everything in two tables of its own, `inet berth` and
//! `bridge berth`, and never reads or writes the host's other tables. Every change is one
//! `nft -f -` transaction, so it applies whole or not at all.
//!
//! The base chains are created once (`base`); networks (`network`) and endpoints
//! (`endpoint`) only add regular chains and set or map elements, reached through verdict
//! maps keyed by interface name or subnet. A packet therefore crosses the same few base
//! chains however many networks exist.

mod base;
mod endpoint;
mod network;
mod rule;

use std::io::Write;
use std::process::{Command, Stdio};

use crate::Error;

pub use base::{drop_base_if_unused, ensure_base};
pub use endpoint::{attach, detach, set_rules};
pub use network::{add_network, delete_network, uplink_guard};

/// Name of berth's tables (family `inet` and family `bridge`).
pub const TABLE: &str = "berth";

/// Lock file serialising, host-wide, the creation and removal of networks (see
/// `bridge::host_lock`).
pub const HOST_LOCK: &str = "/run/lock/berth-net.lock";

/// Runs one `nft -f -` transaction.
pub fn apply(op: &str, script: &str) -> Result<(), Error> {
    let mut child = Command::new("nft")
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| Error::Spawn {
            program: "nft",
            source,
        })?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(script.as_bytes())
            .map_err(|source| Error::Spawn {
                program: "nft",
                source,
            })?;
    }
    let out = child.wait_with_output().map_err(|source| Error::Spawn {
        program: "nft",
        source,
    })?;
    if out.status.success() {
        Ok(())
    } else {
        Err(Error::Nft {
            op: op.into(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        })
    }
}

/// The listing of berth's `inet` table (empty when it does not exist).
pub fn list_inet() -> Result<String, Error> {
    let out = Command::new("nft")
        .args(["list", "table", "inet", TABLE])
        .stderr(Stdio::null())
        .output()
        .map_err(|source| Error::Spawn {
            program: "nft",
            source,
        })?;
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Whether `table <family> <name>` exists.
pub fn table_exists(family: &str, name: &str) -> Result<bool, Error> {
    Ok(tables()?.contains(&format!("table {family} {name}")))
}

/// Whether both of berth's tables exist (one `nft list tables`, which lists names only).
pub fn base_exists() -> Result<bool, Error> {
    let tables = tables()?;
    Ok(["inet", "bridge"]
        .iter()
        .all(|f| tables.contains(&format!("table {f} {TABLE}"))))
}

/// The names of all tables, one `table <family> <name>` a line.
fn tables() -> Result<Vec<String>, Error> {
    let out = Command::new("nft")
        .args(["list", "tables"])
        .stderr(Stdio::null())
        .output()
        .map_err(|source| Error::Spawn {
            program: "nft",
            source,
        })?;
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.trim().to_string())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        Action, Attachment, Direction, MacAddr, Network, PortMapping, PortProto, Proto, Rule,
    };

    pub fn sample() -> (Network, Attachment) {
        let net = Network {
            name: "n".into(),
            bridge: "bth-unit".into(),
            subnet_v4: Some("10.213.250.0/24".parse().unwrap()),
            gateway_v4: Some("10.213.250.1".parse().unwrap()),
            subnet_v6: Some("fd42:b3:fa::/64".parse().unwrap()),
            gateway_v6: Some("fd42:b3:fa::1".parse().unwrap()),
            internal: false,
            isolate: true,
            uplinks: vec!["eth0".into()],
        };
        let a = Attachment {
            container_id: "unit1".into(),
            network: "n".into(),
            slot: 0,
            ifname: "eth0".into(),
            host_veth: "bthv-unit1".into(),
            ifb: None,
            mac: MacAddr([2, 0xb3, 1, 2, 3, 4]),
            ipv4: Some("10.213.250.2".parse().unwrap()),
            ipv6: Some("fd42:b3:fa::2".parse().unwrap()),
            publish: vec![
                PortMapping {
                    proto: PortProto::Tcp,
                    host_ip: None,
                    host_port: 18080,
                    container_port: 80,
                },
                PortMapping {
                    proto: PortProto::Udp,
                    host_ip: Some("127.0.0.1".parse().unwrap()),
                    host_port: 18053,
                    container_port: 53,
                },
            ],
            egress_bps: None,
            ingress_bps: None,
            firewall: vec![
                Rule {
                    action: Action::Deny,
                    direction: Direction::In,
                    peer: Some("10.213.250.0/28".parse().unwrap()),
                    proto: Some(Proto::Tcp),
                    port: Some(22),
                },
                Rule {
                    action: Action::Allow,
                    direction: Direction::Out,
                    peer: None,
                    proto: Some(Proto::Icmp),
                    port: None,
                },
            ],
        };
        (net, a)
    }

    #[test]
    fn rule_text() {
        let (_, a) = sample();
        assert_eq!(
            rule::rule_statement(&a.firewall[0], "return"),
            "ip saddr 10.213.250.0/28 tcp dport 22 drop"
        );
        assert_eq!(
            rule::rule_statement(&a.firewall[1], "accept"),
            "meta l4proto { icmp, ipv6-icmp } accept"
        );
    }

    /// The generated scripts apply, one after the other, in an empty network namespace,
    /// and leave only the empty base behind.
    #[test]
    fn generated_scripts_apply_in_a_private_namespace() {
        let (net, a) = sample();
        let dir = std::env::temp_dir().join(format!("berth-test-nft-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let steps = [
            base::scripts(),
            add_network(&net),
            attach(&net, &a, "unit1"),
            uplink_guard("eth0", true),
            set_rules(&a, "unit1"),
            detach(&net, &a, "unit1"),
            uplink_guard("eth0", false),
            // As listed after `add_network`: the interval elements are there.
            delete_network(&net, "jump n-bth-unit-raw4 jump n-bth-unit-raw6 jump n-bth-unit-post4 jump n-bth-unit-post6"),
        ];
        let mut cmd = String::new();
        for (i, step) in steps.iter().enumerate() {
            let path = dir.join(format!("{i}.nft"));
            std::fs::write(&path, step).unwrap();
            cmd.push_str(&format!("nft -f {} && ", path.display()));
        }
        cmd.push_str("nft list ruleset");
        let out = Command::new("unshare")
            .args(["-n", "sh", "-c", &cmd])
            .output()
            .unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        let listing = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            !listing.contains("bth-unit") && !listing.contains("unit1"),
            "{listing}"
        );
        assert!(listing.contains("table bridge berth") && listing.contains("chain spoof"));
    }
}
