//! The NetworkService: the one owner of network rows and bridges (issue
//! 17). It keeps the networks in memory, checks every operation against
//! them here (names, overlapping subnets, bridges reserved by creations
//! still running), then runs the database and netlink work as a task that
//! hands its change back as a message before it answers its client. At
//! start it brings every network's bridge up again, or finds its own.

mod bridge;
mod error;
mod host_routes;
mod nat;
mod ops;
mod plan;
pub mod tap;
pub mod vm_link;

pub use error::NetworkError;

use corvus_protocol::{
    NetworkInfo, NetworkMode, NetworkRef, NetworkSpec, NetworkState, Response, WireError,
};
use corvus_storage::entity::network;
use corvus_storage::{StorageError, Store};
use plan::{Existing, Subnet};
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use std::collections::BTreeMap;

pub type NetworkServiceRef = ActorRef<NetworkMsg>;
pub type Reply = RpcReplyPort<Result<Response, WireError>>;

#[derive(Debug)]
pub enum NetworkRequest {
    Create(NetworkSpec),
    List,
    Show(NetworkRef),
    Delete(NetworkRef),
}

pub enum NetworkMsg {
    Request {
        request: NetworkRequest,
        reply: Reply,
    },
    /// A VmActor adding a NIC `--network NAME [--ip ADDR]`: the network's
    /// id, once the address is checked against its subnet.
    ResolveNic {
        network: String,
        ip: Option<String>,
        reply: RpcReplyPort<Result<i64, WireError>>,
    },
    /// A launching VM: the bridge of the network its NIC is on, or why
    /// the network cannot take VMs.
    BridgeOf {
        network_id: i64,
        reply: RpcReplyPort<Result<String, String>>,
    },
    /// A task's change, sent before it answers.
    Apply(Change),
    /// A bridge brought up at daemon start, or why it could not be.
    BridgeUp {
        id: i64,
        result: Result<bool, String>,
    },
    /// The nftables table was written (or why not).
    NatApplied(Result<(), String>),
}

#[derive(Debug)]
pub enum Change {
    /// A creation ended: the network recorded, or nothing (its name and
    /// bridge are free again).
    Created {
        name: String,
        network: Option<Network>,
    },
    Removed(i64),
}

/// A network row, typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Network {
    pub id: i64,
    pub name: String,
    pub subnet: Subnet,
    pub mode: NetworkMode,
    pub bridge: String,
    pub dhcp_start: String,
    pub dhcp_end: String,
    pub dns_domain: Option<String>,
    pub created_at: String,
    pub status: NetworkState,
    pub last_error: Option<String>,
}

impl Network {
    pub fn from_row(row: network::Model) -> Result<Network, StorageError> {
        let corrupt = |column: &'static str, value: &str| StorageError::Corrupt {
            column,
            value: value.to_owned(),
        };
        Ok(Network {
            subnet: Subnet::parse(&row.subnet)
                .map_err(|_| corrupt("network.subnet", &row.subnet))?,
            mode: row
                .mode
                .parse()
                .map_err(|_| corrupt("network.mode", &row.mode))?,
            created_at: corvus_storage::rows::timestamp(&row.created_at),
            id: row.id,
            name: row.name,
            bridge: row.bridge,
            dhcp_start: row.dhcp_start,
            dhcp_end: row.dhcp_end,
            dns_domain: row.dns_domain,
            status: NetworkState::Starting,
            last_error: None,
        })
    }

    pub fn info(&self) -> NetworkInfo {
        NetworkInfo {
            id: self.id,
            name: self.name.clone(),
            subnet: self.subnet.to_string(),
            mode: self.mode,
            bridge: self.bridge.clone(),
            gateway: self.subnet.gateway().to_string(),
            dhcp_start: self.dhcp_start.clone(),
            dhcp_end: self.dhcp_end.clone(),
            dns_domain: self.dns_domain.clone(),
            created_at: self.created_at.clone(),
            status: self.status,
            last_error: self.last_error.clone(),
            nics: Vec::new(),
        }
    }
}

