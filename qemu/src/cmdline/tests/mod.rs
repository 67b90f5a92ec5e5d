//! Unit tests of the command line: exact arguments for every option.

mod devices;
mod drives;
mod guest;
mod machine;

use super::*;
use corvus_protocol::{
    CacheMode, DriveFormat, DriveInfo, DriveInterface, DriveMedia, NicInfo, NicType, RestartPolicy,
    RuntimePaths, ShareCache, ShareInfo, VmState,
};
use std::path::Path;

pub(crate) fn vm() -> VmInfo {
    VmInfo {
        id: 7,
        name: "web".into(),
        created_at: String::new(),
        updated_at: String::new(),
        status: VmState::Stopped,
        cpu_count: 2,
        ram_mb: 512,
        description: None,
        pid: None,
        restart_policy: RestartPolicy::Never,
        max_restarts: 0,
        restart_window_secs: 0,
        stop_timeout_secs: None,
        autostart: false,
        display: DisplayKind::None,
        cpu_model: None,
        kernel: None,
        initrd: None,
        cmdline: None,
        last_error: None,
        drives: Vec::new(),
        network_interfaces: Vec::new(),
        shared_dirs: Vec::new(),
        runtime: RuntimePaths {
            dir: String::new(),
            qmp: String::new(),
            monitor: String::new(),
            spice: String::new(),
            serial: String::new(),
            serial_log: String::new(),
        },
        guest_agent: false,
        agent: corvus_protocol::AgentStatus::Off,
        ip_addresses: Vec::new(),
        cloud_init: None,
        // Most tests look at other devices; `hotplug_ports` tests the slots.
        hotplug_slots: 0,
        node: String::new(),
        ha: false,
    }
}

pub(super) fn drive(id: i64, interface: DriveInterface, file_path: &str) -> DriveInfo {
    DriveInfo {
        id,
        interface,
        file_path: file_path.into(),
        format: DriveFormat::Qcow2,
        media: DriveMedia::Disk,
        read_only: false,
        cache: None,
        discard: false,
        disk_id: None,
    }
}

pub(super) fn nic(id: i64, nic_type: NicType, host_device: Option<&str>) -> NicInfo {
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

pub(super) fn build_text(vm: &VmInfo, root: &str, accel: Accel) -> Vec<String> {
    build_with_images(vm, &DriveImages::new(), root, accel)
}

pub(super) fn build_with_images(
    vm: &VmInfo,
    images: &DriveImages,
    root: &str,
    accel: Accel,
) -> Vec<String> {
    build(vm, images, &VmPaths::new(Path::new(root), vm.id), accel)
        .into_iter()
        .map(|arg| arg.into_string().expect("utf-8 argument"))
        .collect()
}

pub(super) fn args(vm: &VmInfo) -> Vec<String> {
    build_text(vm, "/run/corvus", Accel::Kvm)
}

/// Every value that follows `flag`, in order.
pub(super) fn values<'a>(args: &'a [String], flag: &str) -> Vec<&'a str> {
    args.windows(2)
        .filter(|pair| pair[0] == flag)
        .map(|pair| pair[1].as_str())
        .collect()
}
