//! The root supervisor: spawns one linked VmActor per VM, routes commands
//! to them, creates and forgets VMs, and respawns an actor that fails.

mod create;
mod failover;
mod foreign;
mod msg;
mod registry;
mod respawn;
mod route;
mod stats;

pub use msg::SupervisorMsg;
pub use stats::StatsQuery;

use crate::context::SharedContext;
use crate::disks::{self, DiskArgs, DiskServiceRef};
use crate::networks::{self, NetworkArgs, NetworkServiceRef};
use crate::vm::{self, VmArgs, VmMsg};
use corvus_protocol::{StateCount, VmInfo, VmState, WireError};
use corvus_storage::StoredVm;
use futures::StreamExt;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent};
use registry::{Entry, Registry};
use std::sync::Arc;
use tokio::sync::watch;
use tracing::{error, warn};

pub type SupervisorRef = ActorRef<SupervisorMsg>;

pub struct SupervisorArgs {
    pub ctx: SharedContext,
    pub vms: Vec<StoredVm>,
    /// How often the stats collector reads every running VM.
    pub stats_interval: std::time::Duration,
}

pub struct SupervisorState {
    ctx: SharedContext,
    shutting_down: bool,
    registry: Registry,
    actor_failures: respawn::Failures,
    disks: DiskServiceRef,
    networks: NetworkServiceRef,
    stats: Option<crate::stats::StatsRef>,
    stats_interval: std::time::Duration,
}

pub struct Supervisor;

/// Beyond the longest stop timeout and SIGTERM's grace, for QEMU to exit
/// after SIGKILL and its exit to be recorded.
const STOP_ALL_MARGIN: std::time::Duration = std::time::Duration::from_secs(10);

/// The refusal of a changing request once the daemon is shutting down.
fn shutting_down(verb: &str) -> WireError {
    WireError::unavailable(format!(
        "cannot {verb}: the daemon is shutting down; retry once it is back"
    ))
}

/// How many VM actors start (and re-adopt) at once at daemon start.
const STARTUP_CONCURRENCY: usize = 64;
/// How long daemon start waits for re-adopted QEMUs to answer QMP.
const SETTLE_DEADLINE: std::time::Duration =
    vm::core::ADOPT_QMP_DEADLINE.saturating_add(std::time::Duration::from_secs(1));

async fn spawn_actor(
    ctx: &SharedContext,
    supervisor: &SupervisorRef,
    info: VmInfo,
    quarantine: Option<String>,
    found_pid: Option<u32>,
) -> Result<(i64, Entry), ActorProcessingErr> {
    let id = info.id;
    let name = info.name.clone();
    let (snapshot, receiver) = watch::channel(Arc::new(info.clone()));
    let args = VmArgs {
        ctx: ctx.clone(),
        supervisor: supervisor.clone(),
        info,
        snapshot,
        quarantine,
        found_pid,
    };
    let actor = vm::spawn(args, supervisor.get_cell()).await?;
    Ok((
        id,
        Entry {
            name,
            actor,
            snapshot: receiver,
        },
    ))
}

async fn spawn_disk_service(
    ctx: &SharedContext,
    supervisor: &SupervisorRef,
) -> Result<DiskServiceRef, ractor::SpawnErr> {
    let args = DiskArgs {
        store: ctx.store.clone(),
        data_dir: ctx.data_dir.clone(),
        supervisor: supervisor.clone(),
        node: ctx.node.name.clone(),
        runtime_root: ctx.runtime_root.clone(),
    };
    disks::spawn(args, supervisor.get_cell()).await
}

async fn spawn_network_service(
    ctx: &SharedContext,
    supervisor: &SupervisorRef,
) -> Result<NetworkServiceRef, ractor::SpawnErr> {
    let args = NetworkArgs {
        store: ctx.store.clone(),
        dir: ctx.data_dir.join("networks"),
        dnsmasq: ctx.dnsmasq_binary.clone(),
    };
    networks::spawn(args, supervisor.get_cell()).await
}

pub async fn spawn(args: SupervisorArgs) -> Result<SupervisorRef, ractor::SpawnErr> {
    let (actor, _) = Actor::spawn(Some("supervisor".into()), Supervisor, args).await?;
    Ok(actor)
}

impl Actor for Supervisor {
    type Msg = SupervisorMsg;
    type State = SupervisorState;
    type Arguments = SupervisorArgs;

