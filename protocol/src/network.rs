//! Managed networks as clients define and see them (issue 17): a subnet
//! with its gateway, DHCP range, DNS domain and mode, and the VM NICs on it.
//!
//! Field names equal the `network` columns, because
//! `crv --json` prints these structs as they are.

use crate::enums::{NetworkMode, NetworkState};
use crate::model::VmRef;
use serde::{Deserialize, Serialize};

/// A network named by the user: a numeric id or a name, read like a VM's.
pub type NetworkRef = VmRef;

/// Everything `crv network create` can say about a new network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkSpec {
    pub name: String,
    /// IPv4 CIDR, e.g. `10.77.0.0/24`; the gateway is its first address.
    pub subnet: String,
    pub mode: NetworkMode,
    /// `FIRST-LAST`; by default every address after the gateway's.
    pub dhcp_range: Option<String>,
    /// VMs answer as `NAME` and, with a domain, `NAME.DOMAIN`.
    pub dns_domain: Option<String>,
}

/// A network as the daemon records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkInfo {
    pub id: i64,
    pub name: String,
    pub subnet: String,
    pub mode: NetworkMode,
    /// The Linux bridge reserved for this network.
    pub bridge: String,
    pub gateway: String,
    pub dhcp_start: String,
    pub dhcp_end: String,
    pub dns_domain: Option<String>,
    pub created_at: String,
    pub status: NetworkState,
    /// Why the network is in `error`.
    pub last_error: Option<String>,
    /// The VM NICs on this network (filled by `show`).
    pub nics: Vec<NetworkNic>,
    /// The network's dnsmasq (DHCP and DNS), while it runs.
    #[serde(default)]
    pub dnsmasq_pid: Option<u32>,
    /// The latest entries of its history, oldest first (filled by `show`).
    #[serde(default)]
    pub events: Vec<NetworkEvent>,
}

/// One entry of a network's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkEvent {
    pub at: String,
    /// `up`, `dnsmasq-exited`, `dnsmasq-restarted` or `error`.
    pub kind: String,
    pub reason: String,
}

/// One VM NIC on a network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkNic {
    pub vm_id: i64,
    pub vm_name: String,
    pub nic_id: i64,
    pub mac_address: String,
    /// The static lease (`vm net add --ip`).
    pub ip_address: Option<String>,
    /// The address dnsmasq leased to it, if any.
    #[serde(default)]
    pub lease_address: Option<String>,
}
