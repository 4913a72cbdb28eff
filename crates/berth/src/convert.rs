//! Command-line flags to the manager's types.

use anyhow::{bail, Context};
use berth_manager::netflags;
use berth_manager::units::parse_size;
use berth_manager::{DeviceRate, Limits, NetworkMode, RunConfig, Volume};

use crate::cli::{CreateArgs, LimitArgs};

pub fn limits(a: &LimitArgs) -> anyhow::Result<(Limits, Option<u64>)> {
    let size = |opt: &'static str, v: &Option<String>| -> anyhow::Result<Option<i64>> {
        Ok(match v.as_deref() {
            None => None,
            Some("-1") => Some(-1),
            Some(s) => Some(parse_size(opt, s)? as i64),
        })
    };
    let devs = |opt: &'static str, v: &[String], iops: bool| -> anyhow::Result<Vec<DeviceRate>> {
        v.iter()
            .map(|d| Ok(DeviceRate::parse(opt, d, iops)?))
            .collect()
    };
    let l = Limits {
        memory: size("--memory", &a.memory)?,
        memory_swap: size("--memory-swap", &a.memory_swap)?,
        memory_reservation: size("--memory-reservation", &a.memory_reservation)?,
        cpus: a.cpus,
        cpu_shares: a.cpu_shares,
        cpu_quota: a.cpu_quota,
        cpu_period: a.cpu_period,
        cpuset_cpus: a.cpuset_cpus.clone(),
        pids_limit: a.pids_limit,
        blkio_weight: a.blkio_weight,
        device_read_bps: devs("--device-read-bps", &a.device_read_bps, false)?,
        device_write_bps: devs("--device-write-bps", &a.device_write_bps, false)?,
        device_read_iops: devs("--device-read-iops", &a.device_read_iops, true)?,
        device_write_iops: devs("--device-write-iops", &a.device_write_iops, true)?,
    };
    let mut disk = match &a.disk {
        Some(d) => Some(parse_size("--disk", d)?),
        None => None,
    };
    for o in &a.storage_opt {
        match o.split_once('=') {
            Some(("size", v)) => disk = Some(parse_size("--storage-opt size", v)?),
            _ => bail!("--storage-opt {o:?}: only size=SIZE is supported"),
        }
    }
    Ok((l, disk))
}

/// `rest` is `[IMAGE] [COMMAND...]`; when the user wrote `--` before it, there is no image
/// and the container runs on the host's own tree.
pub fn run_config(a: &CreateArgs, raw_args: &[String]) -> anyhow::Result<RunConfig> {
    let host_tree = match raw_args.iter().position(|x| x == "--") {
        Some(dd) => {
            let after = &raw_args[dd + 1..];
            !a.rest.is_empty() && after.len() == a.rest.len() && after == a.rest.as_slice()
        }
        None => false,
    };
    let (image, command) = if host_tree || a.rest.is_empty() {
        (None, a.rest.clone())
    } else {
        (Some(a.rest[0].clone()), a.rest[1..].to_vec())
    };
    let mut env = Vec::new();
    for f in &a.env_file {
        let text = std::fs::read_to_string(f).with_context(|| format!("read {}", f.display()))?;
        for line in text.lines().map(str::trim) {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            env.push(expand_env(line));
        }
    }
    env.extend(a.env.iter().map(|e| expand_env(e)));
    let volumes = a
        .volume
        .iter()
        .map(|v| parse_volume(v))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let (network, extra_networks) = parse_networks(&a.network)?;
    let publish = a
        .publish
        .iter()
        .map(|p| parse_publish(p))
        .collect::<anyhow::Result<Vec<_>>>()?;
    if !publish.is_empty() && !matches!(network, NetworkMode::Bridge(_)) {
        bail!("-p needs a bridge network (--network default or a network's name)");
    }
    let bridge = matches!(network, NetworkMode::Bridge(_));
    let needs_bridge = |flag: &str, given: bool| -> anyhow::Result<()> {
        if given && !bridge {
            bail!("{flag} needs a bridge network (--network default or a network's name)");
        }
        Ok(())
    };
    needs_bridge("--ip", a.ip.is_some())?;
    needs_bridge("--mac-address", a.mac_address.is_some())?;
    needs_bridge("--net-egress", a.net_egress.is_some())?;
    needs_bridge("--net-ingress", a.net_ingress.is_some())?;
    needs_bridge("--firewall", !a.firewall.is_empty())?;
    let ip =
        a.ip.as_deref()
            .map(|s| s.parse().with_context(|| format!("--ip {s:?}")))
            .transpose()?;
    let mac = a
        .mac_address
        .as_deref()
        .map(|s| {
            s.parse::<berth_net::MacAddr>()
                .map_err(|e| anyhow::anyhow!("--mac-address {s:?}: {e}"))
        })
        .transpose()?;
    let dns = a
        .dns
        .iter()
        .map(|s| s.parse().with_context(|| format!("--dns {s:?}")))
        .collect::<anyhow::Result<Vec<std::net::IpAddr>>>()?;
    let extra_hosts = a
        .add_host
        .iter()
        .map(|h| Ok(netflags::parse_host("--add-host", h)?))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let rate = |flag: &'static str, v: &Option<String>| -> anyhow::Result<Option<u64>> {
        v.as_deref()
            .map(|s| anyhow::Ok(netflags::parse_rate(flag, s)?))
            .transpose()
    };
    let firewall = a
        .firewall
        .iter()
        .map(|r| Ok(netflags::parse_rule("--firewall", r)?))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let (limits, disk) = limits(&a.limits)?;
    // Sharing a network namespace implies --userns host (see manager::userns).
    let userns_private = match a.userns.as_deref() {
        None | Some("") => !matches!(network, NetworkMode::Container(_)),
        Some("private") => true,
        Some("host") => false,
        Some(other) => bail!("--userns {other:?}: use host or private"),
    };
    Ok(RunConfig {
        name: a.name.clone(),
        image,
        command,
        entrypoint: a.entrypoint.clone(),
        env,
        volumes,
        workdir: a.workdir.clone(),
        user: a.user.clone(),
        hostname: a.hostname.clone(),
        read_only: a.read_only,
        interactive: a.interactive,
        tty: a.tty,
        auto_remove: a.rm,
        init: a.init,
        network,
        userns_private,
        extra_networks,
        publish,
        ip,
        mac,
        dns,
        extra_hosts,
        net_egress_bps: rate("--net-egress", &a.net_egress)?,
        net_ingress_bps: rate("--net-ingress", &a.net_ingress)?,
        firewall,
        limits,
        disk,
    })
}

