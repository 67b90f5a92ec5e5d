//! Figure 14: hot attach of a drive (issue 16). A firmware-only VM with
//! enough hotplug slots runs; each attach is `vm drive add` of a fresh raw
//! image as a virtio disk through the daemon (an in-process client, so the
//! figure is the daemon's work: an id reserved in the database, QMP
//! `query-pci`, `blockdev-add`, `device_add`, the row written), timed to
//! QEMU's confirmation. Baseline, interleaved by round: a bare QEMU with
//! the same command line given the same three QMP commands by hand. The
//! guest's own view is left out: a firmware guest has no OS to notice the
//! device (the hotplug test checks that a Linux guest does).

use super::{Bench, progress, rotated};
use crate::bare::{BareQemu, BareVm};
use crate::client::Client;
use crate::daemon::Daemon;
use crate::report::{Row, Target, Unit};
use crate::seed;
use crate::stats::ms;
use anyhow::Context as _;
use corvus_protocol::{
    DriveFormat, DriveInfo, DriveInterface, DriveMedia, DriveSpec, Request, VmRef,
};
use corvus_qemu::{Accel, hotplug};
use std::path::{Path, PathBuf};
use std::time::Instant;

#[derive(Clone, Copy)]
enum Step {
    Corvus,
    Bare,
}

pub async fn run(bench: &mut Bench) -> anyhow::Result<()> {
    let (rounds, attaches) = bench.plan.hotplug;
    progress(&format!(
        "figure 14: {rounds} × {attaches} hot attaches of a virtio drive"
    ));
    let dir = bench.dir("hotplug");
    let url = format!("sqlite://{}", dir.join("corvus.db").display());
    let (mut daemon, _) = Daemon::start(&bench.bins, &dir, url, &bench.accel).await?;
    let mut client = daemon.client().await?;
    let accel = match client.request(Request::Status).await? {
        corvus_protocol::Response::Status(status) if status.accel == "tcg" => Accel::Tcg,
        _ => Accel::Kvm,
    };
    let mut spec = seed::spec("hot");
    spec.hotplug_slots = Some(attaches as u32);
    let vm = client
        .vm(Request::CreateVm {
            spec: Box::new(spec),
        })
        .await?;
    let images: Vec<PathBuf> = (0..attaches)
        .map(|n| image(&dir, n))
        .collect::<anyhow::Result<_>>()?;
    let bare_root = dir.join("bare");
    let (mut corvus, mut bare) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        for step in rotated(&[Step::Corvus, Step::Bare], round) {
            match step {
                Step::Corvus => {
                    let target = VmRef::Id(vm.id);
                    client.vm(Request::StartVm { vm: target.clone() }).await?;
                    for image in &images {
                        let started = Instant::now();
                        client
                            .vm(Request::AddDrive {
                                vm: target.clone(),
                                drive: drive_spec(image)?,
                            })
                            .await?;
                        corvus.push(ms(started.elapsed()));
                    }
                    reset_without_drives(&mut client, &target).await?;
                }
                Step::Bare => {
                    let (mut qemu, _) =
                        BareVm::new(&bench.bins.qemu, &vm, &bare_root, accel).start()?;
                    for (n, image) in images.iter().enumerate() {
                        let drive = drive_info(image, 1000 + n as i64)?;
                        let started = Instant::now();
                        bare_attach(&mut qemu, &drive, attaches)?;
                        bare.push(ms(started.elapsed()));
                    }
                    qemu.kill();
                }
            }
        }
    }
    daemon.stop().await?;
    bench.row(
        Row::new(
            14,
            "hot attach of a virtio drive: `vm drive add` on a running VM → QEMU confirmed, row written",
            Unit::Ms,
            &corvus,
            Some((
                "bare QEMU: query-pci + blockdev-add + device_add by hand",
                &bare,
            )),
            Target::None,
        )
        .with_note(format!(
            "{rounds} boots × {attaches} attaches per side, firmware-only guest"
        )),
    );
    Ok(())
}

/// Kills the VM and takes the drives the round added out of its definition.
pub(super) async fn reset_without_drives(
    client: &mut Client,
    target: &VmRef,
) -> anyhow::Result<()> {
    client.vm(Request::ResetVm { vm: target.clone() }).await?;
    let defined = client.vm(Request::ShowVm { vm: target.clone() }).await?;
    for drive in defined.drives {
        client
            .vm(Request::RemoveDrive {
                vm: target.clone(),
                drive_id: drive.id,
                timeout_secs: None,
            })
            .await?;
    }
    Ok(())
}

/// What the daemon sends QEMU for a live attach, by hand: a free port,
/// the image's node, the device.
pub(super) fn bare_attach(
    qemu: &mut BareQemu,
    drive: &DriveInfo,
    slots: usize,
) -> anyhow::Result<()> {
    let pci = qemu.execute_with("query-pci", serde_json::json!({}))?;
    let port = hotplug::free_hotplug_port(&pci, slots as u32)
        .context("the bare QEMU has no free hotplug port")?;
    qemu.execute_with("blockdev-add", hotplug::drive_blockdev(drive, None))?;
    let device = hotplug::drive_device(drive, &port).context("a virtio drive has a device")?;
    qemu.execute_with("device_add", device.to_qmp())?;
    Ok(())
}

pub(super) fn image(dir: &Path, n: usize) -> anyhow::Result<PathBuf> {
    let path = dir.join(format!("hot-{n}.raw"));
    let file = std::fs::File::create(&path)
        .with_context(|| format!("Cannot create {}", path.display()))?;
    file.set_len(1 << 20)
        .context("Cannot size a hotplug image")?;
    Ok(path)
}

fn path_text(image: &Path) -> anyhow::Result<String> {
    Ok(image.to_str().context("a UTF-8 scratch path")?.to_owned())
}

pub(super) fn drive_spec(image: &Path) -> anyhow::Result<DriveSpec> {
    Ok(DriveSpec {
        file_path: path_text(image)?,
        interface: DriveInterface::Virtio,
        format: DriveFormat::Raw,
        media: DriveMedia::Disk,
        read_only: false,
        cache: None,
        discard: false,
        disk: None,
    })
}

pub(super) fn drive_info(image: &Path, id: i64) -> anyhow::Result<DriveInfo> {
    Ok(DriveInfo {
        id,
        interface: DriveInterface::Virtio,
        file_path: path_text(image)?,
        format: DriveFormat::Raw,
        media: DriveMedia::Disk,
        read_only: false,
        cache: None,
        discard: false,
        disk_id: None,
    })
}
