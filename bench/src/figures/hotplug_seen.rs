//! Figure 14, as the guest sees it (issue 16): from `vm drive add` on a
//! running Linux guest (the test guest, under TCG) until its kernel has
//! probed the new virtio disk — the line virtio_blk prints on the serial
//! console (`loglevel=6`). Baseline, interleaved by boot: a bare QEMU with
//! the same command line given `query-pci`, `blockdev-add` and
//! `device_add` by hand, timed to the same line in its own serial log.

use super::hotplug::{bare_attach, drive_info, drive_spec, image, reset_without_drives};
use super::{Bench, progress, rotated};
use crate::bare::BareVm;
use crate::daemon::Daemon;
use crate::report::{Row, Target, Unit};
use crate::seed;
use crate::stats::ms;
use anyhow::{Context as _, bail};
use corvus_protocol::{Request, VmRef};
use corvus_qemu::{Accel, VmPaths};
use harness::guest::Guest;
use std::path::Path;
use std::time::{Duration, Instant};

/// What virtio_blk prints once it has probed a disk.
const PROBED: &str = "512-byte logical blocks";
/// A TCG boot of the test guest takes seconds; a stuck one fails the run.
const BOOT_DEADLINE: Duration = Duration::from_secs(120);
const SEEN_DEADLINE: Duration = Duration::from_secs(30);

#[derive(Clone, Copy)]
enum Side {
    Corvus,
    Bare,
}

pub async fn run(bench: &mut Bench) -> anyhow::Result<()> {
    let (boots, attaches) = bench.plan.hotplug_seen;
    progress(&format!(
        "figure 14: {boots} × {attaches} hot attaches seen by a Linux guest (TCG)"
    ));
    let Some(guest) = Guest::get() else {
        bail!("figure 14 needs the test guest: tests/guest/build.sh could not build it");
    };
    let dir = bench.dir("hotplug-seen");
    let url = format!("sqlite://{}", dir.join("corvus.db").display());
    let (mut daemon, _) = Daemon::start(&bench.bins, &dir, url, "tcg").await?;
    let mut client = daemon.client().await?;
    let mut spec = seed::spec("seen");
    spec.ram_mb = 256;
    spec.hotplug_slots = Some(attaches as u32);
    spec.kernel = Some(text(&guest.kernel)?);
    spec.initrd = Some(text(&guest.initrd)?);
    spec.cmdline = Some("console=ttyS0 loglevel=6 panic=-1 cryptomgr.notests".into());
    spec.cpu_model = None;
    let vm = client
        .vm(Request::CreateVm {
            spec: Box::new(spec),
        })
        .await?;
    let target = VmRef::Id(vm.id);
    let images: Vec<_> = (0..attaches)
        .map(|n| image(&dir, n))
        .collect::<anyhow::Result<_>>()?;
    let corvus_serial = VmPaths::new(&daemon.runtime, vm.id).serial_log;
    let bare_root = dir.join("bare");
    let bare_serial = VmPaths::new(&bare_root, vm.id).serial_log;
    let (mut corvus, mut bare) = (Vec::new(), Vec::new());
    for boot in 0..boots {
        for side in rotated(&[Side::Corvus, Side::Bare], boot) {
            match side {
                Side::Corvus => {
                    client.vm(Request::StartVm { vm: target.clone() }).await?;
                    wait_for(&corvus_serial, "GUEST READY", 1, BOOT_DEADLINE)?;
                    for (n, image) in images.iter().enumerate() {
                        let started = Instant::now();
                        client
                            .vm(Request::AddDrive {
                                vm: target.clone(),
                                drive: drive_spec(image)?,
                            })
                            .await?;
                        wait_for(&corvus_serial, PROBED, n + 1, SEEN_DEADLINE)?;
                        corvus.push(ms(started.elapsed()));
                    }
                    reset_without_drives(&mut client, &target).await?;
                }
                Side::Bare => {
                    let (mut qemu, _) =
                        BareVm::new(&bench.bins.qemu, &vm, &bare_root, Accel::Tcg).start()?;
                    wait_for(&bare_serial, "GUEST READY", 1, BOOT_DEADLINE)?;
                    for (n, image) in images.iter().enumerate() {
                        let drive = drive_info(image, 1000 + n as i64)?;
                        let started = Instant::now();
                        bare_attach(&mut qemu, &drive, attaches)?;
                        wait_for(&bare_serial, PROBED, n + 1, SEEN_DEADLINE)?;
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
            "hot attach of a virtio drive: `vm drive add` on a running Linux guest → its kernel probed the disk",
            Unit::Ms,
            &corvus,
            Some((
                "bare QEMU: query-pci + blockdev-add + device_add by hand → the same kernel line",
                &bare,
            )),
            Target::None,
        )
        .with_note(format!(
            "{boots} boots × {attaches} attaches per side, the test guest under TCG"
        )),
    );
    Ok(())
}

/// Waits until `needle` occurs `count` times in the serial log.
fn wait_for(log: &Path, needle: &str, count: usize, deadline: Duration) -> anyhow::Result<()> {
    let until = Instant::now() + deadline;
    loop {
        let text = std::fs::read(log).unwrap_or_default();
        if String::from_utf8_lossy(&text).matches(needle).count() >= count {
            return Ok(());
        }
        if Instant::now() >= until {
            bail!(
                "{needle:?} did not show {count} time(s) in {} within {deadline:?}",
                log.display()
            );
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn text(path: &Path) -> anyhow::Result<String> {
    Ok(path.to_str().context("a UTF-8 guest path")?.to_owned())
}
