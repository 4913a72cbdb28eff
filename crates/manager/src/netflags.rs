//! The network flags' small languages: firewall rules (`allow|deny in|out [tcp|udp|icmp]
//! [port N] [from|to CIDR]`, shared by `--firewall` and `berth network rule`), bandwidth
//! rates (`10mbit`), `--add-host NAME:ADDR`.

use std::net::IpAddr;

use berth_net::{Action, Direction, Proto, Rule};
use ipnet::IpNet;

use crate::error::{Error, Result};

fn invalid(option: &'static str, value: &str, reason: impl Into<String>) -> Error {
    Error::InvalidOption {
        option,
        value: value.to_string(),
        reason: reason.into(),
    }
}

/// A rule from its words (`rule` is the whole text, for messages).
pub fn parse_rule(option: &'static str, rule: &str) -> Result<Rule> {
    let words: Vec<&str> = rule.split_whitespace().collect();
    let err = |reason: String| invalid(option, rule, reason);
    let action = match words.first().copied() {
        Some("allow") => Action::Allow,
        Some("deny") => Action::Deny,
        other => return Err(err(format!("expected allow or deny, got {other:?}"))),
    };
    let direction = match words.get(1).copied() {
        Some("in") => Direction::In,
        Some("out") => Direction::Out,
        other => return Err(err(format!("expected in or out, got {other:?}"))),
    };
    let mut out = Rule {
        action,
        direction,
        peer: None,
        proto: None,
        port: None,
    };
    let mut rest = words[2..].iter().copied();
    while let Some(w) = rest.next() {
        match w {
            "tcp" | "udp" | "icmp" if out.proto.is_none() => {
                out.proto = Some(match w {
                    "tcp" => Proto::Tcp,
                    "udp" => Proto::Udp,
                    _ => Proto::Icmp,
                });
            }
            "port" if out.port.is_none() => {
                let v = rest
                    .next()
                    .ok_or_else(|| err("port needs a number".into()))?;
                let port: u16 = v
                    .parse()
                    .ok()
                    .filter(|p| *p != 0)
                    .ok_or_else(|| err(format!("bad port {v:?}")))?;
                out.port = Some(port);
            }
            "from" | "to" if out.peer.is_none() => {
                let want = if direction == Direction::In {
                    "from"
                } else {
                    "to"
                };
                if w != want {
                    return Err(err(format!(
                        "an {} rule names its peer with {want:?}",
                        if direction == Direction::In {
                            "in"
                        } else {
                            "out"
                        }
                    )));
                }
                let v = rest
                    .next()
                    .ok_or_else(|| err(format!("{w} needs an address or CIDR")))?;
                out.peer = Some(parse_peer(v).ok_or_else(|| err(format!("bad address {v:?}")))?);
            }
            other => return Err(err(format!("unexpected word {other:?}"))),
        }
    }
    if out.port.is_some() && !matches!(out.proto, Some(Proto::Tcp) | Some(Proto::Udp)) {
        return Err(err("a port needs tcp or udp".into()));
    }
    Ok(out)
}

/// `10.0.0.0/8`, or one address (a /32 or /128).
fn parse_peer(s: &str) -> Option<IpNet> {
    if let Ok(n) = s.parse::<IpNet>() {
        return Some(n.trunc());
    }
    s.parse::<IpAddr>().ok().map(IpNet::from)
}

