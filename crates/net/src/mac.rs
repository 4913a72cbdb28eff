//! Ethernet MAC addresses as a value type (`02:b3:0a:d5:01:02`).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::Error;

/// A 48-bit Ethernet address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MacAddr(pub [u8; 6]);

impl MacAddr {
    /// A locally administered unicast address derived from `seed` (`02:b3:` + 4 bytes).
    pub fn local(seed: [u8; 4]) -> Self {
        MacAddr([0x02, 0xb3, seed[0], seed[1], seed[2], seed[3]])
    }

    /// Unicast: the group bit (lowest bit of the first byte) is clear and it is not all zero.
    pub fn is_unicast(&self) -> bool {
        self.0[0] & 1 == 0 && self.0 != [0; 6]
    }

    /// The EUI-64 based IPv6 link-local address the kernel derives from this MAC.
    pub fn link_local(&self) -> std::net::Ipv6Addr {
        let m = self.0;
        std::net::Ipv6Addr::from([
            0xfe,
            0x80,
            0,
            0,
            0,
            0,
            0,
            0,
            m[0] ^ 0x02,
            m[1],
            m[2],
            0xff,
            0xfe,
            m[3],
            m[4],
            m[5],
        ])
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            m[0], m[1], m[2], m[3], m[4], m[5]
        )
    }
}

impl FromStr for MacAddr {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        let mut out = [0u8; 6];
        let mut parts = s.split(':');
        for byte in out.iter_mut() {
            let part = parts.next().ok_or_else(|| Error::InvalidMac(s.into()))?;
            if part.len() != 2 {
                return Err(Error::InvalidMac(s.into()));
            }
            *byte = u8::from_str_radix(part, 16).map_err(|_| Error::InvalidMac(s.into()))?;
        }
        if parts.next().is_some() {
            return Err(Error::InvalidMac(s.into()));
        }
        Ok(MacAddr(out))
    }
}

impl Serialize for MacAddr {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for MacAddr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_format_round_trip() {
        let mac: MacAddr = "02:B3:0a:00:00:ff".parse().unwrap();
        assert_eq!(mac.to_string(), "02:b3:0a:00:00:ff");
        assert!(mac.is_unicast());
        assert!("02:b3:0a:00:00".parse::<MacAddr>().is_err());
        assert!("02:b3:0a:00:00:00:01".parse::<MacAddr>().is_err());
        assert!("zz:b3:0a:00:00:00".parse::<MacAddr>().is_err());
        assert!(!"01:00:5e:00:00:01".parse::<MacAddr>().unwrap().is_unicast());
    }

    #[test]
    fn link_local_is_eui64() {
        let mac: MacAddr = "02:b3:0a:d5:01:02".parse().unwrap();
        assert_eq!(mac.link_local().to_string(), "fe80::b3:aff:fed5:102");
    }
}
