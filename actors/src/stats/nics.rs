//! Traffic per NIC, from the host side of its tap: the kernel's counters in
//! `/sys/class/net/IF/statistics`. Blocking reads, run on the blocking pool.
//!
//! - `tap` with a host device: that interface.
//! - `tap` without one, and `bridge` (qemu-bridge-helper makes a tap): the
//!   tap QEMU opened, found through `/proc/PID/fdinfo` (a tun descriptor
//!   says `iff: NAME`). QEMU opens them in command-line order, which is the
//!   definition order, so the unnamed ones are matched in descriptor order.
//! - `user` and `vde`: QEMU 7.2 keeps no counters for them (`query-rx-filter`
//!   reports receive filters, not traffic; netdev stats do not exist yet),
//!   so they are reported without figures and with that reason.
//!
//! A tap's receive counters are what the guest sent, so they are swapped:
//! figures are given from the guest's side, as `virsh domifstat` does.

use corvus_protocol::{NicInfo, NicType};
use std::collections::VecDeque;
use std::path::Path;

/// One NIC's counters from the guest's side, or why there are none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NicReading {
    pub nic_id: i64,
    pub nic_type: NicType,
    pub ifname: Option<String>,
    pub counters: Result<Traffic, String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Traffic {
    pub rx_bytes: u64,
    pub tx_bytes: u64,
    pub rx_packets: u64,
    pub tx_packets: u64,
}

const USER_HAS_NONE: &str = "QEMU keeps no traffic counters for user-mode networking (query-rx-filter reports receive filters only)";
const VDE_HAS_NONE: &str = "QEMU keeps no traffic counters for vde networking";
const TAP_NOT_FOUND: &str =
    "the tap interface QEMU opened for this NIC was not found in its open files";

/// Reads every NIC of a QEMU with process id `pid`.
pub fn read(pid: u32, nics: &[NicInfo]) -> Vec<NicReading> {
    let needs_lookup = nics
        .iter()
        .any(|nic| named_tap(nic).is_none() && is_tap(nic));
    let opened = if needs_lookup {
        opened_taps(pid)
    } else {
        Vec::new()
    };
    assign(nics, opened)
        .into_iter()
        .map(|(nic, ifname)| {
            let counters = match (nic.nic_type, &ifname) {
                (NicType::User, _) => Err(USER_HAS_NONE.to_owned()),
                (NicType::Vde, _) => Err(VDE_HAS_NONE.to_owned()),
                (NicType::Tap | NicType::Bridge, None) => Err(TAP_NOT_FOUND.to_owned()),
                (NicType::Tap | NicType::Bridge, Some(ifname)) => traffic(ifname),
                (NicType::Network, _) => traffic(&corvus_qemu::managed_tap(nic.id)),
            };
            NicReading {
                nic_id: nic.id,
                nic_type: nic.nic_type,
                ifname,
                counters,
            }
        })
        .collect()
}

fn is_tap(nic: &NicInfo) -> bool {
    matches!(nic.nic_type, NicType::Tap | NicType::Bridge)
}

/// The interface a tap NIC names itself.
fn named_tap(nic: &NicInfo) -> Option<&str> {
    match nic.nic_type {
        NicType::Tap => nic.host_device.as_deref().filter(|dev| !dev.is_empty()),
        NicType::Bridge | NicType::User | NicType::Vde | NicType::Network => None,
    }
}

/// Pairs each NIC with its tap: named taps by name, the others with the
/// opened taps no named one claims, in order.
fn assign(nics: &[NicInfo], opened: Vec<String>) -> Vec<(&NicInfo, Option<String>)> {
    let named: Vec<&str> = nics.iter().filter_map(named_tap).collect();
    let mut unnamed: VecDeque<String> = opened
        .into_iter()
        .filter(|ifname| !named.contains(&ifname.as_str()))
        .collect();
    nics.iter()
        .map(|nic| {
            let ifname = match named_tap(nic) {
                Some(name) => Some(name.to_owned()),
                None if is_tap(nic) => unnamed.pop_front(),
                None => None,
            };
            (nic, ifname)
        })
        .collect()
}

