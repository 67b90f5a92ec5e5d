use crate::{common, images};
use corvus_protocol::{CacheMode, DriveFormat, DriveInfo, DriveInterface, DriveMedia};
use serde_json::{Value, json};
use std::path::Path;

fn drive(id: i64, interface: DriveInterface, path: &Path, format: DriveFormat) -> DriveInfo {
    DriveInfo {
        id,
        interface,
        file_path: path.to_str().expect("utf-8 path").to_owned(),
        format,
        media: DriveMedia::Disk,
        read_only: false,
        cache: None,
        discard: false,
        disk_id: None,
    }
}

/// The `query-block` entry of a device, by its backend name (`-drive`)
/// or its top node's name (`-blockdev`).
fn block<'a>(blocks: &'a Value, device: &str) -> &'a Value {
    blocks
        .as_array()
        .and_then(|all| {
            all.iter()
                .find(|b| b["device"] == device || b["inserted"]["node-name"] == device)
        })
        .unwrap_or_else(|| panic!("{device} missing from query-block: {blocks:#}"))
}

#[tokio::test]
async fn every_drive_interface_is_attached() {
    let Some(qemu) = common::qemu() else { return };
    let root = tempfile::tempdir().expect("tempdir");
    let images = root.path().join("a,b c");
    std::fs::create_dir(&images).expect("mkdir");
    let image = |name: &str| images.join(name);

    images::qcow2(&image("virtio.qcow2"), 16 << 20);
    images::raw(&image("ide.img"), 1 << 20);
    images::raw(&image("sata disk.img"), 1 << 20);
    images::raw(&image("cd.iso"), 1 << 20);
    images::qcow2(&image("scsi.qcow2"), 16 << 20);
    images::raw(&image("nvme.img"), 1 << 20);
    images::vmdk(&image("extra.vmdk"), 2048);
    images::raw(&image("code.fd"), 256 << 10);
    images::raw(&image("vars.fd"), 64 << 10);

    let mut definition = common::vm(31);
    let mut virtio = drive(
        1,
        DriveInterface::Virtio,
        &image("virtio.qcow2"),
        DriveFormat::Qcow2,
    );
    virtio.cache = Some(CacheMode::Writeback);
    virtio.discard = true;
    let mut ide = drive(2, DriveInterface::Ide, &image("ide.img"), DriveFormat::Raw);
    ide.cache = Some(CacheMode::Unsafe);
    let sata = drive(
        3,
        DriveInterface::Sata,
        &image("sata disk.img"),
        DriveFormat::Raw,
    );
    let mut cdrom = drive(4, DriveInterface::Sata, &image("cd.iso"), DriveFormat::Raw);
    cdrom.media = DriveMedia::Cdrom;
    let mut scsi = drive(
        5,
        DriveInterface::Scsi,
        &image("scsi.qcow2"),
        DriveFormat::Qcow2,
    );
    scsi.cache = Some(CacheMode::Writethrough);
    scsi.read_only = true;
    let mut scsi_cd = drive(6, DriveInterface::Scsi, &image("cd.iso"), DriveFormat::Raw);
    scsi_cd.media = DriveMedia::Cdrom;
    let mut nvme = drive(
        7,
        DriveInterface::Nvme,
        &image("nvme.img"),
        DriveFormat::Raw,
    );
    nvme.read_only = true;
    let mut vmdk = drive(
        8,
        DriveInterface::Virtio,
        &image("extra.vmdk"),
        DriveFormat::Vmdk,
    );
    vmdk.read_only = true;
    let mut code = drive(
        9,
        DriveInterface::Pflash,
        &image("code.fd"),
        DriveFormat::Raw,
    );
    code.read_only = true;
    let vars = drive(
        10,
        DriveInterface::Pflash,
        &image("vars.fd"),
        DriveFormat::Raw,
    );
    definition.drives = vec![
        virtio, ide, sata, cdrom, scsi, scsi_cd, nvme, vmdk, code, vars,
    ];

    corvus_qemu::cmdline::validate(&definition).expect("a valid definition");
    let vm = common::start(&qemu, root.path(), &definition).await;
    let blocks = vm
        .qmp
        .execute_value("query-block", json!({}))
        .await
        .expect("query-block");

    let expect = |device: &str, file: &str, format: &str, read_only: bool| {
        let inserted = &block(&blocks, device)["inserted"];
        assert_eq!(
            inserted["file"],
            image(file).to_str().expect("utf-8"),
            "{device}"
        );
        assert_eq!(inserted["drv"], format, "{device}");
        assert_eq!(inserted["ro"], read_only, "{device}");
        inserted.clone()
    };
    let virtio = expect("drive1", "virtio.qcow2", "qcow2", false);
    assert_eq!(virtio["cache"]["writeback"], true);
    assert_eq!(virtio["cache"]["no-flush"], false);
    let ide = expect("drive2", "ide.img", "raw", false);
    assert_eq!(ide["cache"]["no-flush"], true, "unsafe skips flushes");
    expect("drive3", "sata disk.img", "raw", false);
    expect("drive4", "cd.iso", "raw", true);
    let scsi = expect("drive5", "scsi.qcow2", "qcow2", true);
    assert_eq!(scsi["cache"]["writeback"], false, "writethrough");
    expect("drive6", "cd.iso", "raw", true);
    expect("drive7", "nvme.img", "raw", true);
    expect("drive8", "extra.vmdk", "vmdk", true);
    expect("pflash0", "code.fd", "raw", true);
    expect("pflash1", "vars.fd", "raw", false);

    assert_eq!(block(&blocks, "drive4")["removable"], true, "a CD-ROM");
    assert_eq!(block(&blocks, "drive6")["removable"], true, "a SCSI CD-ROM");
    let devices = vm
        .qmp
        .human_monitor_command("info qtree")
        .await
        .expect("info qtree");
    for device in [
        "virtio-blk-pci",
        "ide-hd",
        "ide-cd",
        "scsi-hd",
        "scsi-cd",
        "nvme",
    ] {
        assert!(
            devices.contains(&format!("dev: {device},")),
            "{device} in the tree"
        );
    }
}

#[tokio::test]
async fn a_missing_image_makes_qemu_exit_with_its_reason_in_the_log() {
    let Some(qemu) = common::qemu() else { return };
    let root = tempfile::tempdir().expect("tempdir");
    let mut definition = common::vm(32);
    definition.drives = vec![drive(
        1,
        DriveInterface::Virtio,
        Path::new("/nonexistent/disk.qcow2"),
        DriveFormat::Qcow2,
    )];
    let paths = corvus_qemu::VmPaths::new(root.path(), 32);
    let (_process, exit) = common::spawn(&qemu, &paths, &definition).await;
    let exit = tokio::time::timeout(common::EVENT_DEADLINE, exit)
        .await
        .expect("QEMU gives up quickly")
        .expect("watcher");
    assert_eq!(exit.code, Some(1), "{exit}");
    let log = common::qemu_log(&paths);
    assert!(log.contains("/nonexistent/disk.qcow2"), "{log}");
    assert!(log.contains("No such file or directory"), "{log}");
}
