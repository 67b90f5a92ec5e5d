//! Drives and the checks of what QEMU would refuse.

use super::*;
use crate::cmdline::{InvalidVm, check_drive, validate};

#[test]
fn every_drive_interface_maps_to_its_device() {
    let mut vm = vm();
    let mut cd = drive(4, DriveInterface::Sata, "/img/install.iso");
    cd.media = DriveMedia::Cdrom;
    cd.format = DriveFormat::Raw;
    let mut scsi_cd = drive(6, DriveInterface::Scsi, "/img/tools.iso");
    scsi_cd.media = DriveMedia::Cdrom;
    let mut code = drive(8, DriveInterface::Pflash, "/fw/code.fd");
    code.format = DriveFormat::Raw;
    code.read_only = true;
    let mut vars = drive(9, DriveInterface::Pflash, "/fw/vars.fd");
    vars.format = DriveFormat::Raw;
    vm.drives = vec![
        drive(1, DriveInterface::Virtio, "/img/root.qcow2"),
        drive(2, DriveInterface::Ide, "/img/ide.qcow2"),
        drive(3, DriveInterface::Sata, "/img/sata.qcow2"),
        cd,
        drive(5, DriveInterface::Scsi, "/img/scsi.qcow2"),
        scsi_cd,
        drive(7, DriveInterface::Nvme, "/img/nvme.qcow2"),
        code,
        vars,
    ];
    let args = args(&vm);
    // Only pflash keeps -drive; every other drive is a -blockdev pair of
    // named nodes, read-only for a cdrom.
    assert_eq!(
        values(&args, "-drive"),
        [
            "if=pflash,unit=0,file=/fw/code.fd,format=raw,readonly=on",
            "if=pflash,unit=1,file=/fw/vars.fd,format=raw",
        ]
    );
    let blockdevs: Vec<serde_json::Value> = values(&args, "-blockdev")
        .iter()
        .map(|text| serde_json::from_str(text).expect("JSON syntax"))
        .collect();
    assert_eq!(blockdevs.len(), 7);
    assert_eq!(
        blockdevs[3],
        serde_json::json!({
            "node-name": "drive4", "driver": "raw", "read-only": true,
            "file": {"node-name": "drive4-file", "driver": "file",
                     "filename": "/img/install.iso", "read-only": true}
        })
    );
    let devices = values(&args, "-device");
    let drive_devices: Vec<_> = devices.iter().skip(1).copied().collect();
    assert_eq!(
        drive_devices,
        [
            "pcie-root-port,id=port-disk1,chassis=1,addr=0x10.0,multifunction=on",
            "virtio-blk-pci,bus=port-disk1,drive=drive1,id=disk1,bootindex=1",
            "ide-hd,bus=ide.0,drive=drive2,id=disk2,bootindex=2",
            "ide-hd,bus=ide.1,drive=drive3,id=disk3,bootindex=3",
            "ide-cd,bus=ide.2,drive=drive4,id=disk4,bootindex=4",
            "pcie-root-port,id=port-scsi0,chassis=2,addr=0x10.1",
            "virtio-scsi-pci,id=scsi0,bus=port-scsi0",
            "scsi-hd,bus=scsi0.0,drive=drive5,id=disk5,bootindex=5",
            "scsi-cd,bus=scsi0.0,drive=drive6,id=disk6,bootindex=6",
            "pcie-root-port,id=port-disk7,chassis=3,addr=0x10.2",
            "nvme,serial=corvus-7,bus=port-disk7,drive=drive7,id=disk7,bootindex=7",
        ]
    );
}

