//! One of every request, built from the generated values.

use super::samples::*;
use corvus_protocol::*;

pub fn every_request(name: &str, id: i64, n: u64) -> Vec<Request> {
    let vm = || VmRef::Name(name.to_owned());
    vec![
        Request::Ping,
        Request::Status,
        Request::Shutdown,
        Request::ListVms,
        Request::ShowVm { vm: VmRef::Id(id) },
        Request::CreateVm {
            spec: Box::new(VmSpec {
                name: name.to_owned(),
                cpu_count: n as u32,
                ram_mb: n,
                description: None,
                display: DisplayKind::None,
                cpu_model: None,
                stop_timeout_secs: Some(3),
                restart_policy: RestartPolicy::Always,
                max_restarts: Some(2),
                restart_window_secs: None,
                autostart: false,
                kernel: None,
                initrd: Some(name.to_owned()),
                cmdline: None,
                guest_agent: Some(true),
                cloud_init: Some(CloudInitSpec {
                    user: Some(name.to_owned()),
                    ssh_keys: vec!["ssh-rsa AAAA".into()],
                    ..CloudInitSpec::default()
                }),
                forwards: vec![forward(n)],
                hotplug_slots: Some(n as u32),
                node: Some(name.to_owned()),
                ha: n.is_multiple_of(2),
            }),
        },
        Request::EditVm {
            vm: vm(),
            changes: VmChanges {
                ram_mb: Some(n),
                description: Some(String::new()),
                ha: Some(true),
                ..VmChanges::default()
            },
        },
        Request::DeleteVm { vm: vm() },
        Request::AddDrive {
            vm: vm(),
            drive: DriveSpec {
                file_path: name.to_owned(),
                interface: DriveInterface::Pflash,
                format: DriveFormat::Raw,
                media: DriveMedia::Cdrom,
                read_only: true,
                cache: None,
                discard: false,
                disk: Some(VmRef::Name("root".into())),
            },
        },
        Request::RemoveDrive {
            vm: vm(),
            drive_id: id,
            timeout_secs: Some(n as u32),
        },
        Request::AddNic {
            vm: vm(),
            nic: NicSpec {
                nic_type: NicType::Vde,
                host_device: Some(name.to_owned()),
                mac_address: None,
                forwards: vec![forward(n)],
                network: Some(name.to_owned()),
                ip_address: Some("10.77.0.9".into()),
            },
        },
        Request::RemoveNic {
            vm: vm(),
            nic_id: id,
            timeout_secs: None,
        },
        Request::AddShare {
            vm: vm(),
            share: ShareSpec {
                path: name.to_owned(),
                tag: name.to_owned(),
                cache: ShareCache::Auto,
                read_only: true,
            },
        },
        Request::RemoveShare {
            vm: vm(),
            share_id: id,
        },
        Request::StartVm { vm: vm() },
        Request::StopVm {
            vm: vm(),
            timeout_secs: Some(n as u32),
        },
        Request::PauseVm { vm: vm() },
        Request::ResetVm { vm: vm() },
        Request::History {
            vm: vm(),
            limit: None,
        },
        Request::Subscribe {
            filter: SubscribeFilter {
                vms: vec![vm(), VmRef::Id(id)],
                since: Some(n),
            },
        },
        Request::Attach {
            vm: vm(),
            channel: Channel::Serial,
        },
        Request::SpiceUri { vm: vm() },
        Request::ListDisks,
        Request::ShowDisk { disk: vm() },
        Request::CreateDisk {
            name: name.to_owned(),
            size: n,
            format: DiskFormat::Raw,
            node: Some(name.to_owned()),
        },
        Request::ImportDisk {
            spec: ImportSpec {
                name: name.to_owned(),
                source: format!("https://example.invalid/{name}.qcow2.xz"),
                format: DiskFormat::Qcow2,
                sha256: Some("ab".repeat(32)),
                flatten: n.is_multiple_of(2),
            },
        },
        Request::RegisterDisk {
            name: name.to_owned(),
            path: format!("/srv/{name}"),
            format: None,
            node: None,
        },
        Request::OverlayDisk {
            name: name.to_owned(),
            backing: VmRef::Id(id),
        },
        Request::CloneDisk {
            name: name.to_owned(),
            source: vm(),
        },
        Request::ResizeDisk {
            disk: vm(),
            size: n,
            shrink: true,
        },
        Request::DiskSnapshot {
            spec: SnapshotSpec {
                disk: vm(),
                action: SnapshotAction::Revert,
                snapshot: Some(name.to_owned()),
            },
        },
        Request::DeleteDisk {
            disk: vm(),
            keep_file: true,
        },
        Request::CreateVmFromImage {
            spec: Box::new(ImageVmSpec {
                spec: VmSpec {
                    name: name.to_owned(),
                    cpu_count: 1,
                    ram_mb: n,
                    description: None,
                    display: DisplayKind::Spice,
                    cpu_model: None,
                    stop_timeout_secs: None,
                    restart_policy: RestartPolicy::Never,
                    max_restarts: None,
                    restart_window_secs: None,
                    autostart: true,
                    kernel: None,
                    initrd: None,
                    cmdline: None,
                    guest_agent: None,
                    cloud_init: None,
                    forwards: Vec::new(),
                    hotplug_slots: None,
                    node: None,
                    ha: true,
                },
                image: VmRef::Name("base".into()),
                disk_size: Some(n),
            }),
        },
        Request::DeleteVmWithDisks { vm: vm() },
        Request::VmStats { vm: vm() },
        Request::AllStats,
        Request::ReloadRevocations,
        Request::WebLogin,
        Request::SetCloudInit {
            vm: vm(),
            changes: CloudInitChanges {
                ssh_keys: Some(vec![format!("ssh-ed25519 {name}")]),
                hostname: Some(String::new()),
                ..CloudInitChanges::default()
            },
        },
        Request::ClearCloudInit { vm: vm() },
        Request::GuestExec {
            vm: vm(),
            spec: ExecSpec {
                command: vec!["sh".into(), "-c".into(), name.to_owned()],
                input: Some(vec![0, 255, n as u8]),
                timeout_secs: Some(n as u32),
            },
        },
        Request::GuestInterfaces {
            vm: vm(),
            timeout_secs: None,
        },
        Request::CreateNetwork {
            spec: NetworkSpec {
                name: name.to_owned(),
                subnet: "10.77.0.0/24".into(),
                mode: NetworkMode::Isolated,
                dhcp_range: Some("10.77.0.10-10.77.0.20".into()),
                dns_domain: None,
            },
        },
        Request::ListNetworks,
        Request::ShowNetwork { network: vm() },
        Request::DeleteNetwork {
            network: VmRef::Id(id),
        },
        Request::SaveVm { vm: vm() },
        Request::VmSnapshot(VmSnapshotSpec {
            vm: vm(),
            action: SnapshotAction::Create,
            name: Some(name.to_owned()),
            with_ram: n.is_multiple_of(2),
        }),
        Request::ListNodes,
        Request::ShowNode {
            node: name.to_owned(),
        },
        Request::Forwarded {
            client: name.to_owned(),
            role: Role::Node,
            request: Box::new(Request::StartVm { vm: vm() }),
        },
        Request::CordonNode {
            node: name.to_owned(),
            cordoned: true,
        },
        Request::MoveVm {
            vm: vm(),
            node: name.to_owned(),
        },
        Request::DrainNode {
            node: name.to_owned(),
            stop: true,
        },
    ]
}