/// A rate in bits per second: `500kbit`, `10mbit`, `1gbit`, `1000` (bit/s); decimal (SI)
/// multipliers as tc. `bps`-style byte units are refused to avoid an 8x surprise.
pub fn parse_rate(option: &'static str, s: &str) -> Result<u64> {
    let lower = s.trim().to_ascii_lowercase();
    let split = lower
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(lower.len());
    let (num, unit) = lower.split_at(split);
    let mult: u64 = match unit {
        "" | "bit" => 1,
        "k" | "kbit" => 1_000,
        "m" | "mbit" => 1_000_000,
        "g" | "gbit" => 1_000_000_000,
        _ => {
            return Err(invalid(
                option,
                s,
                "expected a number with bit, kbit, mbit or gbit",
            ))
        }
    };
    let n: f64 = num
        .parse()
        .map_err(|_| invalid(option, s, "expected a number with bit, kbit, mbit or gbit"))?;
    let bps = n * mult as f64;
    if !bps.is_finite() || bps < 1.0 || bps > u64::MAX as f64 {
        return Err(invalid(option, s, "the rate must be at least 1 bit/s"));
    }
    Ok(bps as u64)
}

/// `NAME:ADDR` (the address may be IPv6, so split at the first colon).
pub fn parse_host(option: &'static str, s: &str) -> Result<(String, IpAddr)> {
    let (name, addr) = s
        .split_once(':')
        .ok_or_else(|| invalid(option, s, "expected NAME:ADDR"))?;
    let valid = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == '_');
    if !valid {
        return Err(invalid(option, s, "bad host name"));
    }
    let addr = addr
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .map_err(|_| invalid(option, s, "bad address"))?;
    Ok((name.to_string(), addr))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_parse_and_print_back() {
        let r = parse_rule("--firewall", "deny in tcp port 8080").unwrap();
        assert_eq!(r.action, Action::Deny);
        assert_eq!(r.direction, Direction::In);
        assert_eq!(r.proto, Some(Proto::Tcp));
        assert_eq!(r.port, Some(8080));
        assert_eq!(r.peer, None);
        let r = parse_rule("--firewall", "allow out udp port 53 to 10.1.2.3").unwrap();
        assert_eq!(r.peer, Some("10.1.2.3/32".parse().unwrap()));
        assert_eq!(r.to_string(), "allow out to 10.1.2.3/32 udp port 53");
        // What Display prints parses back to the same rule.
        assert_eq!(parse_rule("x", &r.to_string()).unwrap(), r);
        let r = parse_rule("x", "deny out to 10.9.0.0/16").unwrap();
        assert_eq!(r.peer, Some("10.9.0.0/16".parse().unwrap()));
    }

    #[test]
    fn bad_rules_are_refused() {
        for bad in [
            "",
            "drop in",
            "deny sideways",
            "deny in port 80",
            "deny in icmp port 80",
            "deny in tcp port 0",
            "deny in tcp port 70000",
            "deny in to 10.0.0.1",
            "deny out from 10.0.0.1",
            "deny in from nowhere",
            "deny in tcp tcp",
            "deny in tcp port",
        ] {
            let e = parse_rule("--firewall", bad).unwrap_err();
            assert!(e.to_string().contains("--firewall"), "{e}");
        }
    }

    #[test]
    fn rates() {
        assert_eq!(parse_rate("r", "10mbit").unwrap(), 10_000_000);
        assert_eq!(parse_rate("r", "1gbit").unwrap(), 1_000_000_000);
        assert_eq!(parse_rate("r", "500kbit").unwrap(), 500_000);
        assert_eq!(parse_rate("r", "1.5Mbit").unwrap(), 1_500_000);
        assert_eq!(parse_rate("r", "9600").unwrap(), 9600);
        for bad in ["", "fast", "10mb", "-1mbit", "0", "mbit"] {
            assert!(parse_rate("r", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn hosts() {
        assert_eq!(
            parse_host("h", "db:10.0.0.5").unwrap(),
            ("db".to_string(), "10.0.0.5".parse().unwrap())
        );
        assert_eq!(
            parse_host("h", "v6:fd00::1").unwrap().1,
            "fd00::1".parse::<IpAddr>().unwrap()
        );
        assert!(parse_host("h", "db").is_err());
        assert!(parse_host("h", "d b:10.0.0.1").is_err());
        assert!(parse_host("h", "db:x").is_err());
    }
}
