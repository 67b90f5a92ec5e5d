//! The NetworkService's database and netlink work, each a task: it hands
//! its change back to the service, then answers its client.

use super::dnsmasq::{self, Files};
use super::error::NetworkError;
use super::plan::Plan;
use super::{Change, Network, NetworkMsg, NetworkServiceRef, Ready, Reply};
use super::{bridge, host_routes};
use crate::wire::{db, storage};
use corvus_protocol::{
    NetworkEvent, NetworkInfo, NetworkNic, NetworkSpec, NetworkState, Response, WireError,
};
use corvus_storage::{Duplicate, NewNetwork, Store};
use ractor::RpcReplyPort;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tracing::Instrument;

/// How much of its history `network show` tells.
const SHOWN_EVENTS: u64 = 20;

pub fn create(
    store: Store,
    dir: PathBuf,
    myself: NetworkServiceRef,
    spec: NetworkSpec,
    plan: Plan,
    bridge: String,
    reply: Reply,
) {
    let task = async move {
        let new = NewNetwork {
            name: spec.name.clone(),
            subnet: plan.subnet.to_string(),
            mode: spec.mode,
            bridge,
            dhcp_start: plan.dhcp_start.to_string(),
            dhcp_end: plan.dhcp_end.to_string(),
            dns_domain: spec.dns_domain.clone(),
        };
        let recorded = match free_of_host_routes(&plan).await {
            Ok(()) => record(&store, &new).await,
            Err(err) => Err(err),
        };
        let recorded = match recorded {
            Ok(network) => up_or_forget(&store, &dir, network).await,
            Err(err) => Err(err),
        };
        let network = recorded.as_ref().ok().cloned();
        let answer = recorded.map(|n| Response::Network(Box::new(n.info())));
        let _ = myself.cast(NetworkMsg::Apply(Change::Created {
            name: spec.name,
            network,
        }));
        let _ = reply.send(answer.map_err(WireError::from));
    };
    tokio::spawn(task.in_current_span());
}

pub fn show(store: Store, mut info: NetworkInfo, leases: PathBuf, reply: Reply) {
    let task = async move {
        let leased = dnsmasq::leases(&leases).await;
        let events = match db(store.network_events(info.id, SHOWN_EVENTS)).await {
            Ok(rows) => rows
                .into_iter()
                .map(|row| NetworkEvent {
                    at: corvus_storage::rows::timestamp(&row.at),
                    kind: row.kind,
                    reason: row.reason,
                })
                .collect(),
            Err(err) => {
                let _ = reply.send(Err(WireError::from(err)));
                return;
            }
        };
        info.events = events;
        let answer = match db(store.network_nics(info.id)).await {
            Ok(rows) => {
                info.nics = rows
                    .into_iter()
                    .map(|row| NetworkNic {
                        vm_id: row.vm_id,
                        vm_name: row.vm_name,
                        nic_id: row.nic_id,
                        lease_address: leased.get(&row.mac_address.to_lowercase()).cloned(),
                        mac_address: row.mac_address,
                        ip_address: row.ip_address,
                    })
                    .collect();
                Ok(Response::Network(Box::new(info)))
            }
            Err(err) => Err(WireError::from(err)),
        };
        let _ = reply.send(answer);
    };
    tokio::spawn(task.in_current_span());
}

/// Refused while a NIC is on the network; a NIC added meanwhile makes the
/// database refuse the delete (its foreign key restricts it).
pub fn delete(
    store: Store,
    myself: NetworkServiceRef,
    info: NetworkInfo,
    files: Files,
    reply: Reply,
) {
    let task = async move {
        let answer = delete_row(&store, &myself, &info).await.map(|()| {
            let _ = myself.cast(NetworkMsg::Apply(Change::Removed(info.id)));
            Response::NetworkDeleted {
                id: info.id,
                name: info.name.clone(),
            }
        });
        if answer.is_ok()
            && let Err(err) = tokio::fs::remove_dir_all(&files.dir).await
            && err.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(dir = %files.dir.display(), error = %err, "cannot remove a deleted network's files");
        }
        let _ = reply.send(answer.map_err(WireError::from));
    };
    tokio::spawn(task.in_current_span());
}

