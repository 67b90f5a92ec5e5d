//! `crv node drain NAME [--stop]` (issue 19): cordon the node, then give
//! its VMs to the other nodes one by one, each to the live uncordoned node
//! with the most free RAM at that moment. Each step is an ordinary request
//! (`vm move`, `vm stop`, `vm start`) sent as the client that asked, so it
//! reaches the VM's owner, is checked and recorded exactly as if the
//! client had typed it; a VM that cannot go is left, with the reason.

use super::shared::paths_of;
use super::{cordon, moving, place};
use crate::context::Context;
use crate::wire::{db, storage};
use corvus_protocol::{DrainedVm, Request, Response, VmInfo, VmRef, VmState, WireError};
use futures::future::BoxFuture;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// How the drain sends one request: through the gateway's routing, which
/// forwards it to the VM's owner.
pub type Sender<'a> =
    dyn Fn(Request) -> BoxFuture<'a, Result<Response, WireError>> + Send + Sync + 'a;

/// What a drain tells its client as it goes: which VM of how many it is
/// handling now (1-based), and its name.
pub type Progress<'a> = dyn Fn(usize, usize, &str) + Send + Sync + 'a;

/// How long a stopped VM may take to reach `stopped` (its stop timeout,
/// then SIGTERM and SIGKILL) before the drain leaves it.
const STOP_WAIT: Duration = Duration::from_secs(180);
const POLL: Duration = Duration::from_millis(250);

/// Whether `--stop` stops, moves and starts this running VM: an HA VM
/// (`--ha`), every one of whose paths is on shared storage.
pub async fn drain_stops(ctx: &Context, vm: &VmInfo) -> Result<bool, WireError> {
    Ok(vm.ha && moving::portable(ctx, vm).await?)
}

/// Cordons `node`, then moves what can move; what became of each VM. Once
/// `cancel` fires, the VM under way is finished and the rest are left.
pub async fn drain(
    ctx: &Context,
    node: &str,
    stop: bool,
    send: &Sender<'_>,
    progress: &Progress<'_>,
    cancel: &CancellationToken,
) -> Result<Vec<DrainedVm>, WireError> {
    cordon::set(ctx, node, true).await?;
    let mut vms = Vec::new();
    for stored in db(ctx.store.load_vms()).await? {
        if stored.vm.node.as_deref() == Some(node) {
            let id = stored.vm.id;
            vms.push(
                stored
                    .into_info(ctx.paths(id).to_protocol())
                    .map_err(storage)?,
            );
        }
    }
    let total = vms.len();
    let mut report = Vec::with_capacity(total);
    for (index, vm) in vms.into_iter().enumerate() {
        if cancel.is_cancelled() {
            report.push(DrainedVm {
                vm: vm.name,
                moved_to: None,
                note: "left: the drain was cancelled".to_owned(),
            });
            continue;
        }
        progress(index + 1, total, &vm.name);
        let outcome = one(ctx, &vm, stop, send).await;
        report.push(match outcome {
            Ok((to, note)) => DrainedVm {
                vm: vm.name,
                moved_to: Some(to),
                note,
            },
            Err(why) => DrainedVm {
                vm: vm.name,
                moved_to: None,
                note: why,
            },
        });
    }
    Ok(report)
}

/// Moves one VM (stopping and starting it again when it ran); the node it
/// went to and what was done, or why it stayed.
async fn one(
    ctx: &Context,
    vm: &VmInfo,
    stop: bool,
    send: &Sender<'_>,
) -> Result<(String, String), String> {
    let reference = VmRef::Id(vm.id);
    let running = vm.status.has_process();
    let paths = paths_of(&ctx.store, vm).await.map_err(|err| left(&err))?;
    match vm.status {
        VmState::Stopped | VmState::Error => {}
        _ if !running => {
            return Err(format!("left: it is {}; only stopped VMs move", vm.status));
        }
        _ if !stop => {
            return Err(format!(
                "left: it is {}; `--stop` stops, moves and starts running HA VMs whose paths are all shared",
                vm.status
            ));
        }
        _ if !vm.ha => {
            return Err(
                "left running: not an HA VM (`crv vm edit VM --ha true`, or stop it first)"
                    .to_owned(),
            );
        }
        _ if !drain_stops(ctx, vm).await.map_err(|err| left(&err))? => {
            return Err(format!(
                "left running: some of its paths are not on shared storage ({})",
                super::shared::unshared(&ctx.node, &paths)
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        _ => {
            // Refused early, while it still runs, if it could not move anyway.
            let to = place(ctx, None).await.map_err(|err| left(&err))?;
            moving::check(ctx, &vm.name, &paths, &vm.node, &to)
                .await
                .map_err(|err| left(&err))?;
            send(Request::StopVm {
                vm: reference.clone(),
                timeout_secs: None,
            })
            .await
            .map_err(|err| format!("left running: the stop failed: {}", err.message))?;
            wait_stopped(&reference, send).await?;
        }
    }
    let to = place(ctx, None).await.map_err(|err| left(&err))?;
    send(Request::MoveVm {
        vm: reference.clone(),
        node: to.clone(),
    })
    .await
    .map_err(|err| left(&err))?;
    if !running {
        return Ok((to, "moved".to_owned()));
    }
    match send(Request::StartVm { vm: reference }).await {
        Ok(_) => Ok((
            to.clone(),
            format!("stopped, moved and started on node '{to}'"),
        )),
        Err(err) => Ok((
            to.clone(),
            format!(
                "stopped and moved, but its start on node '{to}' failed: {}",
                err.message
            ),
        )),
    }
}

fn left(err: &WireError) -> String {
    format!("left: {}", err.message)
}

/// Waits until the VM's owner records it stopped (or in error).
async fn wait_stopped(vm: &VmRef, send: &Sender<'_>) -> Result<(), String> {
    let started = Instant::now();
    loop {
        if let Ok(Response::Vm(info)) = send(Request::ShowVm { vm: vm.clone() }).await
            && matches!(info.status, VmState::Stopped | VmState::Error)
        {
            return Ok(());
        }
        if started.elapsed() > STOP_WAIT {
            return Err(format!(
                "left: it was asked to stop but did not within {} s",
                STOP_WAIT.as_secs()
            ));
        }
        tokio::time::sleep(POLL).await;
    }
}
