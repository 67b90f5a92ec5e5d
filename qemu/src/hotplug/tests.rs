//! The hotplug names, ports and QMP arguments.

use super::*;
use corvus_protocol::{DriveFormat, DriveInfo, DriveInterface, DriveMedia, NicInfo, NicType};
use serde_json::json;

fn drive(id: i64, interface: DriveInterface) -> DriveInfo {
    DriveInfo {
        id,
        interface,
        file_path: "/img/data,1.qcow2".into(),
        format: DriveFormat::Qcow2,
        media: DriveMedia::Disk,
        read_only: false,
        cache: None,
        discard: false,
        disk_id: None,
    }
}

#[test]
fn a_plain_drive_is_a_named_format_node_over_a_named_file_node() {
    assert_eq!(
        drive_blockdev(&drive(5, DriveInterface::Nvme), None),
        json!({
            "node-name": "drive5", "driver": "qcow2", "read-only": false,
            "file": {"node-name": "drive5-file", "driver": "file",
                     "filename": "/img/data,1.qcow2", "read-only": false}
        })
    );
}

#[test]
fn pluggable_drives_get_their_device_on_the_given_bus_and_others_none() {
    let nvme = drive_device(&drive(7, DriveInterface::Nvme), "hotplug1").map(|p| p.to_qmp());
    assert_eq!(
        nvme,
        Some(
            json!({"driver": "nvme", "serial": "corvus-7", "bus": "hotplug1",
                    "drive": "drive7", "id": "disk7"})
        )
    );
    for interface in [
        DriveInterface::Ide,
        DriveInterface::Sata,
        DriveInterface::Pflash,
    ] {
        assert_eq!(drive_device(&drive(1, interface), "x"), None, "{interface}");
    }
}

#[test]
fn a_user_nic_keeps_its_forwards_live() {
    let nic = NicInfo {
        id: 3,
        nic_type: NicType::User,
        host_device: None,
        mac_address: "52:54:00:00:00:03".into(),
        forwards: vec![corvus_protocol::Forward {
            protocol: corvus_protocol::ForwardProtocol::Tcp,
            host_address: "127.0.0.1".into(),
            host_port: 2222,
            guest_port: 22,
        }],
        network_id: None,
        ip_address: None,
        lease_address: None,
    };
    assert_eq!(
        netdev_add(&nic, "unused"),
        json!({"type": "user", "id": "net3", "hostfwd": [{"str": "tcp:127.0.0.1:2222-:22"}]})
    );
    assert_eq!(
        nic_device(&nic, "hotplug0").to_qmp(),
        json!({"driver": "virtio-net-pci", "netdev": "net3", "mac": "52:54:00:00:00:03",
               "id": "nic3", "bus": "hotplug0"})
    );
}

#[test]
fn ports_pack_eight_functions_per_slot() {
    let mut ports = PortAllocator::default();
    let first = ports.next("a");
    for _ in 1..8 {
        ports.next("x");
    }
    let ninth = ports.next("b");
    assert_eq!(
        first.properties,
        [
            ("id", "a".to_owned()),
            ("chassis", "1".to_owned()),
            ("addr", "0x10.0".to_owned()),
            ("multifunction", "on".to_owned())
        ]
    );
    assert_eq!(ninth.properties[2], ("addr", "0x11.0".to_owned()));
}

#[test]
fn the_first_empty_hotplug_port_is_free() {
    let port = |id: &str, behind: serde_json::Value| json!({"qdev_id": id, "pci_bridge": {"bus": {}, "devices": behind}});
    let answer = json!([{"bus": 0, "devices": [
        {"qdev_id": "", "class_info": {}},
        port("port-disk1", json!([{"qdev_id": "disk1"}])),
        port("hotplug0", json!([{"qdev_id": "disk9"}])),
        port("hotplug1", json!([])),
    ]}]);
    assert_eq!(free_hotplug_port(&answer, 4), Some("hotplug1".into()));
    assert_eq!(free_hotplug_port(&answer, 1), None);
    assert_eq!(free_hotplug_port(&answer, 0), None);
}
