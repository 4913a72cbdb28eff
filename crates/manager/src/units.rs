//! docker's spellings of sizes and rates: `64m`, `2G`, `1.5g`, `512` (bytes), `1mb`.

use crate::error::{Error, Result};

/// Parse a size in bytes with an optional binary unit suffix (b, k, m, g, t; an optional
/// trailing `b`/`ib`), case-insensitive, as docker's `units.RAMInBytes`.
pub fn parse_size(option: &'static str, value: &str) -> Result<u64> {
    let bad = |reason: &str| Error::InvalidOption {
        option,
        value: value.to_string(),
        reason: reason.to_string(),
    };
    let v = value.trim().to_ascii_lowercase();
    let split = v
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(v.len());
    let (num, unit) = v.split_at(split);
    if num.is_empty() {
        return Err(bad("expected a number with an optional unit (k, m, g, t)"));
    }
    let num: f64 = num.parse().map_err(|_| bad("not a number"))?;
    let unit = unit
        .strip_suffix("ib")
        .or_else(|| unit.strip_suffix('b').filter(|u| !u.is_empty()))
        .unwrap_or(unit);
    let mult: u64 = match unit {
        "" | "b" => 1,
        "k" => 1 << 10,
        "m" => 1 << 20,
        "g" => 1 << 30,
        "t" => 1 << 40,
        _ => return Err(bad("unknown unit (use b, k, m, g or t)")),
    };
    let bytes = num * mult as f64;
    if !bytes.is_finite() || bytes < 0.0 || bytes > u64::MAX as f64 {
        return Err(bad("out of range"));
    }
    Ok(bytes as u64)
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("x", "512").unwrap(), 512);
        assert_eq!(parse_size("x", "64m").unwrap(), 64 << 20);
        assert_eq!(parse_size("x", "64M").unwrap(), 64 << 20);
        assert_eq!(parse_size("x", "2G").unwrap(), 2 << 30);
        assert_eq!(parse_size("x", "1mb").unwrap(), 1 << 20);
        assert_eq!(parse_size("x", "1.5k").unwrap(), 1536);
        assert_eq!(parse_size("x", "3KiB").unwrap(), 3072);
        assert!(parse_size("x", "m").is_err());
        assert!(parse_size("x", "12q").is_err());
    }
}