#[test]
fn drive_options_cover_format_cache_discard_and_read_only() {
    let mut vm = vm();
    let formats = [
        DriveFormat::Qcow2,
        DriveFormat::Raw,
        DriveFormat::Vmdk,
        DriveFormat::Vdi,
    ];
    for (index, cache) in CacheMode::ALL.iter().enumerate() {
        let mut d = drive(index as i64 + 1, DriveInterface::Virtio, "/img/d");
        d.cache = Some(*cache);
        d.format = formats[index % formats.len()];
        d.discard = index % 2 == 0;
        d.read_only = index == 1;
        vm.drives.push(d);
    }
    let args = args(&vm);
    let blockdevs: Vec<serde_json::Value> = values(&args, "-blockdev")
        .iter()
        .map(|text| serde_json::from_str(text).expect("JSON syntax"))
        .collect();
    let summary: Vec<_> = blockdevs
        .iter()
        .map(|node| {
            (
                node["driver"].as_str().unwrap_or_default().to_owned(),
                node["read-only"].as_bool(),
                node["cache"].clone(),
                node["file"]["discard"].as_str().map(str::to_owned),
            )
        })
        .collect();
    let cache =
        |direct: bool, no_flush: bool| serde_json::json!({"direct": direct, "no-flush": no_flush});
    let unmap = Some("unmap".to_owned());
    assert_eq!(
        summary,
        [
            (
                "qcow2".into(),
                Some(false),
                cache(true, false),
                unmap.clone()
            ),
            ("raw".into(), Some(true), cache(false, false), None),
            (
                "vmdk".into(),
                Some(false),
                cache(false, false),
                unmap.clone()
            ),
            ("vdi".into(), Some(false), cache(true, false), None),
            ("qcow2".into(), Some(false), cache(false, true), unmap),
        ]
    );
    let write_caches: Vec<_> = values(&args, "-device")
        .into_iter()
        .filter(|d| d.starts_with("virtio-blk-pci"))
        .map(|d| d.contains("write-cache=on"))
        .collect();
    assert_eq!(write_caches, [true, true, false, false, true]);
}

