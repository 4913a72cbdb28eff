//! Value conversions between the OCI (cgroup v1 shaped) knobs and cgroup v2 files.

/// cpu.shares (2..=262144, default 1024) to cpu.weight (1..=10000, default 100).
///
/// Uses the quadratic-in-log2 curve that runc (1.3+) and crun (1.21+) adopted so that the
/// defaults map onto each other (1024 -> 100); the older linear formula mapped 1024 to 39
/// and gave containers far less CPU than v1 did. 0 means "unset" and maps to 0.
pub fn cpu_shares_to_weight(shares: u64) -> u64 {
    if shares == 0 {
        return 0;
    }
    if shares <= 2 {
        return 1;
    }
    if shares >= 262_144 {
        return 10_000;
    }
    let l = (shares as f64).log2();
    let exponent = (l * l + 125.0 * l) / 612.0 - 7.0 / 34.0;
    10f64.powf(exponent).ceil() as u64
}

/// blkio weight (10..=1000) to io.weight (1..=10000), as runc does for io.weight when the
/// BFQ file (which takes the v1 range as is) is missing.
pub fn blkio_weight_to_io_weight(weight: u16) -> u64 {
    if weight == 0 {
        return 0;
    }
    let w = u64::from(weight.max(10));
    1 + (w - 10) * 9999 / 990
}

/// OCI memory.swap is memory+swap; memory.swap.max is swap alone. Returns the value for
/// memory.swap.max ("max" for unlimited), or the reason the pair is invalid.
pub fn swap_to_v2(swap: i64, limit: Option<i64>) -> Result<String, &'static str> {
    if swap == -1 {
        return Ok("max".into());
    }
    if swap == 0 {
        return Ok("0".into());
    }
    match limit {
        None | Some(0) | Some(-1) => Err("a swap limit needs a memory limit on cgroup v2"),
        Some(l) if l < 0 => Err("memory limit is negative"),
        Some(l) if swap < l => Err("memory+swap limit must be >= memory limit"),
        Some(l) => Ok((swap - l).to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_to_weight_fits_min_default_max() {
        assert_eq!(cpu_shares_to_weight(0), 0);
        assert_eq!(cpu_shares_to_weight(2), 1);
        assert_eq!(cpu_shares_to_weight(1024), 100);
        assert_eq!(cpu_shares_to_weight(262_144), 10_000);
        assert_eq!(cpu_shares_to_weight(1 << 20), 10_000);
        // monotonic
        let mut last = 0;
        for s in (2..262_144).step_by(997) {
            let w = cpu_shares_to_weight(s);
            assert!(w >= last, "{s}");
            last = w;
        }
    }

    #[test]
    fn blkio_weight_scale() {
        assert_eq!(blkio_weight_to_io_weight(10), 1);
        assert_eq!(blkio_weight_to_io_weight(1000), 10_000);
        assert_eq!(blkio_weight_to_io_weight(500), 1 + 490 * 9999 / 990);
    }

    #[test]
    fn swap_conversion() {
        assert_eq!(swap_to_v2(-1, Some(100)).unwrap(), "max");
        assert_eq!(swap_to_v2(300, Some(100)).unwrap(), "200");
        assert_eq!(swap_to_v2(100, Some(100)).unwrap(), "0");
        assert!(swap_to_v2(50, Some(100)).is_err());
        assert!(swap_to_v2(300, None).is_err());
    }
}
