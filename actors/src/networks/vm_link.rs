//! Where networks meet VMs: what a VM's definition writer asks of the
//! NetworkService when a NIC joins a network, the error of a static
//! address taken twice, and the taps a boot's managed NICs are plugged
//! into (made by its launch task, removed by a task when QEMU is gone).

use super::error::NetworkError;
use super::tap::{self, TapError};
use super::{NetworkMsg, NetworkServiceState, dnsmasq, ops, plan};
use crate::supervisor::{SupervisorMsg, SupervisorRef};
use corvus_protocol::{NetworkRef, NicInfo, NicSpec, NicType, WireError};
use corvus_qemu::cmdline::managed_tap;
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
    let mac = nic.mac_address.clone();
    match supervisor
        .call(
            |reply| {
                SupervisorMsg::Network(NetworkMsg::ResolveNic {
                    network,
                    ip,
                    mac,
                    reply,
                })
            },
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

impl NetworkServiceState {
    /// `vm net add --network NAME [--ip ADDR]`: the network's id, once the
    /// address is inside its subnet and not leased to another MAC.
    pub(super) fn resolve_nic(
        &self,
        network: &str,
        ip: Option<String>,
        mac: Option<String>,
        reply: ractor::RpcReplyPort<Result<i64, WireError>>,
    ) {
        let resolved = self.resolve(&NetworkRef::parse(network)).and_then(|n| {
            if let Some(ip) = &ip {
                plan::static_ip(&n.name, &n.subnet, ip)?;
            }
            Ok(n)
        });
        match (resolved, ip) {
            (Err(err), _) => {
                let _ = reply.send(Err(err.into()));
            }
            (Ok(network), None) => {
                let _ = reply.send(Ok(network.id));
            }
            (Ok(network), Some(ip)) => {
                let leases = dnsmasq::Files::new(&self.dir, network.id).leases();
                let check = ops::LeaseCheck {
                    network_id: network.id,
                    network: network.name.clone(),
                    ip,
                    mac,
                };
                ops::check_lease(leases, check, reply);
            }
        }
    }
}

pub fn ip_taken(nic: &NicSpec) -> WireError {
    NetworkError::IpTaken {
        ip: nic.ip_address.clone().unwrap_or_default(),
        network: nic.network.clone().unwrap_or_default(),
    }
    .into()
}

#[derive(Debug, thiserror::Error)]
pub enum PlugError {
    #[error("network interface {nic} cannot join its network: {reason}")]
    NetworkDown { nic: i64, reason: String },
    #[error("the network service did not answer in time; retry")]
    Unavailable,
    #[error("cannot plug network interface {nic} into tap {tap}")]
    Tap {
        nic: i64,
        tap: String,
        #[source]
        source: TapError,
    },
}

/// The managed NICs among a VM's.
pub fn managed(nics: &[NicInfo]) -> Vec<i64> {
    nics.iter()
        .filter(|nic| nic.nic_type == NicType::Network)
        .map(|nic| nic.id)
        .collect()
}

/// Gives every managed NIC its tap on its network's bridge. Taps made
/// before a failure stay: the boot's end removes them all, as it does on
/// every other path.
pub async fn plug(supervisor: &SupervisorRef, nics: &[NicInfo]) -> Result<(), PlugError> {
    for nic in nics.iter().filter(|nic| nic.nic_type == NicType::Network) {
        plug_one(supervisor, nic).await?;
    }
    Ok(())
}

async fn plug_one(supervisor: &SupervisorRef, nic: &NicInfo) -> Result<(), PlugError> {
    let network_id = nic.network_id.ok_or_else(|| PlugError::NetworkDown {
        nic: nic.id,
        reason: "it names no network".into(),
    })?;
    let bridge = match supervisor
        .call(
            |reply| SupervisorMsg::Network(NetworkMsg::BridgeOf { network_id, reply }),
            Some(ASK_TIMEOUT),
        )
        .await
    {
        Ok(CallResult::Success(result)) => result.map_err(|reason| PlugError::NetworkDown {
            nic: nic.id,
            reason,
        })?,
        _ => return Err(PlugError::Unavailable),
    };
    let name = managed_tap(nic.id);
    tap::create(&name, nic.id, &bridge)
        .await
        .map_err(|source| PlugError::Tap {
            nic: nic.id,
            tap: name,
            source,
        })
}

/// Removes the taps of these NICs; what could not be removed, as text for
/// the VM's history.
pub async fn unplug(nic_ids: &[i64]) -> Result<(), String> {
    let mut failures = Vec::new();
    for &nic in nic_ids {
        let name = managed_tap(nic);
        if let Err(err) = tap::remove(&name, nic).await {
            failures.push(format!(
                "{name}: {}; remove it with `ip link del {name}`",
                crate::vm::errors::render(&err)
            ));
        }
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(format!("cannot remove taps: {}", failures.join("; ")))
    }
}
