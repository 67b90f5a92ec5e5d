//! Request to actor message, and the reply back. Every request variant is
//! matched by name, so a new one cannot slip through unhandled.

use super::Services;
use super::disks;
use super::forwarding;
use super::history::{self, Older};
use super::peer::Peer;
use super::stream::Stream;
use crate::disks::{DiskRequest, JobRequest};
use crate::networks::{NetworkMsg, NetworkRequest};
use crate::supervisor::{StatsQuery, SupervisorMsg};
use crate::vm::{Origin, VmCommand, VmReply};
use corvus_protocol::{
    DaemonStatus, ErrorKind, PROTOCOL_VERSION, Request, Response, VmInfo, VmRef, WireError,
};
use corvus_storage::DbKind;
use ractor::rpc::CallResult;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

pub enum Next {
    Reply(Result<Response, WireError>),
    /// The recent history is in; older events are streamed ahead of it.
    History(Older),
    /// The connection becomes a stream (events or a byte relay).
    Stream(Stream),
}

/// Most commands answer at once; a start waits for QEMU to come up.
pub(super) const QUICK: Duration = Duration::from_secs(15);
const SLOW: Duration = Duration::from_secs(120);

/// Routes one request, timing it for `/metrics` by request kind.
pub async fn handle(request: Request, connection: u64, peer: &Peer, services: &Services) -> Next {
    let verb = request.verb();
    let started = Instant::now();
    // Kept in case another node owns the VM and this one can forward.
    let copy = (services.ctx.store.kind() == DbKind::Postgres
        && !matches!(
            request,
            Request::Subscribe { .. } | Request::Forwarded { .. }
        ))
    .then(|| request.clone());
    let mut next = route(request, connection, peer, services).await;
    if let (Next::Reply(Err(refusal)), Some(request)) = (&next, &copy) {
        if matches!(request, Request::Attach { .. }) {
            if let Some(stream) =
                forwarding::stream_to_owner(refusal, request, peer, services).await
            {
                next = stream;
            }
        } else if let Some(answer) = forwarding::to_owner(refusal, request, peer, services).await {
            next = Next::Reply(answer);
        }
    }
    services.ctx.metrics.observe_rpc(verb, started.elapsed());
    next
}

