use crate::Store;
use crate::entity::{drive, network_interface, shared_dir};
use crate::error::{StorageError, query};
use crate::transaction::finish;
use corvus_protocol::{DriveSpec, NicSpec, ShareSpec};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};

impl Store {
    /// Inserts a drive; `disk_id` when it uses a Corvus disk (whose path
    /// and format the caller put in `spec`).
    pub async fn insert_drive(
        &self,
        vm_id: i64,
        spec: &DriveSpec,
        disk_id: Option<i64>,
    ) -> Result<drive::Model, StorageError> {
        self.insert_drive_as(None, vm_id, spec, disk_id).await
    }

    /// [`Store::insert_drive`] with an id from [`Store::reserve_id`] when
    /// `id` is given (a drive QEMU already has under that id).
    pub async fn insert_drive_as(
        &self,
        id: Option<i64>,
        vm_id: i64,
        spec: &DriveSpec,
        disk_id: Option<i64>,
    ) -> Result<drive::Model, StorageError> {
        let mut row = drive::ActiveModel {
            vm_id: Set(vm_id),
            interface: Set(spec.interface.as_str().to_owned()),
            file_path: Set(spec.file_path.clone()),
            format: Set(spec.format.as_str().to_owned()),
            media: Set(spec.media.as_str().to_owned()),
            read_only: Set(spec.read_only),
            cache: Set(spec.cache.map(|c| c.as_str().to_owned())),
            discard: Set(spec.discard),
            disk_id: Set(disk_id),
            ..Default::default()
        };
        if let Some(id) = id {
            row.id = Set(id);
        }
        let tx = self.begin_write().await?;
        let inserted = row.insert(&tx).await.map_err(query);
        finish(tx, inserted).await
    }

    /// Inserts a NIC whose MAC the caller chose (given or generated);
    /// `network_id` for a NIC on a managed network (whose static lease,
    /// if any, is `spec.ip_address`).
    pub async fn insert_nic(
        &self,
        vm_id: i64,
        spec: &NicSpec,
        mac: &str,
        network_id: Option<i64>,
    ) -> Result<network_interface::Model, StorageError> {
        self.insert_nic_as(None, vm_id, spec, mac, network_id).await
    }

    /// [`Store::insert_nic`] with a reserved id (see [`Store::insert_drive_as`]).
    pub async fn insert_nic_as(
        &self,
        id: Option<i64>,
        vm_id: i64,
        spec: &NicSpec,
        mac: &str,
        network_id: Option<i64>,
    ) -> Result<network_interface::Model, StorageError> {
        let mut row = network_interface::ActiveModel {
            vm_id: Set(vm_id),
            nic_type: Set(spec.nic_type.as_str().to_owned()),
            host_device: Set(spec.host_device.clone()),
            mac_address: Set(mac.to_owned()),
            forwards: Set(crate::queries::cloud::forwards_json(&spec.forwards)),
            network_id: Set(network_id),
            ip_address: Set(network_id.and(spec.ip_address.clone())),
            ..Default::default()
        };
        if let Some(id) = id {
            row.id = Set(id);
        }
        let tx = self.begin_write().await?;
        let inserted = row.insert(&tx).await.map_err(query);
        finish(tx, inserted).await
    }

    pub async fn insert_share(
        &self,
        vm_id: i64,
        spec: &ShareSpec,
    ) -> Result<shared_dir::Model, StorageError> {
        let row = shared_dir::ActiveModel {
            vm_id: Set(vm_id),
            path: Set(spec.path.clone()),
            tag: Set(spec.tag.clone()),
            cache: Set(spec.cache.as_str().to_owned()),
            read_only: Set(spec.read_only),
            pid: Set(None),
            ..Default::default()
        };
        let tx = self.begin_write().await?;
        let inserted = row.insert(&tx).await.map_err(query);
        finish(tx, inserted).await
    }

    /// Removes a drive of this VM; false when the VM has no such drive.
    pub async fn delete_drive(&self, vm_id: i64, drive_id: i64) -> Result<bool, StorageError> {
        let tx = self.begin_write().await?;
        let deleted = drive::Entity::delete_many()
            .filter(drive::Column::Id.eq(drive_id))
            .filter(drive::Column::VmId.eq(vm_id))
            .exec(&tx)
            .await
            .map(|result| result.rows_affected > 0)
            .map_err(query);
        finish(tx, deleted).await
    }

    pub async fn delete_nic(&self, vm_id: i64, nic_id: i64) -> Result<bool, StorageError> {
        let tx = self.begin_write().await?;
        let deleted = network_interface::Entity::delete_many()
            .filter(network_interface::Column::Id.eq(nic_id))
            .filter(network_interface::Column::VmId.eq(vm_id))
            .exec(&tx)
            .await
            .map(|result| result.rows_affected > 0)
            .map_err(query);
        finish(tx, deleted).await
    }

    pub async fn delete_share(&self, vm_id: i64, share_id: i64) -> Result<bool, StorageError> {
        let tx = self.begin_write().await?;
        let deleted = shared_dir::Entity::delete_many()
            .filter(shared_dir::Column::Id.eq(share_id))
            .filter(shared_dir::Column::VmId.eq(vm_id))
            .exec(&tx)
            .await
            .map(|result| result.rows_affected > 0)
            .map_err(query);
        finish(tx, deleted).await
    }
}
