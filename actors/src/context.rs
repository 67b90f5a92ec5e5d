//! What every actor of one daemon shares: handles to the other actors and
//! the daemon's fixed settings and the node's fence. Nothing here is
//! mutable VM state.

use crate::config::NodeConfig;
use crate::events::EventBus;
use crate::metrics::DaemonMetrics;
use crate::persistence::{PersistenceRef, PersistenceStatus};
use corvus_qemu::{Accel, Virtiofsd, VmPaths};
use corvus_storage::Store;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Instant;
use tokio::sync::OnceCell;

pub struct Context {
    pub store: Store,
    pub persistence: PersistenceRef,
    pub bus: EventBus,
    pub runtime_root: PathBuf,
    /// Disks, the state journal and other files Corvus keeps (`--data-dir`).
    pub data_dir: PathBuf,
    /// Put in the environment of every QEMU this daemon starts
    /// (`CORVUS_OWNER`): names the database whose VMs they are, so that a
    /// QEMU is recognised as ours even where the database lags behind.
    pub owner_mark: String,
    pub accel: Accel,
    pub qemu_binary: PathBuf,
    /// Managed networks' DHCP and DNS server (`--dnsmasq`).
    pub dnsmasq_binary: PathBuf,
    /// Found on first use (probing runs `virtiofsd --help`, which no
    /// daemon start should wait for); `None` when none is installed.
    pub virtiofsd: OnceCell<Option<Virtiofsd>>,
    pub socket: PathBuf,
    pub tcp: Option<String>,
    /// The `--listen` address.
    pub tls: Option<String>,
    /// The web console's address (`--http`), as `crv web` links to it.
    pub http: Option<String>,
    pub started: Instant,
    pub connections: Arc<AtomicU64>,
    /// The backlog of state changes and why the database is not taking them.
    pub persistence_status: PersistenceStatus,
    /// Request durations and event subscribers, for `/metrics`.
    pub metrics: DaemonMetrics,
    /// This daemon's node (`--node`): the VMs it runs are the VMs it owns.
    pub node: NodeConfig,
    /// Whether this node is fenced now (issue 19): HA VMs do not start.
    pub fence: crate::nodes::fence::FenceState,
}

pub type SharedContext = Arc<Context>;

impl Context {
    pub async fn virtiofsd(&self) -> Option<&Virtiofsd> {
        self.virtiofsd
            .get_or_init(corvus_qemu::virtiofsd::find)
            .await
            .as_ref()
    }

    pub fn paths(&self, vm_id: i64) -> VmPaths {
        VmPaths::new(&self.runtime_root, vm_id)
    }
}
