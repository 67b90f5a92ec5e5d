//! Cloud-init configurations and what a VM created with cloud-init options
//! brings along (its configuration, a user NIC with port forwards).

use crate::Store;
use crate::entity::{cloud_init, network_interface, vm};
use crate::error::{StorageError, query};
use crate::transaction::finish;
use corvus_protocol::{Forward, NicType, VmSpec};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, DatabaseTransaction, EntityTrait};

/// A whole configuration as the daemon resolved it (defaults filled in,
/// the instance-id computed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCloudInit {
    pub user: String,
    pub ssh_keys: Vec<String>,
    pub hostname: String,
    pub user_data: Option<String>,
    pub network_config: Option<String>,
    pub instance_id: String,
}

/// What `insert_vm_with` writes beside the VM row.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewVmExtras {
    pub cloud_init: Option<NewCloudInit>,
    /// The MAC of the user NIC that carries `spec.forwards`, when there are any.
    pub forward_nic_mac: Option<String>,
}

fn keys_json(keys: &[String]) -> String {
    serde_json::to_string(keys).unwrap_or_else(|_| "[]".to_owned())
}

pub(crate) fn forwards_json(forwards: &[Forward]) -> String {
    serde_json::to_string(forwards).unwrap_or_else(|_| "[]".to_owned())
}

fn row(vm_id: i64, config: &NewCloudInit) -> cloud_init::ActiveModel {
    cloud_init::ActiveModel {
        vm_id: Set(vm_id),
        user_name: Set(config.user.clone()),
        ssh_keys: Set(keys_json(&config.ssh_keys)),
        hostname: Set(config.hostname.clone()),
        user_data: Set(config.user_data.clone()),
        network_config: Set(config.network_config.clone()),
        instance_id: Set(config.instance_id.clone()),
    }
}

pub(crate) async fn insert_with(
    tx: &DatabaseTransaction,
    vm_row: vm::ActiveModel,
    spec: &VmSpec,
    extras: &NewVmExtras,
) -> Result<
    (
        vm::Model,
        Vec<network_interface::Model>,
        Option<cloud_init::Model>,
    ),
    StorageError,
> {
    let vm = vm_row.insert(tx).await.map_err(query)?;
    let mut nics = Vec::new();
    if let Some(mac) = &extras.forward_nic_mac {
        let nic = network_interface::ActiveModel {
            vm_id: Set(vm.id),
            nic_type: Set(NicType::User.as_str().to_owned()),
            host_device: Set(None),
            mac_address: Set(mac.clone()),
            forwards: Set(forwards_json(&spec.forwards)),
            ..Default::default()
        };
        nics.push(nic.insert(tx).await.map_err(query)?);
    }
    let cloud = match &extras.cloud_init {
        Some(config) => Some(row(vm.id, config).insert(tx).await.map_err(query)?),
        None => None,
    };
    Ok((vm, nics, cloud))
}

impl Store {
    /// Replaces (or creates) a VM's configuration.
    pub async fn set_cloud_init(
        &self,
        vm_id: i64,
        config: &NewCloudInit,
    ) -> Result<cloud_init::Model, StorageError> {
        let tx = self.begin_write().await?;
        let written = async {
            cloud_init::Entity::delete_by_id(vm_id)
                .exec(&tx)
                .await
                .map_err(query)?;
            row(vm_id, config).insert(&tx).await.map_err(query)
        }
        .await;
        finish(tx, written).await
    }

    /// Removes a VM's configuration; false when it had none.
    pub async fn clear_cloud_init(&self, vm_id: i64) -> Result<bool, StorageError> {
        let tx = self.begin_write().await?;
        let deleted = cloud_init::Entity::delete_by_id(vm_id)
            .exec(&tx)
            .await
            .map(|result| result.rows_affected > 0)
            .map_err(query);
        finish(tx, deleted).await
    }
}
