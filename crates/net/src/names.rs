//! Names of the things berth creates: validation and derivation (kernel limit: 15 bytes).

use crate::Error;

/// Linux interface names have at most 15 bytes.
pub const IFNAMSIZ_MAX: usize = 15;
/// Prefix of every berth bridge; the firewall matches `bth-*` to keep networks apart.
pub const BRIDGE_PREFIX: &str = "bth-";
/// Prefix of the host side of a container's veth pair.
pub const VETH_PREFIX: &str = "bthv-";
/// Prefix of the temporary name of the container side before it moves into the netns.
pub const PEER_PREFIX: &str = "bthp-";
/// Prefix of the ifb device that shapes a container's egress.
pub const IFB_PREFIX: &str = "bthi-";

fn is_word(s: &str, max: usize) -> bool {
    !s.is_empty()
        && s.len() <= max
        && s.as_bytes()[0].is_ascii_alphanumeric()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

pub fn check_network_name(name: &str) -> Result<(), Error> {
    if is_word(name, 64) {
        Ok(())
    } else {
        Err(Error::InvalidNetworkName(name.into()))
    }
}

pub fn check_container_id(id: &str) -> Result<(), Error> {
    if is_word(id, 128) {
        Ok(())
    } else {
        Err(Error::InvalidContainerId(id.into()))
    }
}

pub fn check_bridge_name(name: &str) -> Result<(), Error> {
    let rest = name.strip_prefix(BRIDGE_PREFIX).unwrap_or("");
    if name.len() <= IFNAMSIZ_MAX
        && !rest.is_empty()
        && rest
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-'))
    {
        Ok(())
    } else {
        Err(Error::InvalidBridgeName(name.into()))
    }
}

/// Interface name inside the container: 1-15 bytes, no '/', ':' or whitespace.
pub fn check_ifname(name: &str) -> Result<(), Error> {
    let ok = !name.is_empty()
        && name.len() <= IFNAMSIZ_MAX
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'/' && b != b':');
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidIfname(name.into()))
    }
}

/// FNV-1a: a stable short hash for derived names (no cryptographic need here).
fn fnv1a(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// `bth-` + 8 hex digits of the network name's hash.
pub fn default_bridge(network: &str) -> String {
    format!("{BRIDGE_PREFIX}{:08x}", fnv1a(network) as u32)
}

/// A fixed, locally administered MAC for a bridge (`02:b3:ff:` + 3 bytes of its name's hash).
pub fn bridge_mac(bridge: &str) -> crate::MacAddr {
    let h = fnv1a(bridge).to_be_bytes();
    crate::MacAddr([0x02, 0xb3, 0xff, h[5], h[6], h[7]])
}

/// The per-container part of interface and chain names: the id's first 10 characters
/// ('.' replaced, as nft chain names and interface patterns are kept simple).
pub fn container_short(id: &str) -> String {
    id.chars()
        .take(IFNAMSIZ_MAX - VETH_PREFIX.len())
        .map(|c| if c == '.' { '_' } else { c })
        .collect()
}

/// Most networks one container can be attached to (slots 0-9: one digit in the names).
pub const MAX_ATTACHMENTS: u32 = 10;

/// The per-attachment part of host-side interface and chain names: `container_short` for
/// slot 0 (the names of single-network containers), else its first 8 characters, `_` and
/// the slot digit, so that every attachment of a container gets its own veth, ifb and
/// chains within the 15-byte limit.
pub fn endpoint_key(id: &str, slot: u32) -> String {
    let short = container_short(id);
    if slot == 0 {
        short
    } else {
        let head: String = short.chars().take(8).collect();
        format!("{head}_{slot}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_names_fit_the_kernel_limit() {
        let short = container_short("0123456789abcdef0123");
        assert_eq!(short, "0123456789");
        assert!(format!("{VETH_PREFIX}{short}").len() <= IFNAMSIZ_MAX);
        assert_eq!(endpoint_key("0123456789abcdef0123", 0), short);
        let k = endpoint_key("0123456789abcdef0123", MAX_ATTACHMENTS - 1);
        assert_eq!(k, "01234567_9");
        assert!(format!("{VETH_PREFIX}{k}").len() <= IFNAMSIZ_MAX);
        let bridge = default_bridge("a-very-long-network-name-indeed");
        assert!(bridge.len() <= IFNAMSIZ_MAX);
        check_bridge_name(&bridge).unwrap();
        assert_eq!(bridge, default_bridge("a-very-long-network-name-indeed"));
    }

    #[test]
    fn rejects_bad_names() {
        assert!(check_network_name("").is_err());
        assert!(check_network_name("-x").is_err());
        assert!(check_network_name("a/b").is_err());
        check_network_name("web.prod_1").unwrap();
        assert!(check_bridge_name("br0").is_err());
        assert!(check_bridge_name("bth-").is_err());
        assert!(check_bridge_name("bth-0123456789ab").is_err());
        check_bridge_name("bth-0123456789a").unwrap();
        assert!(check_ifname("eth/0").is_err());
        assert!(check_ifname("").is_err());
        check_ifname("eth0").unwrap();
        assert!(check_container_id("a b").is_err());
    }
}
