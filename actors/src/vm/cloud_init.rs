//! `vm cloud-init set|clear` on a stopped VM: the new configuration is
//! resolved and checked before anything is written (so a bad key or YAML
//! never reaches the database), then written by the definition task.

use super::definition::Written;
use crate::cloud::config;
use crate::wire::{db, storage};
use corvus_protocol::{AgentStatus, CloudInitChanges, VmInfo, WireError};
use corvus_storage::{Store, rows};

/// What `vm show` says of the agent before any boot has asked it.
pub fn agent_status(guest_agent: bool) -> AgentStatus {
    if guest_agent {
        AgentStatus::NotResponding
    } else {
        AgentStatus::Off
    }
}

pub fn check(vm: &VmInfo, changes: &CloudInitChanges) -> Result<(), WireError> {
    config::change(&vm.name, vm.cloud_init.as_ref(), changes)?;
    Ok(())
}

pub fn check_clear(vm: &VmInfo) -> Result<(), WireError> {
    if vm.cloud_init.is_none() {
        return Err(WireError::not_found(format!(
            "VM '{}' has no cloud-init configuration to clear",
            vm.name
        )));
    }
    Ok(())
}

pub async fn set(
    store: &Store,
    vm: &VmInfo,
    changes: &CloudInitChanges,
) -> Result<Written, WireError> {
    let resolved = config::change(&vm.name, vm.cloud_init.as_ref(), changes)?;
    let row = db(store.set_cloud_init(vm.id, &resolved)).await?;
    let info = rows::cloud_init_info(row).map_err(storage)?;
    Ok(Written::CloudInit(Some(Box::new(info))))
}

pub async fn clear(store: &Store, vm: &VmInfo) -> Result<Written, WireError> {
    if !db(store.clear_cloud_init(vm.id)).await? {
        return Err(WireError::not_found(format!(
            "VM '{}' has no cloud-init configuration to clear",
            vm.name
        )));
    }
    Ok(Written::CloudInit(None))
}