    async fn pre_start(
        &self,
        myself: SupervisorRef,
        args: SupervisorArgs,
    ) -> Result<SupervisorState, ActorProcessingErr> {
        let disks = spawn_disk_service(&args.ctx, &myself).await?;
        let networks = spawn_network_service(&args.ctx, &myself).await?;
        let mut state = SupervisorState {
            ctx: args.ctx,
            shutting_down: false,
            registry: Registry::default(),
            actor_failures: respawn::Failures::default(),
            disks,
            networks,
            stats: None,
            stats_interval: args.stats_interval,
        };
        // Our QEMUs as the processes say, whatever the database recorded:
        // one scan of /proc for every VM, off the async threads.
        let owner = state.ctx.owner_mark.clone();
        let marked = tokio::task::spawn_blocking(move || corvus_qemu::find_marked(&owner))
            .await
            .unwrap_or_default();
        let mine: std::collections::HashSet<i64> =
            args.vms.iter().map(|stored| stored.vm.id).collect();
        crate::nodes::fence::kill_moved(&state.ctx, &marked, &mine).await;
        // Actors start concurrently: re-adopting a running VM waits on its
        // QMP handshake, and VMs should not wait for each other's.
        let ctx = state.ctx.clone();
        let spawned: Vec<_> = futures::stream::iter(args.vms)
            .filter_map(|stored| {
                let id = stored.vm.id;
                let info = stored.into_info(ctx.paths(id).to_protocol()).map_err(|err| {
                    // One bad row must not keep every other VM from being managed.
                    error!(vm_id = id, error = %format!("{:#}", anyhow::Error::new(err)), "skipping a VM whose stored definition is invalid");
                });
                std::future::ready(info.ok())
            })
            .map(|info| {
                let found = marked.get(&info.id).copied();
                spawn_actor(&ctx, &myself, info, None, found)
            })
            .buffer_unordered(STARTUP_CONCURRENCY)
            .collect()
            .await;
        for spawned in spawned {
            let (id, entry) = spawned?;
            state.registry.insert(id, entry);
        }
        // Readiness means re-adopted: each actor answers once its QEMU's
        // QMP answered or was given up on, so that the first client sees
        // each VM's real state. Bounded, so one stuck QEMU cannot hold the
        // daemon back.
        let settling = state
            .registry
            .entries()
            .map(|(_, entry)| entry.actor.call(VmMsg::Settled, Some(SETTLE_DEADLINE)));
        futures::future::join_all(settling).await;
        Ok(state)
    }

    /// Autostart runs once every VM has been adopted or found stopped, and
    /// leaves running VMs alone (their actors ignore it unless stopped).
    async fn post_start(
        &self,
        myself: SupervisorRef,
        state: &mut SupervisorState,
    ) -> Result<(), ActorProcessingErr> {
        state.start_stats(&myself).await?;
        for (_, entry) in state.registry.entries() {
            if entry.snapshot.borrow().autostart {
                let _ = entry.actor.cast(VmMsg::Autostart);
            }
        }
        Ok(())
    }