#[test]
fn file_paths_are_comma_escaped_and_relative_ones_cannot_look_like_protocols() {
    let mut vm = vm();
    vm.drives = vec![
        drive(1, DriveInterface::Virtio, "/tmp/a,b c/disk.img"),
        drive(2, DriveInterface::Pflash, "/tmp/a,b c/vars.fd"),
        drive(3, DriveInterface::Virtio, "nbd:disk.img"),
    ];
    let args = args(&vm);
    let drives = values(&args, "-drive");
    assert!(
        drives[0].contains(",file=/tmp/a,,b c/vars.fd,"),
        "{}",
        drives[0]
    );
    // -blockdev is JSON: no comma escaping, and an explicit `file` driver
    // takes `nbd:` as part of the name rather than as a protocol.
    let files: Vec<String> = values(&args, "-blockdev")
        .iter()
        .map(|text| serde_json::from_str::<serde_json::Value>(text).expect("JSON syntax"))
        .map(|node| {
            node["file"]["filename"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    assert_eq!(files, ["/tmp/a,b c/disk.img", "nbd:disk.img"]);
}

#[test]
fn a_seventh_ahci_drive_gets_a_second_controller() {
    let mut vm = vm();
    vm.drives = (1..=8)
        .map(|id| drive(id, DriveInterface::Sata, "/img/d"))
        .collect();
    let args = args(&vm);
    let devices = values(&args, "-device");
    let buses: Vec<_> = devices
        .iter()
        .filter_map(|d| d.strip_prefix("ide-hd,bus="))
        .map(|rest| rest.split(',').next().unwrap_or_default())
        .collect();
    assert_eq!(
        buses,
        [
            "ide.0", "ide.1", "ide.2", "ide.3", "ide.4", "ide.5", "ahci1.0", "ahci1.1"
        ]
    );
    assert_eq!(
        devices
            .iter()
            .filter(|d| d.starts_with("ich9-ahci"))
            .count(),
        1
    );
    let controller = devices.iter().position(|d| *d == "ich9-ahci,id=ahci1");
    let first_user = devices.iter().position(|d| d.contains("bus=ahci1.0"));
    assert!(
        controller < first_user,
        "the controller comes before its first disk"
    );
}

#[test]
fn read_only_ide_and_sata_disks_are_refused_but_cdroms_are_fine() {
    for interface in [DriveInterface::Ide, DriveInterface::Sata] {
        assert_eq!(
            check_drive(interface, DriveMedia::Disk, true),
            Err(InvalidVm::ReadOnlyIdeDisk { interface })
        );
        assert_eq!(check_drive(interface, DriveMedia::Cdrom, true), Ok(()));
        assert_eq!(check_drive(interface, DriveMedia::Disk, false), Ok(()));
    }
    for interface in [
        DriveInterface::Virtio,
        DriveInterface::Scsi,
        DriveInterface::Nvme,
        DriveInterface::Pflash,
    ] {
        assert_eq!(check_drive(interface, DriveMedia::Disk, true), Ok(()));
    }
    let err = check_drive(DriveInterface::Sata, DriveMedia::Disk, true).unwrap_err();
    assert!(err.to_string().contains("read-only sata disk"), "{err}");
}

#[test]
fn a_whole_vm_is_validated() {
    let mut vm = vm();
    assert_eq!(validate(&vm), Ok(()));
    vm.drives = (1..=3)
        .map(|id| drive(id, DriveInterface::Pflash, "/fw"))
        .collect();
    assert_eq!(validate(&vm), Err(InvalidVm::TooManyPflash));
    vm.drives.truncate(2);
    let mut ro = drive(3, DriveInterface::Ide, "/d");
    ro.read_only = true;
    vm.drives.push(ro);
    assert!(matches!(
        validate(&vm),
        Err(InvalidVm::ReadOnlyIdeDisk { .. })
    ));
    vm.drives.clear();

    vm.initrd = Some("/boot/initrd".into());
    assert_eq!(validate(&vm), Err(InvalidVm::InitrdWithoutKernel));
    vm.initrd = None;
    vm.cmdline = Some("quiet".into());
    assert_eq!(validate(&vm), Err(InvalidVm::CmdlineWithoutKernel));
    vm.kernel = Some("/boot/vmlinuz".into());
    assert_eq!(validate(&vm), Ok(()));
}

#[test]
fn a_drive_on_a_disk_gets_its_whole_chain_with_explicit_formats() {
    use corvus_protocol::DiskFormat;
    let mut vm = vm();
    let mut root = drive(3, DriveInterface::Virtio, "/d/root.qcow2");
    root.disk_id = Some(10);
    root.cache = Some(CacheMode::Writethrough);
    root.discard = true;
    let mut data = drive(4, DriveInterface::Scsi, "/d/data,1.raw");
    data.disk_id = Some(11);
    data.format = DriveFormat::Raw;
    vm.drives = vec![root, data, drive(5, DriveInterface::Virtio, "/plain.qcow2")];
    let layer = |path: &str, format| ImageLayer {
        path: path.into(),
        format,
    };
    let images = DriveImages::from([
        (
            3,
            vec![
                layer("/d/root.qcow2", DiskFormat::Qcow2),
                layer("/d/base.qcow2", DiskFormat::Qcow2),
                layer("/d/first.raw", DiskFormat::Raw),
            ],
        ),
        (4, vec![layer("/d/data,1.raw", DiskFormat::Raw)]),
    ]);
    let args = build_with_images(&vm, &images, "/run/corvus", Accel::Kvm);
    let blockdevs: Vec<serde_json::Value> = values(&args, "-blockdev")
        .iter()
        .map(|text| serde_json::from_str(text).expect("JSON syntax"))
        .collect();
    let cache = serde_json::json!({"direct": false, "no-flush": false});
    assert_eq!(
        blockdevs[0],
        serde_json::json!({
            "node-name": "drive3", "driver": "qcow2", "read-only": false, "cache": cache,
            "discard": "unmap",
            "file": {"node-name": "drive3-file", "driver": "file", "filename": "/d/root.qcow2",
                     "read-only": false, "cache": cache, "discard": "unmap"},
            "backing": {
                "driver": "qcow2", "read-only": true, "cache": cache,
                "file": {"driver": "file", "filename": "/d/base.qcow2", "read-only": true, "cache": cache},
                "backing": {
                    "driver": "raw", "read-only": true, "cache": cache,
                    "file": {"driver": "file", "filename": "/d/first.raw", "read-only": true, "cache": cache}
                }
            }
        })
    );
    // A raw disk has no backing option at all; commas need no escaping in JSON.
    assert_eq!(
        blockdevs[1],
        serde_json::json!({
            "node-name": "drive4", "driver": "raw", "read-only": false,
            "file": {"node-name": "drive4-file", "driver": "file", "filename": "/d/data,1.raw",
                     "read-only": false}
        })
    );
    // A plain qcow2 file keeps the backing file its header names.
    assert_eq!(blockdevs[2]["backing"], serde_json::Value::Null);
    assert!(blockdevs[2].get("backing").is_none());
    assert!(values(&args, "-drive").is_empty());
    let devices = values(&args, "-device");
    assert!(
        devices.contains(
            &"virtio-blk-pci,bus=port-disk3,drive=drive3,id=disk3,write-cache=off,bootindex=1"
        ),
        "{devices:?}"
    );
    assert!(
        devices.contains(&"scsi-hd,bus=scsi0.0,drive=drive4,id=disk4,bootindex=2"),
        "{devices:?}"
    );
}
