//! The rows of a new NIC (with a MAC address of its own) or shared
//! directory, as a definition change writes them: a duplicate MAC, static
//! lease or share tag becomes the refusal that says what to do.

use super::definition::Written;
use crate::validate;
use crate::wire::{db, storage};
use corvus_protocol::{NicSpec, ShareSpec, VmInfo, WireError};
use corvus_storage::{Duplicate, Store, rows};

/// Attempts at a random MAC before giving up (only a nearly full
/// 24-bit space would need more than one).
pub(crate) const MAC_ATTEMPTS: usize = 16;

pub(crate) fn generated_mac() -> String {
    let [a, b, c, _] = fastrand::u32(..).to_be_bytes();
    format!("52:54:00:{a:02x}:{b:02x}:{c:02x}")
}

pub(super) fn tag_taken(vm: &str, tag: &str) -> WireError {
    WireError::conflict(format!("VM '{vm}' already has a share tagged '{tag}'"))
}

pub(super) async fn add_nic(
    store: &Store,
    vm_id: i64,
    nic: &NicSpec,
    network_id: Option<i64>,
) -> Result<Written, WireError> {
    let given = nic
        .mac_address
        .as_deref()
        .map(validate::parse_mac)
        .transpose()?;
    let attempts = if given.is_some() { 1 } else { MAC_ATTEMPTS };
    for _ in 0..attempts {
        let mac = given.clone().unwrap_or_else(generated_mac);
        match db(store.insert_nic(vm_id, nic, &mac, network_id)).await {
            Ok(row) => return Ok(Written::NicAdded(rows::nic_info(row).map_err(storage)?)),
            Err(err) if err.duplicate() == Some(Duplicate::StaticLease) => {
                return Err(crate::networks::vm_link::ip_taken(nic));
            }
            Err(err) if err.duplicate() == Some(Duplicate::MacAddress) => {
                if given.is_some() {
                    return Err(WireError::conflict(format!(
                        "MAC address {mac} is already used by another network interface; pick another or omit --mac to get a generated one"
                    )));
                }
            }
            Err(err) => return Err(err.into()),
        }
    }
    Err(WireError::conflict(
        "could not find an unused MAC address; pass one with --mac",
    ))
}

pub(super) async fn add_share(
    store: &Store,
    vm: &VmInfo,
    share: &ShareSpec,
) -> Result<Written, WireError> {
    validate::files::existing_dir(&share.path).await?;
    match db(store.insert_share(vm.id, share)).await {
        Ok(row) => Ok(Written::ShareAdded(rows::share_info(row).map_err(storage)?)),
        Err(err) if err.duplicate() == Some(Duplicate::ShareTag) => {
            Err(tag_taken(&vm.name, &share.tag))
        }
        Err(err) => Err(err.into()),
    }
}