    async fn handle(
        &self,
        myself: SupervisorRef,
        message: SupervisorMsg,
        state: &mut SupervisorState,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            SupervisorMsg::Forward {
                vm,
                command,
                origin,
                reply,
            } => state.forward(&myself, vm, command, origin, reply),
            SupervisorMsg::Located {
                stored,
                command,
                origin,
                reply,
            } => {
                state
                    .located(&myself, stored, command, origin, reply)
                    .await?
            }
            SupervisorMsg::Create {
                spec,
                origin,
                reply,
            } => state.create(&myself, spec, origin, reply),
            SupervisorMsg::Created {
                name,
                origin,
                result,
                reply,
            } => state.created(&myself, name, origin, result, reply).await?,
            SupervisorMsg::Removed { id } => {
                if let Some(entry) = state.registry.remove(id) {
                    entry.actor.stop(Some("VM deleted".into()));
                }
            }
            SupervisorMsg::List { reply } => {
                let _ = reply.send(state.registry.snapshots().collect());
            }
            SupervisorMsg::Resolve { vms, reply } => {
                let ids = vms
                    .iter()
                    .map(|vm| state.registry.resolve(vm).map(|(id, _)| id))
                    .collect();
                let _ = reply.send(ids);
            }
            SupervisorMsg::Counts { reply } => {
                let _ = reply.send(state.counts());
            }
            SupervisorMsg::BeginShutdown => state.shutting_down = true,
            SupervisorMsg::StopAll { reply } => {
                state.shutting_down = true;
                state.stop_all(reply)
            }
            SupervisorMsg::Disk(message) => {
                let _ = state.disks.cast(message);
            }
            SupervisorMsg::Network(message) => {
                let _ = state.networks.cast(message);
            }
            SupervisorMsg::Stats { query, reply } => state.stats(query, reply),
            SupervisorMsg::StatsTargets { reply } => {
                let _ = reply.send(state.targets());
            }
            SupervisorMsg::TakenOver { id, from } => state.taken_over(&myself, id, from),
            SupervisorMsg::TakenOverLoaded { stored, from } => {
                state.taken_over_loaded(&myself, stored, from).await?
            }
            SupervisorMsg::Fence => state.fence(),
            SupervisorMsg::Reclaim => state.reclaim(&myself),
            SupervisorMsg::Release {
                moved,
                owned,
                fences,
            } => state.release(moved, owned, fences),
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        myself: SupervisorRef,
        event: SupervisionEvent,
        state: &mut SupervisorState,
    ) -> Result<(), ActorProcessingErr> {
        // The default would stop the supervisor when any child stops; a VM
        // actor's end is handled here instead.
        match event {
            SupervisionEvent::ActorFailed(cell, err) if cell.get_id() == state.disks.get_id() => {
                error!(error = %err, "the disk service failed; restarting it");
                state.disks = spawn_disk_service(&state.ctx, &myself).await?;
            }
            SupervisionEvent::ActorFailed(cell, err)
                if cell.get_id() == state.networks.get_id() =>
            {
                error!(error = %err, "the network service failed; restarting it");
                state.networks = spawn_network_service(&state.ctx, &myself).await?;
            }
            SupervisionEvent::ActorFailed(cell, err) => {
                if state.stats_ended(&myself, &cell, &err.to_string()).await? {
                    return Ok(());
                }
                if let Some(id) = state.registry.id_of_actor(cell.get_id()) {
                    error!(vm_id = id, error = %err, "VM actor failed; respawning it");
                    state.respawn(&myself, id, &err.to_string()).await?;
                }
            }
            SupervisionEvent::ActorTerminated(cell, _, reason) => {
                let why = reason.clone().unwrap_or_else(|| "stopped".into());
                if state.stats_ended(&myself, &cell, &why).await? {
                    return Ok(());
                }
                // Deleted VMs leave the registry before their actor stops.
                if let Some(id) = state.registry.id_of_actor(cell.get_id()) {
                    warn!(
                        vm_id = id,
                        ?reason,
                        "VM actor stopped unexpectedly; respawning it"
                    );
                    let why = reason.unwrap_or_else(|| "stopped".into());
                    state.respawn(&myself, id, &why).await?;
                }
            }
            SupervisionEvent::ActorStarted(_) | SupervisionEvent::ProcessGroupChanged(_) => {}
        }
        Ok(())
    }
}

impl SupervisorState {
    async fn start_actor(
        &mut self,
        myself: &SupervisorRef,
        info: VmInfo,
        quarantine: Option<String>,
    ) -> Result<(), ActorProcessingErr> {
        let (id, entry) = spawn_actor(&self.ctx, myself, info, quarantine, None).await?;
        self.registry.insert(id, entry);
        Ok(())
    }

    fn stop_all(&self, reply: RpcReplyPort<()>) {
        let mut snapshots = Vec::new();
        let mut longest = vm::core::DEFAULT_STOP_TIMEOUT;
        for (_, entry) in self.registry.entries() {
            let _ = entry.actor.cast(VmMsg::DaemonStop);
            if let Some(secs) = entry.snapshot.borrow().stop_timeout_secs {
                longest = longest.max(std::time::Duration::from_secs(secs.into()));
            }
            snapshots.push(entry.snapshot.clone());
        }
        // Every VM's stop ends by its timeout plus SIGTERM's grace; past
        // that, waiting longer cannot help.
        let deadline = longest + vm::core::KILL_GRACE + STOP_ALL_MARGIN;
        tokio::spawn(async move {
            let all_stopped = async {
                for mut snapshot in snapshots {
                    let _ = snapshot.wait_for(|vm| !vm.status.has_process()).await;
                }
            };
            if tokio::time::timeout(deadline, all_stopped).await.is_err() {
                warn!(
                    deadline_secs = deadline.as_secs(),
                    "some VMs were still running when the daemon gave up waiting"
                );
            }
            let _ = reply.send(());
        });
    }

    fn counts(&self) -> Vec<StateCount> {
        VmState::ALL
            .iter()
            .map(|state| StateCount {
                state: *state,
                count: self
                    .registry
                    .entries()
                    .filter(|(_, e)| e.snapshot.borrow().status == *state)
                    .count() as u64,
            })
            .collect()
    }
}