pub(super) async fn route(
    request: Request,
    connection: u64,
    peer: &Peer,
    services: &Services,
) -> Next {
    let origin = Origin {
        connection,
        client: peer.name,
    };
    let vm = |vm: VmRef, command: VmCommand| forward(services, vm, command, origin);
    if let Some(refusal) = disks::elsewhere(&request, services).await {
        return Next::Reply(Err(refusal));
    }
    let reply = match request {
        Request::Ping => Ok(Response::Pong),
        Request::Status => status(peer, services).await,
        Request::Shutdown => {
            services.shutdown.cancel();
            Ok(Response::ShuttingDown)
        }
        Request::ListVms => super::nodes::list_vms(services).await.map(Response::Vms),
        Request::CreateVm { spec } => call(
            services,
            |reply| SupervisorMsg::Create {
                spec,
                origin,
                reply,
            },
            QUICK,
        )
        .await
        .and_then(|r| r),
        Request::ShowVm { vm: target } => match vm(target, VmCommand::Show).await {
            Ok(Response::Vm(info)) => Ok(Response::Vm(with_leases(services, info).await)),
            other => other,
        },
        Request::EditVm {
            vm: target,
            changes,
        } => vm(target, VmCommand::Edit(changes)).await,
        Request::DeleteVm { vm: target } => vm(target, VmCommand::Delete).await,
        Request::AddDrive { vm: target, drive } => vm(target, VmCommand::AddDrive(drive)).await,
        Request::RemoveDrive {
            vm: target,
            drive_id,
            timeout_secs,
        } => {
            vm(
                target,
                VmCommand::RemoveDrive {
                    id: drive_id,
                    timeout_secs,
                },
            )
            .await
        }
        Request::AddNic { vm: target, nic } => vm(target, VmCommand::AddNic(nic)).await,
        Request::RemoveNic {
            vm: target,
            nic_id,
            timeout_secs,
        } => {
            vm(
                target,
                VmCommand::RemoveNic {
                    id: nic_id,
                    timeout_secs,
                },
            )
            .await
        }
        Request::AddShare { vm: target, share } => vm(target, VmCommand::AddShare(share)).await,
        Request::RemoveShare {
            vm: target,
            share_id,
        } => vm(target, VmCommand::RemoveShare(share_id)).await,
        Request::StartVm { vm: target } => vm(target, VmCommand::Start).await,
        Request::StopVm {
            vm: target,
            timeout_secs,
        } => vm(target, VmCommand::Stop { timeout_secs }).await,
        Request::PauseVm { vm: target } => vm(target, VmCommand::Pause).await,
        Request::ResetVm { vm: target } => vm(target, VmCommand::Reset).await,
        Request::SaveVm { vm: target } => vm(target, VmCommand::Save).await,
        Request::History { vm: target, limit } => {
            return history::recent(target, limit, origin, services).await;
        }
        Request::SpiceUri { vm: target } => vm(target, VmCommand::SpiceUri).await,
        Request::ListDisks => disks::list(services, peer, origin).await,
        Request::ShowDisk { disk } => {
            disks::request(services, DiskRequest::Show(disk), origin).await
        }
        Request::CreateDisk {
            name, size, format, ..
        } => disks::request(services, DiskRequest::Create { name, size, format }, origin).await,
        Request::RegisterDisk {
            name, path, format, ..
        } => {
            disks::request(
                services,
                DiskRequest::Register { name, path, format },
                origin,
            )
            .await
        }
        Request::OverlayDisk { name, backing } => {
            disks::request(services, DiskRequest::Overlay { name, backing }, origin).await
        }
        Request::ResizeDisk { disk, size, shrink } => {
            disks::request(services, DiskRequest::Resize { disk, size, shrink }, origin).await
        }
        Request::DiskSnapshot { spec } => {
            disks::request(services, DiskRequest::Snapshot(spec), origin).await
        }
        Request::DeleteDisk { disk, keep_file } => {
            disks::request(services, DiskRequest::Delete { disk, keep_file }, origin).await
        }
        Request::CreateVmFromImage { spec } => {
            disks::request(services, DiskRequest::CreateVm(spec), origin).await
        }
        Request::DeleteVmWithDisks { vm: target } => {
            disks::request(services, DiskRequest::DeleteVmWithDisks(target), origin).await
        }
        Request::ImportDisk { spec } => {
            return disks::start_job(services, JobRequest::Import(spec));
        }
        Request::CloneDisk { name, source } => {
            return disks::start_job(services, JobRequest::Clone { name, source });
        }
        Request::Subscribe { filter } => return Stream::subscribe(filter, services).await,
        Request::Attach {
            vm: target,
            channel,
        } => return Stream::attach(target, channel, origin, services).await,
        Request::VmStats { vm: target } => {
            match stats(services, StatsQuery::Vm(target.clone())).await {
                // The collector reads this node's QEMUs: another node's VM is
                // refused with its owner (and so forwarded when it can be).
                Err(err) if err.kind == ErrorKind::NotFound => {
                    Err(crate::nodes::owner_of(&services.ctx, &target, "vm stats")
                        .await
                        .unwrap_or(err))
                }
                other => other,
            }
        }
        Request::AllStats => super::nodes::all_stats(services, peer).await,
        Request::ReloadRevocations => super::tls::reload_revocations(services).await,
        Request::WebLogin => crate::web::sessions::login_link(&services.ctx, peer).await,
        Request::SetCloudInit {
            vm: target,
            changes,
        } => vm(target, VmCommand::SetCloudInit(changes)).await,
        Request::ClearCloudInit { vm: target } => vm(target, VmCommand::ClearCloudInit).await,
        Request::GuestExec { vm: target, spec } => vm(target, VmCommand::GuestExec(spec)).await,
        Request::GuestInterfaces {
            vm: target,
            timeout_secs,
        } => vm(target, VmCommand::GuestInterfaces { timeout_secs }).await,
        Request::CreateNetwork { spec } => network(services, NetworkRequest::Create(spec)).await,
        Request::ListNetworks => network(services, NetworkRequest::List).await,
        Request::ShowNetwork { network: target } => {
            network(services, NetworkRequest::Show(target)).await
        }
        Request::DeleteNetwork { network: target } => {
            network(services, NetworkRequest::Delete(target)).await
        }
        Request::VmSnapshot(spec) => {
            let request = crate::vm::SnapshotRequest {
                action: spec.action,
                name: spec.name,
                with_ram: spec.with_ram,
            };
            vm(spec.vm, VmCommand::Snapshot(request)).await
        }
        Request::ListNodes => super::nodes::list(services).await.map(Response::Nodes),
        Request::ShowNode { node } => super::nodes::show(services, &node).await,
        Request::Forwarded {
            client,
            role,
            request,
        } => {
            return forwarding::serve(client, role, *request, connection, peer, services).await;
        }
        Request::CordonNode { node, cordoned } => {
            match crate::nodes::cordon::set(&services.ctx, &node, cordoned).await {
                Ok(()) => super::nodes::show(services, &node).await,
                Err(err) => Err(err),
            }
        }
        Request::MoveVm { vm: target, node } => vm(target, VmCommand::Move { node }).await,
        Request::DrainNode { node, stop } => {
            return super::nodes::drain(node, stop, connection, peer, services);
        }
    };
    Next::Reply(reply)
}

