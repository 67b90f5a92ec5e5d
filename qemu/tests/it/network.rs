use crate::common;
use corvus_protocol::{NicInfo, NicType};

#[tokio::test]
async fn a_user_nic_has_the_defined_mac() {
    let Some(qemu) = common::qemu() else { return };
    let root = tempfile::tempdir().expect("tempdir");
    let mut definition = common::vm(41);
    definition.network_interfaces = vec![NicInfo {
        id: 1,
        nic_type: NicType::User,
        host_device: None,
        mac_address: "52:54:00:12:34:56".into(),
        forwards: Vec::new(),
        network_id: None,
        ip_address: None,
        lease_address: None,
    }];
    let vm = common::start(&qemu, root.path(), &definition).await;
    let network = vm
        .qmp
        .human_monitor_command("info network")
        .await
        .expect("info network");
    assert!(network.contains("macaddr=52:54:00:12:34:56"), "{network}");
    assert!(network.contains("net1"), "{network}");
}
