//! The device rules runc adds to every container.

use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType};

/// mknod of any device, and the character devices every container may use (runc's list): null, zero, full, random,
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
    let rule = |typ, major: Option<i64>, minor: Option<i64>, access: &str| {
        let mut d = LinuxDeviceCgroup::default();
        d.set_allow(true);
        d.set_typ(Some(typ));
        d.set_major(major);
        d.set_minor(minor);
        d.set_access(Some(access.to_string()));
        d
    };
    // mknod of any node is allowed (runc does the same): the runtime creates the config's
    // device nodes after the cgroup is set up; using them still needs an `rw` rule.
    let mut rules = vec![
        rule(LinuxDeviceType::C, None, None, "m"),
        rule(LinuxDeviceType::B, None, None, "m"),
    ];
    rules.extend(
        devices
            .iter()
            .map(|(major, minor)| rule(LinuxDeviceType::C, Some(*major), *minor, "rwm")),
    );
    rules
}
