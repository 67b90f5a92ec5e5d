//! NICs: a `-netdev` backend and a `virtio-net-pci` front end each, joined
//! by the id `net<nic id>`.
//!
//! - `user`: QEMU's user-mode stack, no privileges needed; each port
//!   forward is a `hostfwd=PROTO:HOSTADDR:HOSTPORT-:GUESTPORT` (the guest
//!   address left to QEMU: the first DHCP lease, 10.0.2.15).
//! - `tap`: an existing tap device (`ifname`); `script=no` because Corvus
//!   never runs the `/etc/qemu-ifup` scripts, the operator prepares the tap.
//! - `bridge`: `qemu-bridge-helper` attaches a new tap to the bridge (its ACL
//!   in `/etc/qemu/bridge.conf` decides what is allowed).
//! - `vde`: a VDE switch control socket.
//!
//! Without a host device, QEMU's defaults apply (a new `tapN`, bridge `br0`,
//! `/tmp/vde.ctl`).

use super::opts::{Args, Opts};
use corvus_protocol::{NicInfo, NicType};

pub(super) fn add(args: &mut Args, nics: &[NicInfo]) {
    for nic in nics {
        let id = format!("net{}", nic.id);
        let host_device = nic.host_device.as_deref().filter(|dev| !dev.is_empty());
        let backend = Opts::new(nic.nic_type.as_str()).set("id", &id);
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
        };
        args.pair("-netdev", backend);
        args.pair(
            "-device",
            Opts::new("virtio-net-pci")
                .set("netdev", &id)
                .set("mac", &nic.mac_address)
                .set("id", format!("nic{}", nic.id)),
        );
    }
}