/// Stops the network's dnsmasq, then removes the bridge and the row; when
/// either fails, dnsmasq starts again.
async fn delete_row(
    store: &Store,
    myself: &NetworkServiceRef,
    info: &NetworkInfo,
) -> Result<(), NetworkError> {
    check_unused(store, info).await?;
    let id = info.id;
    let held = myself
        .call(
            |reply| NetworkMsg::Hold { id, reply },
            Some(Duration::from_secs(10)),
        )
        .await;
    if !matches!(held, Ok(ractor::rpc::CallResult::Success(()))) {
        let _ = myself.cast(NetworkMsg::Release(id));
        return Err(NetworkError::Unavailable(
            "the network's dnsmasq did not stop in time; retry".into(),
        ));
    }
    let removed = remove_bridge_and_row(store, info).await;
    if removed.is_err() {
        let _ = myself.cast(NetworkMsg::Release(id));
    }
    removed
}

async fn check_unused(store: &Store, info: &NetworkInfo) -> Result<(), NetworkError> {
    let in_use = |vms: String| NetworkError::InUse {
        network: info.name.clone(),
        vms,
    };
    let nics = db(store.network_nics(info.id))
        .await
        .map_err(|err| NetworkError::Database(err.into()))?;
    if !nics.is_empty() {
        let mut vms: Vec<String> = nics
            .into_iter()
            .map(|n| format!("VM '{}'", n.vm_name))
            .collect();
        vms.dedup();
        return Err(in_use(vms.join(", ")));
    }
    Ok(())
}

async fn remove_bridge_and_row(store: &Store, info: &NetworkInfo) -> Result<(), NetworkError> {
    let in_use = |vms: String| NetworkError::InUse {
        network: info.name.clone(),
        vms,
    };
    bridge::remove(&info.bridge, info.id)
        .await
        .map_err(NetworkError::Bridge)?;
    match db(store.delete_network(info.id)).await {
        Ok(true) => Ok(()),
        Ok(false) => Err(NetworkError::Unknown(info.name.clone())),
        Err(crate::wire::DbFailure::Refused(err)) if err.referenced() => {
            Err(in_use("a VM that just added a NIC to it".into()))
        }
        Err(err) => Err(NetworkError::Database(err.into())),
    }
}

/// A new network's bridge; when it cannot be made, the row goes again, so
/// that a refused creation leaves nothing.
async fn up_or_forget(
    store: &Store,
    dir: &Path,
    mut network: Network,
) -> Result<Network, NetworkError> {
    let gateway = network.subnet.gateway();
    let made =
        match bridge::ensure(&network.bridge, network.id, gateway, network.subnet.prefix).await {
            Ok(_) => private_dir(&dir.join(network.id.to_string()))
                .await
                .map_err(NetworkError::Unavailable),
            Err(err) => Err(NetworkError::Bridge(err)),
        };
    match made {
        Ok(()) => {
            network.status = NetworkState::Up;
            Ok(network)
        }
        Err(err) => {
            if let Err(undo) = db(store.delete_network(network.id)).await {
                tracing::warn!(network = %network.name, error = %WireError::from(undo), "a network that could not be set up stays recorded");
            }
            Err(err)
        }
    }
}

/// At daemon start: the bridge again, or the one a previous daemon left,
/// the NICs on the network, and its dnsmasq if one is still running with
/// exactly the arguments it would get now.
pub fn bring_up(network: &Network, dir: &Path, store: Store, myself: NetworkServiceRef) {
    let network = network.clone();
    let files = Files::new(dir, network.id);
    let task = async move {
        let result = ready(&network, &files, &store).await;
        let _ = myself.cast(NetworkMsg::BridgeUp {
            id: network.id,
            result,
        });
    };
    tokio::spawn(task.in_current_span());
}

