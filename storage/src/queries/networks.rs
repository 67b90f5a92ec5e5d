//! The `network` table, and the NICs on a network. The daemon's
//! NetworkService is the only caller: it owns network rows.

use crate::Store;
use crate::entity::{network, network_event, network_interface, vm};
use crate::error::{StorageError, query};
use crate::transaction::finish;
use chrono::Utc;
use corvus_protocol::NetworkMode;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};

/// A network about to be recorded, checked by the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewNetwork {
    pub name: String,
    pub subnet: String,
    pub mode: NetworkMode,
    pub bridge: String,
    pub dhcp_start: String,
    pub dhcp_end: String,
    pub dns_domain: Option<String>,
}

/// A VM NIC on a network, with what its DHCP host entry needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkNicRow {
    pub nic_id: i64,
    pub vm_id: i64,
    pub vm_name: String,
    pub mac_address: String,
    pub ip_address: Option<String>,
}

impl Store {
    /// Every network, in id order.
    pub async fn load_networks(&self) -> Result<Vec<network::Model>, StorageError> {
        network::Entity::find()
            .order_by_asc(network::Column::Id)
            .all(&self.db)
            .await
            .map_err(query)
    }

    /// A duplicate name or bridge comes back as a unique violation (see
    /// `StorageError::duplicate`).
    pub async fn insert_network(&self, new: &NewNetwork) -> Result<network::Model, StorageError> {
        let row = network::ActiveModel {
            name: Set(new.name.clone()),
            subnet: Set(new.subnet.clone()),
            mode: Set(new.mode.as_str().to_owned()),
            bridge: Set(new.bridge.clone()),
            dhcp_start: Set(new.dhcp_start.clone()),
            dhcp_end: Set(new.dhcp_end.clone()),
            dns_domain: Set(new.dns_domain.clone()),
            created_at: Set(Utc::now()),
            ..Default::default()
        };
        let tx = self.begin_write().await?;
        let inserted = row.insert(&tx).await.map_err(query);
        finish(tx, inserted).await
    }

    /// False when there was no such network. One that a NIC still refers
    /// to is refused (see `StorageError::referenced`).
    pub async fn delete_network(&self, id: i64) -> Result<bool, StorageError> {
        let tx = self.begin_write().await?;
        let deleted = network::Entity::delete_by_id(id)
            .exec(&tx)
            .await
            .map(|result| result.rows_affected > 0)
            .map_err(query);
        finish(tx, deleted).await
    }

    /// The NICs on a network with their VMs' names, in NIC id order.
    pub async fn network_nics(&self, network_id: i64) -> Result<Vec<NetworkNicRow>, StorageError> {
        let nics = network_interface::Entity::find()
            .filter(network_interface::Column::NetworkId.eq(network_id))
            .order_by_asc(network_interface::Column::Id)
            .all(&self.db)
            .await
            .map_err(query)?;
        let vm_ids: Vec<i64> = nics.iter().map(|n| n.vm_id).collect();
        let names: Vec<(i64, String)> = vm::Entity::find()
            .select_only()
            .column(vm::Column::Id)
            .column(vm::Column::Name)
            .filter(vm::Column::Id.is_in(vm_ids))
            .into_tuple()
            .all(&self.db)
            .await
            .map_err(query)?;
        Ok(nics
            .into_iter()
            .filter_map(|nic| {
                let (_, vm_name) = names.iter().find(|(id, _)| *id == nic.vm_id)?;
                Some(NetworkNicRow {
                    nic_id: nic.id,
                    vm_id: nic.vm_id,
                    vm_name: vm_name.clone(),
                    mac_address: nic.mac_address,
                    ip_address: nic.ip_address,
                })
            })
            .collect())
    }

    /// One entry of a network's history (dnsmasq restarts, errors).
    pub async fn insert_network_event(
        &self,
        network_id: i64,
        kind: &str,
        reason: &str,
    ) -> Result<(), StorageError> {
        let row = network_event::ActiveModel {
            network_id: Set(network_id),
            at: Set(Utc::now()),
            kind: Set(kind.to_owned()),
            reason: Set(reason.to_owned()),
            ..Default::default()
        };
        let tx = self.begin_write().await?;
        let inserted = row.insert(&tx).await.map(drop).map_err(query);
        finish(tx, inserted).await
    }

    /// A network's latest `limit` history entries, oldest first.
    pub async fn network_events(
        &self,
        network_id: i64,
        limit: u64,
    ) -> Result<Vec<network_event::Model>, StorageError> {
        let mut rows = network_event::Entity::find()
            .filter(network_event::Column::NetworkId.eq(network_id))
            .order_by_desc(network_event::Column::Id)
            .limit(limit)
            .all(&self.db)
            .await
            .map_err(query)?;
        rows.reverse();
        Ok(rows)
    }
}