/// The interfaces of the tun descriptors `pid` holds, in descriptor order.
fn opened_taps(pid: u32) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return Vec::new();
    };
    let mut fds: Vec<u32> = entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
        .filter(|fd| {
            std::fs::read_link(format!("/proc/{pid}/fd/{fd}"))
                .is_ok_and(|target| target == Path::new("/dev/net/tun"))
        })
        .collect();
    fds.sort_unstable();
    fds.into_iter()
        .filter_map(|fd| {
            let info = std::fs::read_to_string(format!("/proc/{pid}/fdinfo/{fd}")).ok()?;
            tun_interface(&info)
        })
        .collect()
}

/// `iff:\tNAME` in a tun descriptor's fdinfo.
fn tun_interface(fdinfo: &str) -> Option<String> {
    fdinfo
        .lines()
        .find_map(|line| line.strip_prefix("iff:"))
        .map(|name| name.trim().to_owned())
        .filter(|name| valid_ifname(name))
}

/// A name that can only mean an interface under /sys/class/net (a host
/// device comes from the user: `..` or a slash must not walk elsewhere).
fn valid_ifname(name: &str) -> bool {
    !name.is_empty() && name.len() <= 15 && name != "." && name != ".." && !name.contains('/')
}

fn traffic(ifname: &str) -> Result<Traffic, String> {
    if !valid_ifname(ifname) {
        return Err(format!("'{ifname}' is not a network interface name"));
    }
    let dir = Path::new("/sys/class/net").join(ifname).join("statistics");
    let counter = |name: &str| -> Result<u64, String> {
        let path = dir.join(name);
        let text = std::fs::read_to_string(&path)
            .map_err(|err| format!("cannot read {}: {err}", path.display()))?;
        text.trim()
            .parse()
            .map_err(|_| format!("{} does not hold a number", path.display()))
    };
    // The host receives what the guest transmits, and the other way round.
    Ok(Traffic {
        rx_bytes: counter("tx_bytes")?,
        tx_bytes: counter("rx_bytes")?,
        rx_packets: counter("tx_packets")?,
        tx_packets: counter("rx_packets")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nic(id: i64, nic_type: NicType, host_device: Option<&str>) -> NicInfo {
        NicInfo {
            id,
            nic_type,
            host_device: host_device.map(str::to_owned),
            mac_address: format!("52:54:00:00:00:{id:02x}"),
            forwards: Vec::new(),
            network_id: None,
            ip_address: None,
            lease_address: None,
        }
    }

    #[test]
    fn unnamed_taps_take_the_opened_ones_no_named_tap_claims_in_order() {
        let nics = [
            nic(1, NicType::Bridge, Some("br0")),
            nic(2, NicType::Tap, Some("mytap")),
            nic(3, NicType::User, None),
            nic(4, NicType::Tap, None),
            nic(5, NicType::Bridge, Some("br1")),
        ];
        let opened = ["tap0", "mytap", "tap1"].map(str::to_owned).to_vec();
        let names: Vec<Option<String>> = assign(&nics, opened)
            .into_iter()
            .map(|(_, ifname)| ifname)
            .collect();
        assert_eq!(
            names,
            [Some("tap0"), Some("mytap"), None, Some("tap1"), None]
                .map(|name| name.map(str::to_owned))
                .to_vec()
        );
    }

    #[test]
    fn interface_names_never_leave_sys_class_net() {
        assert_eq!(
            tun_interface("pos:\t0\nflags:\t0104002\niff:\ttap0\n"),
            Some("tap0".into())
        );
        assert_eq!(tun_interface("pos:\t0\n"), None);
        for bad in ["..", "a/b", "", "0123456789abcdef"] {
            assert!(!valid_ifname(bad), "{bad}");
            assert!(traffic(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn user_and_vde_nics_say_why_they_have_no_counters() {
        let nics = [
            nic(1, NicType::User, None),
            nic(2, NicType::Vde, Some("/x")),
        ];
        let readings = read(std::process::id(), &nics);
        assert_eq!(readings[0].counters, Err(USER_HAS_NONE.to_owned()));
        assert_eq!(readings[1].counters, Err(VDE_HAS_NONE.to_owned()));
        let lo = read(std::process::id(), &[nic(3, NicType::Tap, Some("lo"))]);
        assert!(lo[0].counters.is_ok(), "{lo:?}");
    }
}
