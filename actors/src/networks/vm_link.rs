//! Where networks meet VMs: what a VM's definition writer asks of the
//! NetworkService when a NIC joins a network, and the error of a static
//! address taken twice.

use super::NetworkMsg;
use super::error::NetworkError;
use crate::supervisor::{SupervisorMsg, SupervisorRef};
use corvus_protocol::{NicSpec, NicType, WireError};
use ractor::rpc::CallResult;
use std::time::Duration;

/// The NetworkService answers from memory; this only bounds a daemon in trouble.
const ASK_TIMEOUT: Duration = Duration::from_secs(10);

/// `vm net add --network NAME [--ip ADDR]`: the network's id, with the
/// address checked against its subnet; `None` for other NIC types.
pub async fn nic_network(
    supervisor: &SupervisorRef,
    nic: &NicSpec,
) -> Result<Option<i64>, WireError> {
    let (NicType::Network, Some(network)) = (nic.nic_type, nic.network.clone()) else {
        return Ok(None);
    };
    let ip = nic.ip_address.clone();
    match supervisor
        .call(
            |reply| SupervisorMsg::Network(NetworkMsg::ResolveNic { network, ip, reply }),
            Some(ASK_TIMEOUT),
        )
        .await
    {
        Ok(CallResult::Success(result)) => result.map(Some),
        _ => Err(WireError::unavailable(
            "the network service did not answer in time; retry",
        )),
    }
}

pub fn ip_taken(nic: &NicSpec) -> WireError {
    NetworkError::IpTaken {
        ip: nic.ip_address.clone().unwrap_or_default(),
        network: nic.network.clone().unwrap_or_default(),
    }
    .into()
}
