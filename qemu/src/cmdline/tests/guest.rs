//! Cloud guests: port forwards, the seed volume and the guest agent's port.

use super::*;
use corvus_protocol::{CloudInitInfo, Forward, ForwardProtocol};

fn forward(protocol: ForwardProtocol, address: &str, host: u16, guest: u16) -> Forward {
    Forward {
        protocol,
        host_address: address.into(),
        host_port: host,
        guest_port: guest,
    }
}

#[test]
fn user_nic_forwards_become_hostfwd_options() {
    let mut vm = vm();
    let mut user = nic(1, NicType::User, None);
    user.forwards = vec![
        forward(ForwardProtocol::Tcp, "127.0.0.1", 2222, 22),
        forward(ForwardProtocol::Udp, "0.0.0.0", 5353, 53),
    ];
    vm.network_interfaces = vec![user];
    assert_eq!(
        values(&args(&vm), "-netdev"),
        ["user,id=net1,hostfwd=tcp:127.0.0.1:2222-:22,hostfwd=udp:0.0.0.0:5353-:53"]
    );
}

#[test]
fn a_cloud_init_vm_gets_its_seed_read_only_and_unbootable() {
    let mut vm = vm();
    assert!(!args(&vm).iter().any(|a| a.contains("seed")));
    vm.cloud_init = Some(CloudInitInfo {
        user: "alice".into(),
        ssh_keys: Vec::new(),
        hostname: "web".into(),
        user_data: None,
        network_config: None,
        instance_id: "iid-7".into(),
    });
    let args = build_text(&vm, "/run/a,b", Accel::Tcg);
    assert_eq!(
        values(&args, "-drive"),
        ["if=none,id=seed,file=/run/a,,b/7/seed.img,format=raw,readonly=on"]
    );
    let seed_device = values(&args, "-device")
        .into_iter()
        .find(|d| d.contains("drive=seed"))
        .expect("a seed device");
    assert_eq!(
        seed_device,
        "virtio-blk-pci,drive=seed,id=seed-disk,bus=port-seed-disk"
    );
    // Its root port comes after the boot disk's, so the guest sees the
    // boot disk first (vda), and before the empty hotplug ports.
    vm.drives = vec![drive(1, DriveInterface::Virtio, "/img/root.qcow2")];
    vm.hotplug_slots = 1;
    let args = build_text(&vm, "/run/a,b", Accel::Tcg);
    let ports: Vec<_> = values(&args, "-device")
        .into_iter()
        .filter_map(|d| d.strip_prefix("pcie-root-port,id="))
        .map(|d| d.split(',').next().unwrap_or_default())
        .collect();
    assert_eq!(ports, ["port-disk1", "port-seed-disk", "hotplug0"]);
}

#[test]
fn the_guest_agent_gets_its_named_port_on_its_own_socket() {
    let mut vm = vm();
    assert!(!args(&vm).iter().any(|a| a.contains("qga")));
    vm.guest_agent = true;
    let args = args(&vm);
    assert!(
        values(&args, "-chardev")
            .contains(&"socket,id=qga0,path=/run/corvus/7/qga.sock,server=on,wait=off")
    );
    let devices = values(&args, "-device");
    assert!(devices.contains(&"virtio-serial-pci,id=qgaser"));
    assert!(
        devices.contains(&"virtserialport,bus=qgaser.0,chardev=qga0,name=org.qemu.guest_agent.0")
    );
}
