//! Bandwidth caps with tc `tbf` (this kernel has no `police`, `netem` or `fq_codel`).
//!
//! Traffic to the container leaves the host-side veth: a `tbf` root qdisc there caps the
//! container's ingress. Traffic from the container enters the host-side veth: an ingress
//! qdisc redirects it (u32 match-all + mirred) to a per-container ifb device whose `tbf`
//! root caps the container's egress. Both live on host-side devices, out of the tenant's
//! reach. Done with the `tc` tool: netlink-packet-route has no tbf options to build.

use std::process::Command;

use crate::Error;

/// Smallest rate accepted: tbf needs a bucket of at least one MTU sized packet per tick.
pub const MIN_RATE: u64 = 8_000;

fn tc(args: &[&str]) -> Result<(), Error> {
    let out = Command::new("tc")
        .args(args)
        .output()
        .map_err(|source| Error::Spawn {
            program: "tc",
            source,
        })?;
    if out.status.success() {
        Ok(())
    } else {
        Err(Error::Tc {
            args: args.join(" "),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        })
    }
}

/// Bucket size: 20 ms of traffic, at least two full-size frames. A sender that is
/// descheduled for a moment can catch up instead of losing its share, and what it may
/// send above the rate stays below 1% of a one-second average.
fn burst_bytes(bps: u64) -> u64 {
    (bps / 8 / 50).max(2 * 1514 + 64)
}

fn tbf(dev: &str, bps: u64) -> Result<(), Error> {
    let rate = format!("{bps}bit");
    let burst = burst_bytes(bps).to_string();
    tc(&[
        "qdisc", "replace", "dev", dev, "root", "tbf", "rate", &rate, "burst", &burst, "latency",
        "50ms",
    ])
}

/// Caps what the container receives (host veth egress).
pub fn cap_ingress(host_veth: &str, bps: u64) -> Result<(), Error> {
    tbf(host_veth, bps)
}

/// Caps what the container sends: redirect the host veth's ingress to `ifb` and shape there.
pub fn cap_egress(host_veth: &str, ifb: &str, bps: u64) -> Result<(), Error> {
    tbf(ifb, bps)?;
    tc(&[
        "qdisc", "replace", "dev", host_veth, "handle", "ffff:", "ingress",
    ])?;
    tc(&[
        "filter", "replace", "dev", host_veth, "parent", "ffff:", "protocol", "all", "prio", "1",
        "u32", "match", "u32", "0", "0", "action", "mirred", "egress", "redirect", "dev", ifb,
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_scales_with_rate() {
        assert_eq!(burst_bytes(10_000_000), 25_000);
        assert_eq!(burst_bytes(MIN_RATE), 2 * 1514 + 64);
    }
}
