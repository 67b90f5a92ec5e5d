//! NICs: a `-netdev` backend `net<nic id>` and a `virtio-net-pci` front end
//! `nic<nic id>` on a root port of its own each (see [`crate::hotplug`]).
//!
//! - `user`: QEMU's user-mode stack, no privileges needed; each port
//!   forward is a `hostfwd=PROTO:HOSTADDR:HOSTPORT-:GUESTPORT` (the guest
//!   address left to QEMU: the first DHCP lease, 10.0.2.15).
//! - `tap`: an existing tap device (`ifname`); `script=no` because Corvus
//!   never runs the `/etc/qemu-ifup` scripts, the operator prepares the tap.
//! - `bridge`: `qemu-bridge-helper` attaches a new tap to the bridge (its ACL
//!   in `/etc/qemu/bridge.conf` decides what is allowed).
//! - `vde`: a VDE switch control socket.
//! - `network`: a managed network's tap, which the daemon made and put on
//!   the network's bridge before QEMU starts ([`managed_tap`]).
//!
//! Without a host device, QEMU's defaults apply (a new `tapN`, bridge `br0`,
//! `/tmp/vde.ctl`).

use super::opts::{Args, Opts};
use super::render;
use crate::hotplug::{self, PortAllocator, port_of};
use corvus_protocol::{NicInfo, NicType};

/// The tap of a NIC on a managed network: named after the NIC, so that
/// whoever ends a boot (a re-adopting daemon too) knows which taps to
/// remove without having recorded them. Up to 15 bytes for ids below 10^9.
pub fn managed_tap(nic_id: i64) -> String {
    format!("crvtap{nic_id}")
}

pub(super) fn add(args: &mut Args, nics: &[NicInfo], ports: &mut PortAllocator) {
    for nic in nics {
        let id = hotplug::nic_netdev_id(nic.id);
        let host_device = nic.host_device.as_deref().filter(|dev| !dev.is_empty());
        // A managed network's NIC is a tap to QEMU.
        let backend_kind = match nic.nic_type {
            NicType::Network => NicType::Tap,
            NicType::User | NicType::Tap | NicType::Bridge | NicType::Vde => nic.nic_type,
        };
        let backend = Opts::new(backend_kind.as_str()).set("id", &id);
        let backend = match nic.nic_type {
            NicType::User => nic.forwards.iter().fold(backend, |backend, forward| {
                backend.set(
                    "hostfwd",
                    format!(
                        "{}:{}:{}-:{}",
                        forward.protocol,
                        forward.host_address,
                        forward.host_port,
                        forward.guest_port
                    ),
                )
            }),
            NicType::Tap => backend
                .set_opt("ifname", host_device)
                .set("script", "no")
                .set("downscript", "no"),
            NicType::Bridge => backend.set_opt("br", host_device),
            NicType::Vde => backend.set_opt("sock", host_device),
            NicType::Network => backend
                .set("ifname", managed_tap(nic.id))
                .set("script", "no")
                .set("downscript", "no"),
        };
        args.pair("-netdev", backend);
        // On a root port of its own, so that it can be unplugged live.
        let port = port_of(&hotplug::nic_device_id(nic.id));
        args.pair("-device", render(&ports.next(&port)));
        args.pair("-device", render(&hotplug::nic_device(nic, &port)));
    }
}
