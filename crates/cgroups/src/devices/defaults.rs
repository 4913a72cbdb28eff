//! The device rules runc adds to every container.

use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType};

/// Character devices every container may use (runc's list): null, zero, full, random,
/// urandom, tty, console, ptmx, /dev/pts/* and /dev/net/tun. `apply` writes only the rules
/// it is given; the runtime appends these after the configuration's own rules, as runc does.
pub fn default_allowed() -> Vec<LinuxDeviceCgroup> {
    let devices: [(i64, Option<i64>); 10] = [
        (1, Some(3)),    // /dev/null
        (1, Some(5)),    // /dev/zero
        (1, Some(7)),    // /dev/full
        (1, Some(8)),    // /dev/random
        (1, Some(9)),    // /dev/urandom
        (5, Some(0)),    // /dev/tty
        (5, Some(1)),    // /dev/console
        (5, Some(2)),    // /dev/ptmx
        (136, None),     // /dev/pts/*
        (10, Some(200)), // /dev/net/tun
    ];
    devices
        .iter()
        .map(|(major, minor)| {
            let mut d = LinuxDeviceCgroup::default();
            d.set_allow(true);
            d.set_typ(Some(LinuxDeviceType::C));
            d.set_major(Some(*major));
            d.set_minor(*minor);
            d.set_access(Some("rwm".to_string()));
            d
        })
        .collect()
}