async fn ready(network: &Network, files: &Files, store: &Store) -> Result<Ready, String> {
    let subnet = network.subnet;
    let adopted_bridge =
        bridge::ensure(&network.bridge, network.id, subnet.gateway(), subnet.prefix)
            .await
            .map_err(|err| crate::vm::errors::render(&err))?;
    private_dir(&files.dir).await?;
    let nics = db(store.network_nics(network.id))
        .await
        .map_err(|err| format!("cannot read its NICs: {}", WireError::from(err)))?;
    let hosts = dnsmasq::hosts(&nics);
    let dnsmasq = dnsmasq::adopt(files, &dnsmasq::args(network, files, &hosts)).await;
    Ok(Ready {
        adopted_bridge,
        hosts,
        dnsmasq,
    })
}

/// A network's own directory, private like the data directory it is in.
pub async fn private_dir(dir: &Path) -> Result<(), String> {
    let mut builder = tokio::fs::DirBuilder::new();
    builder.recursive(true).mode(0o700);
    builder
        .create(dir)
        .await
        .map_err(|err| format!("cannot create {}: {err}", dir.display()))
}

/// A launch's NICs on a network, for its dnsmasq.
pub fn load_hosts(
    store: Store,
    id: i64,
    myself: NetworkServiceRef,
    reply: super::dhcp::BridgeReply,
) {
    let task = async move {
        match db(store.network_nics(id)).await {
            Ok(nics) => {
                let hosts = dnsmasq::hosts(&nics);
                let _ = myself.cast(NetworkMsg::HostsLoaded { id, hosts, reply });
            }
            Err(err) => {
                let _ = reply.send(Err(format!(
                    "cannot read the network's NICs: {}",
                    WireError::from(err)
                )));
            }
        }
    };
    tokio::spawn(task.in_current_span());
}

/// The addresses leased on some networks, by MAC.
pub fn leases(files: Vec<PathBuf>, reply: RpcReplyPort<HashMap<String, String>>) {
    let task = async move {
        let mut all = HashMap::new();
        for file in files {
            all.extend(dnsmasq::leases(&file).await);
        }
        let _ = reply.send(all);
    };
    tokio::spawn(task.in_current_span());
}

/// A static address asked for a NIC: which network, and the NIC's MAC
/// when it names one.
pub struct LeaseCheck {
    pub network_id: i64,
    pub network: String,
    pub ip: String,
    pub mac: Option<String>,
}

/// Refuses a static address that dnsmasq leased to another MAC.
pub fn check_lease(
    leases: PathBuf,
    check: LeaseCheck,
    reply: RpcReplyPort<Result<i64, WireError>>,
) {
    let task = async move {
        let leased = dnsmasq::leases(&leases).await;
        let holder = leased
            .iter()
            .find(|(mac, ip)| {
                **ip == check.ip
                    && Some(mac.as_str()) != check.mac.as_deref().map(str::to_lowercase).as_deref()
            })
            .map(|(mac, _)| mac.clone());
        let answer = match holder {
            Some(mac) => Err(NetworkError::IpLeased {
                ip: check.ip,
                network: check.network,
                mac,
            }
            .into()),
            None => Ok(check.network_id),
        };
        let _ = reply.send(answer);
    };
    tokio::spawn(task.in_current_span());
}

/// Writes the Corvus nftables table for these networks.
pub fn apply_nat(rules: Vec<super::nat::Rule>, myself: NetworkServiceRef) {
    let task = async move {
        let result = super::nat::apply(rules)
            .await
            .map_err(|err| crate::vm::errors::render(&err));
        let _ = myself.cast(NetworkMsg::NatApplied(result));
    };
    tokio::spawn(task.in_current_span());
}

async fn free_of_host_routes(plan: &Plan) -> Result<(), NetworkError> {
    match host_routes::overlapping(plan.subnet).await {
        Ok(None) => Ok(()),
        Ok(Some(route)) => Err(NetworkError::HostRoute {
            subnet: plan.subnet.to_string(),
            route,
        }),
        Err(err) => Err(NetworkError::Bridge(err)),
    }
}

async fn record(store: &Store, new: &NewNetwork) -> Result<Network, NetworkError> {
    match db(store.insert_network(new)).await {
        Ok(row) => Network::from_row(row).map_err(|err| NetworkError::Database(storage(err))),
        Err(err) if err.duplicate() == Some(Duplicate::NetworkName) => {
            Err(NetworkError::NameTaken(new.name.clone()))
        }
        Err(err) => Err(NetworkError::Database(err.into())),
    }
}
