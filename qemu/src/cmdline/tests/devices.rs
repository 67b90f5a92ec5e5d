//! NICs and shares.

use super::*;

#[test]
fn every_nic_type_gets_its_backend_and_a_virtio_nic_with_its_mac() {
    let mut vm = vm();
    vm.network_interfaces = vec![
        nic(1, NicType::User, None),
        nic(2, NicType::Tap, Some("tap-web")),
        nic(3, NicType::Bridge, Some("br0")),
        nic(4, NicType::Vde, Some("/run/vde,1.ctl")),
        nic(5, NicType::Tap, None),
        nic(6, NicType::Bridge, Some("")),
        nic(7, NicType::Network, None),
    ];
    let args = args(&vm);
    assert_eq!(
        values(&args, "-netdev"),
        [
            "user,id=net1",
            "tap,id=net2,ifname=tap-web,script=no,downscript=no",
            "bridge,id=net3,br=br0",
            "vde,id=net4,sock=/run/vde,,1.ctl",
            "tap,id=net5,script=no,downscript=no",
            "bridge,id=net6",
            "tap,id=net7,ifname=crvtap7,script=no,downscript=no",
        ]
    );
    let nics: Vec<_> = values(&args, "-device")
        .into_iter()
        .filter(|d| d.starts_with("virtio-net-pci"))
        .collect();
    assert_eq!(nics.len(), 7);
    assert_eq!(
        nics[0],
        "virtio-net-pci,netdev=net1,mac=52:54:00:00:00:01,id=nic1,bus=port-nic1"
    );
    // Each NIC sits on a root port of its own, so that it can be unplugged.
    let ports: Vec<_> = values(&args, "-device")
        .into_iter()
        .filter(|d| d.starts_with("pcie-root-port,id=port-nic"))
        .collect();
    assert_eq!(ports.len(), 7);
    assert_eq!(
        ports[0],
        "pcie-root-port,id=port-nic1,chassis=1,addr=0x10.0,multifunction=on"
    );
}

#[test]
fn hotplug_slots_are_empty_root_ports_after_the_devices() {
    let mut vm = vm();
    vm.hotplug_slots = 2;
    vm.network_interfaces = vec![nic(1, NicType::User, None)];
    let args = args(&vm);
    let ports: Vec<_> = values(&args, "-device")
        .into_iter()
        .filter(|d| d.starts_with("pcie-root-port"))
        .collect();
    assert_eq!(
        ports,
        [
            "pcie-root-port,id=port-nic1,chassis=1,addr=0x10.0,multifunction=on",
            "pcie-root-port,id=hotplug0,chassis=2,addr=0x10.1",
            "pcie-root-port,id=hotplug1,chassis=3,addr=0x10.2",
        ]
    );
}

#[test]
fn shares_put_ram_in_shared_memory_and_add_one_device_each() {
    let mut vm = vm();
    vm.shared_dirs = vec![ShareInfo {
        id: 3,
        path: "/srv/data".into(),
        tag: "data".into(),
        cache: ShareCache::Auto,
        read_only: false,
        pid: None,
    }];
    let args = build_text(&vm, "/tmp/a,b", Accel::Kvm);
    assert_eq!(
        values(&args, "-object"),
        ["memory-backend-memfd,id=mem,size=512M,share=on"]
    );
    assert_eq!(values(&args, "-numa"), ["node,memdev=mem"]);
    assert!(
        values(&args, "-chardev").contains(&"socket,id=vfs3,path=/tmp/a,,b/7/virtiofsd-data.sock")
    );
    assert!(values(&args, "-device").contains(&"vhost-user-fs-pci,chardev=vfs3,tag=data,id=fs3"));

    vm.shared_dirs.clear();
    let args = self::args(&vm);
    assert!(values(&args, "-object").is_empty() && values(&args, "-numa").is_empty());
}
