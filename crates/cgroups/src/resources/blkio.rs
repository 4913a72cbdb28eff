//! blockIO knobs (v1 blkio, v2 io).

use oci_spec::runtime::{LinuxBlockIo, LinuxThrottleDevice};

use super::{convert, Layout, Version, Write};
use crate::Error;

const CFQ_GONE: &str = "leaf weights need the CFQ I/O scheduler, removed in Linux 5.0";

pub(super) fn plan(b: &LinuxBlockIo, layout: &Layout, w: &mut Vec<Write>) -> Result<(), Error> {
    let empty = |d: &Option<Vec<LinuxThrottleDevice>>| !d.as_ref().is_some_and(|d| !d.is_empty());
    let any = b.weight().is_some()
        || b.leaf_weight().is_some()
        || b.weight_device().as_ref().is_some_and(|d| !d.is_empty())
        || !empty(b.throttle_read_bps_device())
        || !empty(b.throttle_write_bps_device())
        || !empty(b.throttle_read_iops_device())
        || !empty(b.throttle_write_iops_device());
    if !any {
        return Ok(());
    }
    match layout.place("blockIO", "blkio")? {
        Version::V1 => v1(b, w),
        Version::V2 => v2(b, w),
    }
}

fn v1(b: &LinuxBlockIo, w: &mut Vec<Write>) -> Result<(), Error> {
    let v = Version::V1;
    let c = "blkio";
    if let Some(weight) = b.weight() {
        w.push(
            Write::new("blockIO.weight", v, c, "blkio.weight", weight.to_string())
                .fallback("blkio.bfq.weight", weight.to_string())
                .hint("neither CFQ nor BFQ weights are available"),
        );
    }
    if let Some(lw) = b.leaf_weight() {
        w.push(
            Write::new(
                "blockIO.leafWeight",
                v,
                c,
                "blkio.leaf_weight",
                lw.to_string(),
            )
            .hint(CFQ_GONE),
        );
    }
    for d in b.weight_device().iter().flatten() {
        let dev = format!("{}:{}", d.major(), d.minor());
        if let Some(weight) = d.weight() {
            let value = format!("{dev} {weight}");
            w.push(
                Write::new(
                    "blockIO.weightDevice",
                    v,
                    c,
                    "blkio.weight_device",
                    value.clone(),
                )
                .fallback("blkio.bfq.weight_device", value)
                .hint("neither CFQ nor BFQ weights are available"),
            );
        }
        if let Some(lw) = d.leaf_weight() {
            w.push(
                Write::new(
                    "blockIO.weightDevice.leafWeight",
                    v,
                    c,
                    "blkio.leaf_weight_device",
                    format!("{dev} {lw}"),
                )
                .hint(CFQ_GONE),
            );
        }
    }
    let throttles: [(&'static str, &Option<Vec<LinuxThrottleDevice>>, &str); 4] = [
        (
            "blockIO.throttleReadBpsDevice",
            b.throttle_read_bps_device(),
            "blkio.throttle.read_bps_device",
        ),
        (
            "blockIO.throttleWriteBpsDevice",
            b.throttle_write_bps_device(),
            "blkio.throttle.write_bps_device",
        ),
        (
            "blockIO.throttleReadIOPSDevice",
            b.throttle_read_iops_device(),
            "blkio.throttle.read_iops_device",
        ),
        (
            "blockIO.throttleWriteIOPSDevice",
            b.throttle_write_iops_device(),
            "blkio.throttle.write_iops_device",
        ),
    ];
    for (knob, devs, file) in throttles {
        for d in devs.iter().flatten() {
            w.push(
                Write::new(
                    knob,
                    v,
                    c,
                    file,
                    format!("{}:{} {}", d.major(), d.minor(), d.rate()),
                )
                .hint("the kernel lacks CONFIG_BLK_DEV_THROTTLING"),
            );
        }
    }
    Ok(())
}

fn v2(b: &LinuxBlockIo, w: &mut Vec<Write>) -> Result<(), Error> {
    let v = Version::V2;
    let c = "io";
    if b.leaf_weight().is_some()
        || b.weight_device()
            .iter()
            .flatten()
            .any(|d| d.leaf_weight().is_some())
    {
        return Err(Error::InvalidValue {
            knob: "blockIO.leafWeight",
            value: format!("{:?}", b.leaf_weight()),
            reason: CFQ_GONE,
        });
    }
    if let Some(weight) = b.weight() {
        w.push(
            Write::new("blockIO.weight", v, c, "io.bfq.weight", weight.to_string())
                .fallback(
                    "io.weight",
                    convert::blkio_weight_to_io_weight(weight).to_string(),
                )
                .hint("neither BFQ nor io.weight is available"),
        );
    }
    for d in b.weight_device().iter().flatten() {
        if let Some(weight) = d.weight() {
            let dev = format!("{}:{}", d.major(), d.minor());
            w.push(
                Write::new(
                    "blockIO.weightDevice",
                    v,
                    c,
                    "io.bfq.weight",
                    format!("{dev} {weight}"),
                )
                .fallback(
                    "io.weight",
                    format!("{dev} {}", convert::blkio_weight_to_io_weight(weight)),
                )
                .hint("neither BFQ nor io.weight is available"),
            );
        }
    }
    let throttles: [(&'static str, &Option<Vec<LinuxThrottleDevice>>, &str); 4] = [
        (
            "blockIO.throttleReadBpsDevice",
            b.throttle_read_bps_device(),
            "rbps",
        ),
        (
            "blockIO.throttleWriteBpsDevice",
            b.throttle_write_bps_device(),
            "wbps",
        ),
        (
            "blockIO.throttleReadIOPSDevice",
            b.throttle_read_iops_device(),
            "riops",
        ),
        (
            "blockIO.throttleWriteIOPSDevice",
            b.throttle_write_iops_device(),
            "wiops",
        ),
    ];
    for (knob, devs, key) in throttles {
        for d in devs.iter().flatten() {
            // 0 lifts the limit in v1; io.max spells that "max".
            let rate = if d.rate() == 0 {
                "max".to_string()
            } else {
                d.rate().to_string()
            };
            w.push(
                Write::new(
                    knob,
                    v,
                    c,
                    "io.max",
                    format!("{}:{} {key}={rate}", d.major(), d.minor()),
                )
                .hint("the kernel lacks CONFIG_BLK_DEV_THROTTLING"),
            );
        }
    }
    Ok(())
}
