//! Figure 13 (issue 16): save and restore of a 256 MiB guest. Corvus:
//! `crv vm save` until the VM is `saved` (QEMU gone, file confirmed), and
//! `crv vm start` on it until `running`. Baseline, interleaved in the same
//! run: a bare QEMU with the same command line driven through the same QMP
//! sequence (`stop`, `migrate` to the same `exec:` URI, `query-migrate`
//! until completed, `quit`; then `-incoming defer`, `migrate-incoming`,
//! `query-migrate`, `cont`). The guest is firmware-only (SeaBIOS with no
//! boot device), so most of its RAM is zero pages: the figure is about what
//! Corvus adds around QEMU's migration, not about the disk.

use super::{Bench, progress, rotated, wait_idle};
use crate::bare::BareVm;
use crate::client::Client;
use crate::crv::Crv;
use crate::daemon::Daemon;
use crate::report::{Row, Target, Unit};
use crate::seed;
use crate::stats::ms;
use anyhow::{Context as _, bail};
use corvus_protocol::{Request, Response, VmRef, VmState};
use corvus_qemu::Accel;

const RAM_MIB: u64 = 256;

#[derive(Clone, Copy)]
enum Step {
    Corvus,
    Bare,
}

pub async fn run(bench: &mut Bench) -> anyhow::Result<()> {
    let rounds = bench.plan.save_rounds;
    progress(&format!(
        "figure 13: {rounds} × save and restore of a {RAM_MIB} MiB guest, Corvus and bare QEMU"
    ));
    let dir = bench.dir("save");
    std::fs::create_dir_all(&dir)?;
    let url = format!("sqlite://{}", dir.join("corvus.db").display());
    let (mut daemon, _) = Daemon::start(&bench.bins, &dir, url, &bench.accel).await?;
    let mut client = daemon.client().await?;
    let accel = accel_of(&mut client).await?;
    let mut spec = seed::spec("saved");
    spec.ram_mb = RAM_MIB;
    let vm = client
        .vm(Request::CreateVm {
            spec: Box::new(spec),
        })
        .await?;
    let crv = Crv::new(&bench.bins.crv, &daemon.socket);
    let name = vm.name.clone();
    let running = client
        .vm(Request::StartVm {
            vm: VmRef::Id(vm.id),
        })
        .await?;
    let bare = BareVm::new(&bench.bins.qemu, &vm, &bench.dir("bare-save"), accel);
    let (mut bare_qemu, _) = bare.start()?;
    let pids: Vec<u32> = running.pid.into_iter().chain([bare_qemu.pid()]).collect();
    wait_idle(&pids).await;
    let partial = bench.dir("bare-save").join("bare.state.partial");
    let complete = bench.dir("bare-save").join("bare.state");

    let (mut corvus_save, mut corvus_restore) = (Vec::new(), Vec::new());
    let (mut bare_save, mut bare_restore) = (Vec::new(), Vec::new());
    // Round 0 warms both paths up and is not recorded.
    for round in 0..=rounds {
        let record = round > 0;
        for step in rotated(&[Step::Corvus, Step::Bare], round) {
            match step {
                Step::Corvus => {
                    let saved = crv.time(&["vm", "save", &name])?;
                    expect(&mut client, vm.id, VmState::Saved).await?;
                    let restored = crv.time(&["vm", "start", &name])?;
                    expect(&mut client, vm.id, VmState::Running).await?;
                    if record {
                        corvus_save.push(ms(saved));
                        corvus_restore.push(ms(restored));
                    }
                }
                Step::Bare => {
                    let saved = bare_qemu.save(&partial, &complete)?;
                    let (restored_qemu, restored) = bare.restore(&complete)?;
                    bare_qemu = restored_qemu;
                    std::fs::remove_file(&complete)
                        .with_context(|| format!("Cannot remove {}", complete.display()))?;
                    if record {
                        bare_save.push(ms(saved));
                        bare_restore.push(ms(restored));
                    }
                }
            }
        }
    }
    drop(bare_qemu);
    client
        .vm(Request::ResetVm {
            vm: VmRef::Id(vm.id),
        })
        .await?;
    daemon.stop().await?;

    bench.row(Row::new(
        13,
        format!("save of a {RAM_MIB} MiB guest: `crv vm save` until `saved`"),
        Unit::Ms,
        &corvus_save,
        Some((
            "bare QEMU: `stop`, `migrate` exec:, `query-migrate` until completed, file renamed, `quit`",
            &bare_save,
        )),
        Target::None,
    ));
    bench.row(Row::new(
        13,
        format!("restore of a {RAM_MIB} MiB guest: `crv vm start` until `running`"),
        Unit::Ms,
        &corvus_restore,
        Some((
            "bare QEMU: spawn with `-incoming defer`, `migrate-incoming`, `query-migrate`, `cont`",
            &bare_restore,
        )),
        Target::None,
    ));
    Ok(())
}

async fn accel_of(client: &mut Client) -> anyhow::Result<Accel> {
    match client.request(Request::Status).await? {
        Response::Status(status) if status.accel == "kvm" => Ok(Accel::Kvm),
        Response::Status(status) if status.accel == "tcg" => Ok(Accel::Tcg),
        other => bail!("unexpected status: {other:?}"),
    }
}

async fn expect(client: &mut Client, id: i64, state: VmState) -> anyhow::Result<()> {
    let vm = client.vm(Request::ShowVm { vm: VmRef::Id(id) }).await?;
    if vm.status != state {
        bail!("figure 13: the VM is {}, expected {state}", vm.status);
    }
    Ok(())
}
