//! The base of berth's tables: sets and maps shared by all networks and the base chains
//! that dispatch into per-network and per-container chains.

use super::{apply, table_exists, TABLE};
use crate::Error;

fn inet() -> String {
    let t = TABLE;
    format!(
        "create table inet {t}
add map inet {t} pub4_any {{ type inet_proto . inet_service : ipv4_addr . inet_service; }}
add map inet {t} pub4_ip {{ type ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service; }}
add map inet {t} pub6_any {{ type inet_proto . inet_service : ipv6_addr . inet_service; }}
add map inet {t} pub6_ip {{ type ipv6_addr . inet_proto . inet_service : ipv6_addr . inet_service; }}
add map inet {t} lo_allow {{ type ipv4_addr : verdict; }}
add map inet {t} raw4 {{ type ipv4_addr : verdict; flags interval; }}
add map inet {t} raw6 {{ type ipv6_addr : verdict; flags interval; }}
add map inet {t} post4 {{ type ipv4_addr : verdict; flags interval; }}
add map inet {t} post6 {{ type ipv6_addr : verdict; flags interval; }}
add map inet {t} fwd_from {{ type ifname : verdict; }}
add map inet {t} fwd_to {{ type ifname : verdict; }}
add chain inet {t} guard_lo
add rule inet {t} guard_lo ip saddr vmap @lo_allow
add rule inet {t} guard_lo drop
add chain inet {t} uplink_guard
add rule inet {t} uplink_guard oifname != \"bth-*\" drop
add chain inet {t} raw_pre {{ type filter hook prerouting priority raw; policy accept; }}
add rule inet {t} raw_pre ip saddr vmap @raw4
add rule inet {t} raw_pre ip6 saddr vmap @raw6
add chain inet {t} nat_pre {{ type nat hook prerouting priority dstnat; policy accept; }}
add chain inet {t} nat_out {{ type nat hook output priority -100; policy accept; }}
{dnat}add chain inet {t} nat_post {{ type nat hook postrouting priority srcnat; policy accept; }}
add rule inet {t} nat_post oifname \"bth-*\" ip saddr 127.0.0.0/8 masquerade
add rule inet {t} nat_post ip saddr vmap @post4
add rule inet {t} nat_post ip6 saddr vmap @post6
add chain inet {t} filter_fwd {{ type filter hook forward priority filter; policy accept; }}
add rule inet {t} filter_fwd iifname vmap @fwd_from
add rule inet {t} filter_fwd oifname vmap @fwd_to
",
        dnat = ["nat_pre", "nat_out"]
            .iter()
            .map(|c| format!(
                "add rule inet {t} {c} fib daddr type local dnat ip to meta l4proto . th dport map @pub4_any
add rule inet {t} {c} dnat ip to ip daddr . meta l4proto . th dport map @pub4_ip
add rule inet {t} {c} fib daddr type local dnat ip6 to meta l4proto . th dport map @pub6_any
add rule inet {t} {c} dnat ip6 to ip6 daddr . meta l4proto . th dport map @pub6_ip
"
            ))
            .collect::<String>()
    )
}

fn bridge() -> String {
    let t = TABLE;
    format!(
        "create table bridge {t}
add set bridge {t} ports {{ type ifname; }}
add set bridge {t} isolated {{ type ifname; }}
add set bridge {t} macs {{ type ifname . ether_addr; }}
add set bridge {t} addrs4 {{ type ifname . ipv4_addr; }}
add set bridge {t} addrs6 {{ type ifname . ipv6_addr; }}
add set bridge {t} nd6 {{ typeof iifname . @th,64,128; }}
add map bridge {t} fw_out {{ type ifname : verdict; }}
add map bridge {t} fw_in {{ type ifname : verdict; }}
add chain bridge {t} spoof {{ type filter hook prerouting priority -300; policy accept; }}
add rule bridge {t} spoof iifname != @ports return
add rule bridge {t} spoof iifname . ether saddr != @macs drop
add rule bridge {t} spoof ether type arp iifname . arp saddr ip != @addrs4 drop
add rule bridge {t} spoof ether type arp iifname . arp saddr ether != @macs drop
add rule bridge {t} spoof ether type ip iifname . ip saddr != @addrs4 drop
add rule bridge {t} spoof ether type ip return
add rule bridge {t} spoof ether type ip6 ip6 saddr :: icmpv6 type nd-neighbor-solicit return
add rule bridge {t} spoof ether type ip6 iifname . ip6 saddr != @addrs6 drop
add rule bridge {t} spoof icmpv6 type nd-neighbor-advert iifname . @th,64,128 != @nd6 drop
add rule bridge {t} spoof ether type != {{ ip, ip6, arp }} drop
add chain bridge {t} filter_fwd {{ type filter hook forward priority 0; policy accept; }}
add rule bridge {t} filter_fwd iifname vmap @fw_out
add rule bridge {t} filter_fwd oifname vmap @fw_in
add rule bridge {t} filter_fwd iifname @isolated oifname @isolated drop
add chain bridge {t} filter_in {{ type filter hook input priority 0; policy accept; }}
add rule bridge {t} filter_in iifname vmap @fw_out
add chain bridge {t} filter_out {{ type filter hook output priority 0; policy accept; }}
add rule bridge {t} filter_out oifname vmap @fw_in
"
    )
}

/// Creates berth's two tables with their base chains, unless they exist. Each is one
/// transaction starting with `create table`, so concurrent callers cannot both build it:
/// the loser's transaction fails as a whole and finds the table there.
pub fn ensure_base() -> Result<(), Error> {
    for (family, script) in [("inet", inet()), ("bridge", bridge())] {
        if table_exists(family, TABLE)? {
            continue;
        }
        if let Err(e) = apply(&format!("create table {family} {TABLE}"), &script) {
            if !table_exists(family, TABLE)? {
                return Err(e);
            }
        }
    }
    Ok(())
}

/// Deletes berth's tables when no network has chains in them any more (callers hold
/// `HOST_LOCK`, as does every network creation, so none is being added meanwhile).
pub fn drop_base_if_unused() -> Result<(), Error> {
    let listing = super::list_inet()?;
    if listing.is_empty() || listing.contains("chain n-") {
        return Ok(());
    }
    let mut script = String::new();
    for family in ["inet", "bridge"] {
        script.push_str(&format!(
            "add table {family} {TABLE}\ndelete table {family} {TABLE}\n"
        ));
    }
    apply("delete berth's tables", &script)
}

#[cfg(test)]
pub fn scripts() -> String {
    format!("{}{}", inet(), bridge())
}
