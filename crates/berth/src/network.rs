//! `berth network create|ls|inspect|rm`.

use anyhow::Context;
use berth_manager::Manager;
use berth_net::NetworkSpec;

use crate::cli::{NetworkCommand, RuleCommand};
use crate::output::Table;

pub fn run(m: &Manager, c: NetworkCommand) -> anyhow::Result<i32> {
    match c {
        NetworkCommand::Create {
            subnet,
            subnet_v6,
            internal,
            isolate,
            name,
        } => {
            let spec = NetworkSpec {
                name,
                subnet_v4: subnet
                    .map(|s| s.parse().with_context(|| format!("--subnet {s:?}")))
                    .transpose()?,
                subnet_v6: subnet_v6
                    .map(|s| s.parse().with_context(|| format!("--subnet-v6 {s:?}")))
                    .transpose()?,
                gateway_v4: None,
                gateway_v6: None,
                internal,
                isolate,
                bridge: None,
                uplinks: None,
            };
            let n = m.network_create(spec)?;
            println!("{}", n.name);
        }
        NetworkCommand::Ls => {
            let mut t = Table::new(&["NAME", "BRIDGE", "SUBNET", "SUBNET6", "INTERNAL"]);
            for n in m.network_list()? {
                t.row(vec![
                    n.name.clone(),
                    n.bridge.clone(),
                    n.subnet_v4.map(|s| s.to_string()).unwrap_or_default(),
                    n.subnet_v6.map(|s| s.to_string()).unwrap_or_default(),
                    n.internal.to_string(),
                ]);
            }
            t.print();
        }
        NetworkCommand::Inspect { names } => {
            let mut out = Vec::new();
            for n in &names {
                let info = m.network_inspect(n)?;
                let containers: Vec<&str> = info
                    .endpoints
                    .iter()
                    .map(|e| e.container_id.as_str())
                    .collect();
                out.push(serde_json::json!({
                    "network": serde_json::to_value(&info.network)?,
                    "containers": containers,
                    "endpoints": serde_json::to_value(&info.endpoints)?,
                }));
            }
            println!("{}", serde_json::to_string_pretty(&out)?);
        }
        NetworkCommand::Rule(r) => rule(m, r)?,
        NetworkCommand::Connect {
            ip,
            network,
            container,
        } => {
            let ip = ip
                .map(|s| s.parse().with_context(|| format!("--ip {s:?}")))
                .transpose()?;
            let att = m.network_connect(&network, &container, ip)?;
            println!("{}", att.ifname);
        }
        NetworkCommand::Disconnect { network, container } => {
            m.network_disconnect(&network, &container)?;
        }
        NetworkCommand::Rm { names } => {
            return crate::containers::each(&names, |n| {
                m.network_remove(n)?;
                println!("{n}");
                Ok(())
            })
        }
    }
    Ok(0)
}

/// `berth network rule add|rm|ls CONTAINER [RULE...]`.
fn rule(m: &Manager, c: RuleCommand) -> anyhow::Result<()> {
    match c {
        RuleCommand::Add { container, rule } => {
            let r = berth_manager::netflags::parse_rule("rule", &rule.join(" "))?;
            m.network_rule_add(&container, r)?;
        }
        RuleCommand::Rm { container, rule } => {
            let r = berth_manager::netflags::parse_rule("rule", &rule.join(" "))?;
            m.network_rule_remove(&container, &r)?;
        }
        RuleCommand::Ls { container } => {
            for r in m.network_rules(&container)? {
                println!("{r}");
            }
        }
    }
    Ok(())
}
