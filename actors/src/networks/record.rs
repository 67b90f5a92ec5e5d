//! A network row, typed, and how clients see it.

use super::plan::Subnet;
use corvus_protocol::{NetworkInfo, NetworkMode, NetworkState};
use corvus_storage::StorageError;
use corvus_storage::entity::network;

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
            dnsmasq_pid: None,
            events: Vec::new(),
        }
    }
}