/// A creation still running: its name, subnet and bridge are taken.
struct Pending {
    name: String,
    subnet: Subnet,
    bridge: String,
}

pub struct NetworkArgs {
    pub store: Store,
}

pub struct NetworkServiceState {
    store: Store,
    networks: BTreeMap<i64, Network>,
    pending: Vec<Pending>,
    /// One nft run at a time, so that an older table never lands last;
    /// a change meanwhile runs it again when it ends.
    nat_running: bool,
    nat_dirty: bool,
    nat_error: Option<String>,
}

impl NetworkServiceState {
    fn resolve(&self, network: &NetworkRef) -> Result<&Network, NetworkError> {
        let found = match network {
            NetworkRef::Id(id) => self.networks.get(id),
            NetworkRef::Name(name) => self.networks.values().find(|n| &n.name == name),
        };
        found.ok_or_else(|| NetworkError::Unknown(network.to_string()))
    }

    fn create(&mut self, myself: &NetworkServiceRef, spec: NetworkSpec, reply: Reply) {
        let taken = self.networks.values().any(|n| n.name == spec.name)
            || self.pending.iter().any(|p| p.name == spec.name);
        if taken {
            let _ = reply.send(Err(NetworkError::NameTaken(spec.name).into()));
            return;
        }
        let others = self
            .networks
            .values()
            .map(|n| Existing {
                name: &n.name,
                subnet: n.subnet,
            })
            .chain(self.pending.iter().map(|p| Existing {
                name: &p.name,
                subnet: p.subnet,
            }));
        let plan = match plan::plan(&spec, others) {
            Ok(plan) => plan,
            Err(err) => {
                let _ = reply.send(Err(err.into()));
                return;
            }
        };
        let bridge = plan::bridge_name(
            self.networks
                .values()
                .map(|n| n.bridge.as_str())
                .chain(self.pending.iter().map(|p| p.bridge.as_str())),
        );
        self.pending.push(Pending {
            name: spec.name.clone(),
            subnet: plan.subnet,
            bridge: bridge.clone(),
        });
        ops::create(
            self.store.clone(),
            myself.clone(),
            spec,
            plan,
            bridge,
            reply,
        );
    }

    fn apply(&mut self, myself: &NetworkServiceRef, change: Change) {
        match change {
            Change::Created { name, network } => {
                self.pending.retain(|p| p.name != name);
                if let Some(network) = network {
                    self.networks.insert(network.id, network);
                    self.sync_nat(myself);
                }
            }
            Change::Removed(id) => {
                self.networks.remove(&id);
                self.sync_nat(myself);
            }
        }
    }

    fn sync_nat(&mut self, myself: &NetworkServiceRef) {
        if self.nat_running {
            self.nat_dirty = true;
            return;
        }
        self.nat_running = true;
        let rules = self
            .networks
            .values()
            .map(|n| nat::Rule {
                bridge: n.bridge.clone(),
                subnet: n.subnet,
                mode: n.mode,
            })
            .collect();
        ops::apply_nat(rules, myself.clone());
    }

    /// A network as clients see it: a table nft refused puts it in error.
    fn bridge_of(&self, network_id: i64) -> Result<String, String> {
        let network = self
            .networks
            .get(&network_id)
            .ok_or_else(|| format!("network {network_id} no longer exists"))?;
        match network.status {
            NetworkState::Up => Ok(network.bridge.clone()),
            _ => Err(format!(
                "network '{}' is {}{}; see `crv network show {}`",
                network.name,
                network.status,
                network
                    .last_error
                    .as_deref()
                    .map(|reason| format!(" ({reason})"))
                    .unwrap_or_default(),
                network.name
            )),
        }
    }

    fn info(&self, network: &Network) -> NetworkInfo {
        let mut info = network.info();
        if let (NetworkState::Up, Some(reason)) = (info.status, &self.nat_error) {
            info.status = NetworkState::Error;
            info.last_error = Some(reason.clone());
        }
        info
    }
}

