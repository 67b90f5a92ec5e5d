//! What a network operation can run into, and the one place where it
//! becomes a wire error.

use corvus_protocol::{ErrorKind, WireError};

#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    #[error("no network named or numbered '{0}' (see `crv network list`)")]
    Unknown(String),
    #[error("a network named '{0}' already exists; pick another name or delete it first")]
    NameTaken(String),
    #[error("{0}")]
    Invalid(String),
    #[error(
        "subnet {subnet} overlaps network '{other}' ({other_subnet}); pick a subnet of its own"
    )]
    Overlap {
        subnet: String,
        other: String,
        other_subnet: String,
    },
    #[error(
        "subnet {subnet} overlaps the host's route to {route}; pick a subnet the host does not reach already (see `ip route`)"
    )]
    HostRoute { subnet: String, route: String },
    #[error(
        "--ip {ip} is not a VM address of network '{network}' ({subnet}): give one inside it that is not the network, gateway ({gateway}) or broadcast address"
    )]
    IpOutside {
        ip: String,
        network: String,
        subnet: String,
        gateway: String,
    },
    #[error(
        "{ip} is already leased statically on network '{network}'; pick another --ip (see `crv network show {network}`)"
    )]
    IpTaken { ip: String, network: String },
    #[error(
        "{ip} is leased to {mac} on network '{network}' (see `crv network show {network}`); pick another --ip, or give this NIC --mac {mac}"
    )]
    IpLeased {
        ip: String,
        network: String,
        mac: String,
    },
    #[error(
        "network '{network}' is in use by {vms}; remove their network interfaces first (`crv vm net remove VM ID`)"
    )]
    InUse { network: String, vms: String },
    #[error("Cannot set up the network's bridge")]
    Bridge(#[source] super::bridge::BridgeError),
    #[error("{0}")]
    Database(WireError),
    #[error("{0}")]
    Unavailable(String),
}

impl From<NetworkError> for WireError {
    fn from(err: NetworkError) -> WireError {
        let kind = match &err {
            NetworkError::Unknown(_) => ErrorKind::NotFound,
            NetworkError::Invalid(_) | NetworkError::IpOutside { .. } => ErrorKind::InvalidArgument,
            NetworkError::NameTaken(_)
            | NetworkError::Overlap { .. }
            | NetworkError::HostRoute { .. }
            | NetworkError::IpTaken { .. }
            | NetworkError::IpLeased { .. }
            | NetworkError::InUse { .. } => ErrorKind::Conflict,
            NetworkError::Database(wire) => return wire.clone(),
            NetworkError::Unavailable(_) => ErrorKind::Unavailable,
            NetworkError::Bridge(super::bridge::BridgeError::NotPermitted) => {
                ErrorKind::Unavailable
            }
            NetworkError::Bridge(super::bridge::BridgeError::Foreign(_)) => ErrorKind::Conflict,
            NetworkError::Bridge(_) => ErrorKind::Internal,
        };
        WireError::new(kind, crate::vm::errors::render(&err))
    }
}
