//! The NetworkService: the one owner of network rows and bridges (issue
//! 17). It keeps the networks in memory, checks every operation against
//! them here (names, overlapping subnets, bridges reserved by creations
//! still running), then runs the database and netlink work as a task that
//! hands its change back as a message before it answers its client. At
//! start it brings every network's bridge up again, or finds its own, and
//! supervises each network's dnsmasq (dhcp.rs).

mod bridge;
mod dhcp;
mod dnsmasq;
mod error;
mod host_routes;
mod nat;
mod ops;
mod plan;
mod record;
pub mod tap;
pub mod vm_link;

pub use error::NetworkError;
pub use record::Network;

use corvus_protocol::{NetworkInfo, NetworkRef, NetworkSpec, NetworkState, Response, WireError};
use corvus_qemu::process::ProcessHandle;
use corvus_storage::Store;
use dhcp::{BridgeReply, Dhcp};
use plan::{Existing, Subnet};
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

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
        mac: Option<String>,
        reply: RpcReplyPort<Result<i64, WireError>>,
    },
    /// A launching VM: the bridge of the network its NIC is on once the
    /// network's dnsmasq knows the NIC, or why the network cannot take VMs.
    BridgeOf {
        network_id: i64,
        reply: BridgeReply,
    },
    /// `vm show`: the addresses leased on these networks, by MAC.
    Leases {
        network_ids: Vec<i64>,
        reply: RpcReplyPort<HashMap<String, String>>,
    },
    /// A launch's NICs on a network, loaded for its dnsmasq.
    HostsLoaded {
        id: i64,
        hosts: Vec<dnsmasq::Host>,
        reply: BridgeReply,
    },
    /// A delete stops the network's dnsmasq first (answered once gone);
    /// `Release` starts it again when the delete did not happen.
    Hold {
        id: i64,
        reply: RpcReplyPort<()>,
    },
    Release(i64),
    DhcpExited {
        id: i64,
        generation: u64,
        reason: String,
    },
    DhcpRetry {
        id: i64,
        generation: u64,
    },
    /// A task's change, sent before it answers.
    Apply(Change),
    /// A bridge brought up at daemon start, or why it could not be.
    BridgeUp {
        id: i64,
        result: Result<Ready, String>,
    },
    /// The nftables table was written (or why not).
    NatApplied(Result<(), String>),
}

/// A network found or brought up at daemon start: whether its bridge was
/// already there, the NICs on it, and the dnsmasq an earlier daemon left.
pub struct Ready {
    adopted_bridge: bool,
    hosts: Vec<dnsmasq::Host>,
    dnsmasq: Option<ProcessHandle>,
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

/// A creation still running: its name, subnet and bridge are taken.
struct Pending {
    name: String,
    subnet: Subnet,
    bridge: String,
}

pub struct NetworkArgs {
    pub store: Store,
    /// `DATA_DIR/networks`: a directory per network for its dnsmasq.
    pub dir: PathBuf,
    pub dnsmasq: PathBuf,
}

pub struct NetworkServiceState {
    store: Store,
    dir: PathBuf,
    dnsmasq: PathBuf,
    networks: BTreeMap<i64, Network>,
    dhcp: HashMap<i64, Dhcp>,
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
            self.dir.clone(),
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
                    let id = network.id;
                    self.networks.insert(id, network);
                    self.sync_nat(myself);
                    self.dhcp_begin(myself, id, Vec::new(), None);
                }
            }
            Change::Removed(id) => {
                self.networks.remove(&id);
                self.dhcp.remove(&id);
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
        let state = match network.status {
            NetworkState::Up => return Ok(network.bridge.clone()),
            NetworkState::Starting => "starting",
            NetworkState::Error => "in error",
        };
        Err(format!(
            "network '{}' is {state}{}; see `crv network show {}`",
            network.name,
            network
                .last_error
                .as_deref()
                .map(|reason| format!(" ({reason})"))
                .unwrap_or_default(),
            network.name
        ))
    }

    fn info(&self, network: &Network) -> NetworkInfo {
        let mut info = network.info();
        info.dnsmasq_pid = self.dhcp.get(&network.id).and_then(Dhcp::pid);
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
                    ops::bring_up(&network, &args.dir, args.store.clone(), myself.clone());
                    networks.insert(network.id, network);
                }
                Err(err) => {
                    tracing::error!(network = %name, error = %format!("{:#}", anyhow::Error::new(err)), "skipping a network whose stored row is invalid")
                }
            }
        }
        let mut state = NetworkServiceState {
            store: args.store,
            dir: args.dir,
            dnsmasq: args.dnsmasq,
            networks,
            dhcp: HashMap::new(),
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
                    Ok(network) => {
                        let leases = dnsmasq::Files::new(&state.dir, network.id).leases();
                        ops::show(state.store.clone(), state.info(network), leases, reply)
                    }
                    Err(err) => {
                        let _ = reply.send(Err(err.into()));
                    }
                },
                NetworkRequest::Delete(network) => match state.resolve(&network) {
                    Ok(network) => {
                        let files = dnsmasq::Files::new(&state.dir, network.id);
                        ops::delete(state.store.clone(), myself, network.info(), files, reply)
                    }
                    Err(err) => {
                        let _ = reply.send(Err(err.into()));
                    }
                },
            },
            NetworkMsg::ResolveNic {
                network,
                ip,
                mac,
                reply,
            } => state.resolve_nic(&network, ip, mac, reply),
            NetworkMsg::BridgeOf { network_id, reply } => match state.bridge_of(network_id) {
                Ok(_) => ops::load_hosts(state.store.clone(), network_id, myself, reply),
                Err(reason) => {
                    let _ = reply.send(Err(reason));
                }
            },
            NetworkMsg::HostsLoaded { id, hosts, reply } => state.dhcp_hosts(id, hosts, reply),
            NetworkMsg::Leases { network_ids, reply } => {
                let files = network_ids
                    .iter()
                    .map(|id| dnsmasq::Files::new(&state.dir, *id).leases())
                    .collect();
                ops::leases(files, reply);
            }
            NetworkMsg::Hold { id, reply } => state.dhcp_hold(id, reply),
            NetworkMsg::Release(id) => state.dhcp_release(&myself, id),
            NetworkMsg::DhcpExited {
                id,
                generation,
                reason,
            } => state.dhcp_exited(&myself, id, generation, reason),
            NetworkMsg::DhcpRetry { id, generation } => state.dhcp_retry(&myself, id, generation),
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
            NetworkMsg::BridgeUp { id, result } => state.bridge_up(&myself, id, result),
        }
        Ok(())
    }
}
