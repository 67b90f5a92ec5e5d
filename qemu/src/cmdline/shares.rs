//! Shared directories over virtiofs. vhost-user needs the guest RAM in
//! shareable memory, so with any share the RAM becomes a
//! `memory-backend-memfd,share=on` object tied to the single NUMA node.
//! Each share's virtiofsd must already listen on its socket when QEMU starts
//! (the chardev is a client without reconnect).

use super::opts::{Args, Opts};
use crate::paths::VmPaths;
use corvus_protocol::VmInfo;

pub(super) fn add(args: &mut Args, vm: &VmInfo, paths: &VmPaths) {
    if vm.shared_dirs.is_empty() {
        return;
    }
    args.pair(
        "-object",
        format!("memory-backend-memfd,id=mem,size={}M,share=on", vm.ram_mb),
    );
    args.pair("-numa", "node,memdev=mem");
    for share in &vm.shared_dirs {
        let chardev = format!("vfs{}", share.id);
        args.pair(
            "-chardev",
            Opts::new("socket")
                .set("id", &chardev)
                .set("path", paths.virtiofsd_socket(&share.tag)),
        );
        args.pair(
            "-device",
            Opts::new("vhost-user-fs-pci")
                .set("chardev", &chardev)
                .set("tag", &share.tag)
                .set("id", format!("fs{}", share.id)),
        );
    }
}