/// `-e NAME` takes NAME's value from our environment (as docker).
fn expand_env(e: &str) -> String {
    if e.contains('=') {
        e.to_string()
    } else {
        format!("{e}={}", std::env::var(e).unwrap_or_default())
    }
}

fn parse_volume(v: &str) -> anyhow::Result<Volume> {
    let parts: Vec<&str> = v.split(':').collect();
    let (host, ctr, ro) = match parts.as_slice() {
        [h, c] => (*h, *c, false),
        [h, c, "ro"] => (*h, *c, true),
        [h, c, "rw"] => (*h, *c, false),
        _ => bail!("-v {v:?}: expected HOST:CONTAINER[:ro]"),
    };
    if !host.starts_with('/') || !ctr.starts_with('/') {
        bail!("-v {v:?}: both paths must be absolute");
    }
    let host = std::fs::canonicalize(host).with_context(|| format!("-v {v:?}: {host}"))?;
    Ok(Volume {
        host,
        container: ctr.to_string(),
        read_only: ro,
    })
}

/// `[HOSTIP:]HOSTPORT:CONTAINERPORT[/tcp|udp]`; an IPv6 host address in brackets.
/// `--network` values (repeated and/or comma-separated): one mode, or several berth
/// networks (the first gets eth0 and the default routes).
fn parse_networks(values: &[String]) -> anyhow::Result<(NetworkMode, Vec<String>)> {
    let names: Vec<&str> = values.iter().flat_map(|v| v.split(',')).collect();
    if names.is_empty() {
        return Ok((NetworkMode::None, Vec::new()));
    }
    let mut bridges = Vec::new();
    for name in &names {
        match *name {
            "" => bail!("--network: an empty network name in {values:?}"),
            "none" | "host" => {}
            n if n.starts_with("container:") => {}
            n => {
                if bridges.contains(&n.to_string()) {
                    bail!("--network {n} given twice");
                }
                bridges.push(n.to_string());
                continue;
            }
        }
        if names.len() > 1 {
            bail!("--network {name} cannot be combined with other networks");
        }
    }
    let mode = match names[0] {
        "none" => NetworkMode::None,
        "host" => NetworkMode::Host,
        other if other.starts_with("container:") => {
            let target = &other["container:".len()..];
            if target.is_empty() {
                bail!("--network container:ID needs a container's name or id");
            }
            NetworkMode::Container(target.to_string())
        }
        _ => NetworkMode::Bridge(bridges.remove(0)),
    };
    Ok((mode, bridges))
}

fn parse_publish(p: &str) -> anyhow::Result<berth_net::PortMapping> {
    let (spec, proto) = match p.rsplit_once('/') {
        Some((s, "tcp")) => (s, berth_net::PortProto::Tcp),
        Some((s, "udp")) => (s, berth_net::PortProto::Udp),
        Some((_, other)) => bail!("-p {p:?}: unknown protocol {other:?}"),
        None => (p, berth_net::PortProto::Tcp),
    };
    let (rest, ctr) = spec
        .rsplit_once(':')
        .ok_or_else(|| anyhow::anyhow!("-p {p:?}: expected [HOSTIP:]HOSTPORT:CONTAINERPORT"))?;
    let (host_ip, host_port) = match rest.rsplit_once(':') {
        Some((ip, port)) => {
            let ip = ip.trim_start_matches('[').trim_end_matches(']');
            (
                Some(
                    ip.parse()
                        .with_context(|| format!("-p {p:?}: host address"))?,
                ),
                port,
            )
        }
        None => (None, rest),
    };
    Ok(berth_net::PortMapping {
        proto,
        host_ip,
        host_port: host_port
            .parse()
            .with_context(|| format!("-p {p:?}: host port"))?,
        container_port: ctr
            .parse()
            .with_context(|| format!("-p {p:?}: container port"))?,
    })
}