pub async fn forward(
    services: &Services,
    vm: VmRef,
    command: VmCommand,
    origin: Origin,
) -> Result<Response, WireError> {
    let timeout = match &command {
        VmCommand::Start => SLOW,
        // The agent's own deadline comes first, so its error is the one seen.
        VmCommand::GuestExec(spec) => QUICK + crate::vm::agent_timeout(spec.timeout_secs),
        VmCommand::GuestInterfaces { timeout_secs } => {
            QUICK + crate::vm::agent_timeout(*timeout_secs)
        }
        // A live attach is a few QMP commands; TCG on a loaded host is slow.
        VmCommand::AddDrive(_) | VmCommand::AddNic(_) => SLOW,
        // A job that moves the guest's RAM has a deadline of its own.
        VmCommand::Snapshot(_) => SLOW + crate::vm::SNAPSHOT_DEADLINE,
        // The guest's deadline for letting go of the device comes first.
        VmCommand::RemoveDrive { timeout_secs, .. } | VmCommand::RemoveNic { timeout_secs, .. } => {
            SLOW + crate::vm::detach_timeout(*timeout_secs)
        }
        _ => QUICK,
    };
    match call(
        services,
        |reply| SupervisorMsg::Forward {
            vm,
            command,
            origin,
            reply,
        },
        timeout,
    )
    .await??
    {
        VmReply::Response(response) => Ok(response),
        VmReply::Attached(_) => Err(WireError::internal(
            "an attachment answered a plain request",
        )),
    }
}

/// Calls the supervisor with a deadline; a lost or late answer is a typed error.
pub async fn call<T: Send + 'static>(
    services: &Services,
    message: impl FnOnce(ractor::RpcReplyPort<T>) -> SupervisorMsg,
    timeout: Duration,
) -> Result<T, WireError> {
    match services.supervisor.call(message, Some(timeout)).await {
        Ok(CallResult::Success(value)) => Ok(value),
        Ok(CallResult::Timeout) => Err(WireError::unavailable(format!(
            "the daemon did not answer within {} s; see its log",
            timeout.as_secs()
        ))),
        Ok(CallResult::SenderError) => Err(WireError::unavailable(
            "the request was lost: the actor handling it failed (see the daemon log); retry",
        )),
        Err(_) => Err(WireError::unavailable("the daemon is shutting down")),
    }
}

/// A network request, answered by the NetworkService.
async fn network(services: &Services, request: NetworkRequest) -> Result<Response, WireError> {
    call(
        services,
        |reply| SupervisorMsg::Network(NetworkMsg::Request { request, reply }),
        QUICK,
    )
    .await?
}

/// `vm show`: each managed NIC's address as its network's dnsmasq leased
/// it. Without an answer the NICs show none; the rest of `show` stands.
async fn with_leases(services: &Services, mut info: Box<VmInfo>) -> Box<VmInfo> {
    let mut network_ids: Vec<i64> = info
        .network_interfaces
        .iter()
        .filter_map(|nic| nic.network_id)
        .collect();
    network_ids.dedup();
    if network_ids.is_empty() {
        return info;
    }
    let leases = call(
        services,
        |reply| SupervisorMsg::Network(NetworkMsg::Leases { network_ids, reply }),
        QUICK,
    )
    .await
    .unwrap_or_default();
    for nic in &mut info.network_interfaces {
        if nic.network_id.is_some() {
            nic.lease_address = leases.get(&nic.mac_address.to_lowercase()).cloned();
        }
    }
    info
}

/// A stats request, answered by the collector (a `vm stats` reads QEMU,
/// whose QMP has a deadline of its own well inside this one).
pub(super) async fn stats(services: &Services, query: StatsQuery) -> Result<Response, WireError> {
    call(
        services,
        |reply| SupervisorMsg::Stats { query, reply },
        QUICK,
    )
    .await
    .and_then(|r| r)
}

async fn status(peer: &Peer, services: &Services) -> Result<Response, WireError> {
    let counts = call(services, |reply| SupervisorMsg::Counts { reply }, QUICK).await?;
    let ctx = &services.ctx;
    Ok(Response::Status(Box::new(DaemonStatus {
        daemon_version: env!("CARGO_PKG_VERSION").to_owned(),
        protocol_version: PROTOCOL_VERSION,
        pid: std::process::id(),
        uptime_secs: ctx.started.elapsed().as_secs(),
        connections: ctx.connections.load(Ordering::Relaxed),
        vm_count: counts.iter().map(|c| c.count).sum(),
        vms_by_state: counts,
        database: ctx.store.kind().as_str().to_owned(),
        accel: ctx.accel.as_str().to_owned(),
        persistence_backlog: ctx.persistence_status.backlog(),
        socket: ctx.socket.display().to_string(),
        tcp: ctx.tcp.clone(),
        database_error: ctx.persistence_status.database_error(),
        tls: ctx.tls.clone(),
        client: peer.name.to_string(),
        role: peer.role,
        node: ctx.node.name.clone(),
    })))
}
