//! The NetworkService's database and netlink work, each a task: it hands
//! its change back to the service, then answers its client.

use super::error::NetworkError;
use super::plan::Plan;
use super::{Change, Network, NetworkMsg, NetworkServiceRef, Reply};
use super::{bridge, host_routes};
use crate::wire::{db, storage};
use corvus_protocol::{NetworkInfo, NetworkNic, NetworkSpec, NetworkState, Response, WireError};
use corvus_storage::{Duplicate, NewNetwork, Store};
use tracing::Instrument;

pub fn create(
    store: Store,
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
            Ok(network) => up_or_forget(&store, network).await,
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

pub fn show(store: Store, mut info: NetworkInfo, reply: Reply) {
    let task = async move {
        let answer = match db(store.network_nics(info.id)).await {
            Ok(rows) => {
                info.nics = rows
                    .into_iter()
                    .map(|row| NetworkNic {
                        vm_id: row.vm_id,
                        vm_name: row.vm_name,
                        nic_id: row.nic_id,
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
pub fn delete(store: Store, myself: NetworkServiceRef, info: NetworkInfo, reply: Reply) {
    let task = async move {
        let answer = delete_row(&store, &info).await.map(|()| {
            let _ = myself.cast(NetworkMsg::Apply(Change::Removed(info.id)));
            Response::NetworkDeleted {
                id: info.id,
                name: info.name.clone(),
            }
        });
        let _ = reply.send(answer.map_err(WireError::from));
    };
    tokio::spawn(task.in_current_span());
}

async fn delete_row(store: &Store, info: &NetworkInfo) -> Result<(), NetworkError> {
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
async fn up_or_forget(store: &Store, mut network: Network) -> Result<Network, NetworkError> {
    let gateway = network.subnet.gateway();
    match bridge::ensure(&network.bridge, network.id, gateway, network.subnet.prefix).await {
        Ok(_) => {
            network.status = NetworkState::Up;
            Ok(network)
        }
        Err(err) => {
            if let Err(undo) = db(store.delete_network(network.id)).await {
                tracing::warn!(network = %network.name, error = %WireError::from(undo), "a network whose bridge failed stays recorded");
            }
            Err(NetworkError::Bridge(err))
        }
    }
}

/// At daemon start: the bridge again, or the one a previous daemon left.
pub fn bring_up(network: &Network, myself: NetworkServiceRef) {
    let (id, name, subnet) = (network.id, network.bridge.clone(), network.subnet);
    let task = async move {
        let result = bridge::ensure(&name, id, subnet.gateway(), subnet.prefix)
            .await
            .map_err(|err| crate::vm::errors::render(&err));
        let _ = myself.cast(NetworkMsg::BridgeUp { id, result });
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