pub struct NetworkService;

pub async fn spawn(
    args: NetworkArgs,
    supervisor: ractor::ActorCell,
) -> Result<NetworkServiceRef, ractor::SpawnErr> {
    let (actor, _) =
        Actor::spawn_linked(Some("networks".into()), NetworkService, args, supervisor).await?;
    Ok(actor)
}

impl Actor for NetworkService {
    type Msg = NetworkMsg;
    type State = NetworkServiceState;
    type Arguments = NetworkArgs;

    async fn pre_start(
        &self,
        myself: NetworkServiceRef,
        args: NetworkArgs,
    ) -> Result<NetworkServiceState, ActorProcessingErr> {
        let mut networks = BTreeMap::new();
        for row in args.store.load_networks().await? {
            let name = row.name.clone();
            match Network::from_row(row) {
                Ok(network) => {
                    ops::bring_up(&network, myself.clone());
                    networks.insert(network.id, network);
                }
                Err(err) => {
                    tracing::error!(network = %name, error = %format!("{:#}", anyhow::Error::new(err)), "skipping a network whose stored row is invalid")
                }
            }
        }
        let mut state = NetworkServiceState {
            store: args.store,
            networks,
            pending: Vec::new(),
            nat_running: false,
            nat_dirty: false,
            nat_error: None,
        };
        state.sync_nat(&myself);
        Ok(state)
    }

    async fn handle(
        &self,
        myself: NetworkServiceRef,
        message: NetworkMsg,
        state: &mut NetworkServiceState,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            NetworkMsg::Request { request, reply } => match request {
                NetworkRequest::Create(spec) => state.create(&myself, spec, reply),
                NetworkRequest::List => {
                    let list = state.networks.values().map(|n| state.info(n)).collect();
                    let _ = reply.send(Ok(Response::Networks(list)));
                }
                NetworkRequest::Show(network) => match state.resolve(&network) {
                    Ok(network) => ops::show(state.store.clone(), state.info(network), reply),
                    Err(err) => {
                        let _ = reply.send(Err(err.into()));
                    }
                },
                NetworkRequest::Delete(network) => match state.resolve(&network) {
                    Ok(network) => ops::delete(state.store.clone(), myself, network.info(), reply),
                    Err(err) => {
                        let _ = reply.send(Err(err.into()));
                    }
                },
            },
            NetworkMsg::ResolveNic { network, ip, reply } => {
                let resolved = state
                    .resolve(&NetworkRef::parse(&network))
                    .and_then(|network| {
                        if let Some(ip) = &ip {
                            plan::static_ip(&network.name, &network.subnet, ip)?;
                        }
                        Ok(network.id)
                    })
                    .map_err(WireError::from);
                let _ = reply.send(resolved);
            }
            NetworkMsg::BridgeOf { network_id, reply } => {
                let _ = reply.send(state.bridge_of(network_id));
            }
            NetworkMsg::Apply(change) => state.apply(&myself, change),
            NetworkMsg::NatApplied(result) => {
                state.nat_running = false;
                if let Err(reason) = &result {
                    tracing::error!(%reason, "the Corvus nftables table cannot be written");
                }
                state.nat_error = result.err();
                if std::mem::take(&mut state.nat_dirty) {
                    state.sync_nat(&myself);
                }
            }
            NetworkMsg::BridgeUp { id, result } => {
                if let Some(network) = state.networks.get_mut(&id) {
                    match result {
                        Ok(adopted) => {
                            tracing::info!(network = %network.name, bridge = %network.bridge, adopted, "network up");
                            network.status = NetworkState::Up;
                            network.last_error = None;
                        }
                        Err(reason) => {
                            tracing::error!(network = %network.name, %reason, "network cannot come up");
                            network.status = NetworkState::Error;
                            network.last_error = Some(reason);
                        }
                    }
                }
            }
        }
        Ok(())
    }
}
