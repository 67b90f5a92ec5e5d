//! The `vm_snapshot` table. The VmActor is the only writer of its VM's
//! rows: once QEMU (or qemu-img) confirmed a snapshot, and when `crv vm
//! snapshot list` reconciles the rows with the images.

use crate::Store;
use crate::entity::vm_snapshot;
use crate::error::{StorageError, query};
use crate::transaction::finish;
use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder,
};

/// A snapshot as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotRow {
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub with_ram: bool,
    pub size_bytes: u64,
}

impl From<vm_snapshot::Model> for SnapshotRow {
    fn from(row: vm_snapshot::Model) -> SnapshotRow {
        SnapshotRow {
            name: row.name,
            created_at: row.created_at,
            with_ram: row.with_ram,
            size_bytes: u64::try_from(row.size_bytes).unwrap_or(0),
        }
    }
}

fn active(vm_id: i64, row: &SnapshotRow) -> vm_snapshot::ActiveModel {
    vm_snapshot::ActiveModel {
        vm_id: Set(vm_id),
        name: Set(row.name.clone()),
        created_at: Set(row.created_at),
        with_ram: Set(row.with_ram),
        size_bytes: Set(i64::try_from(row.size_bytes).unwrap_or(i64::MAX)),
        ..Default::default()
    }
}

impl Store {
    /// A VM's snapshots, oldest first.
    pub async fn vm_snapshots(&self, vm_id: i64) -> Result<Vec<SnapshotRow>, StorageError> {
        let rows = vm_snapshot::Entity::find()
            .filter(vm_snapshot::Column::VmId.eq(vm_id))
            .order_by_asc(vm_snapshot::Column::CreatedAt)
            .order_by_asc(vm_snapshot::Column::Id)
            .all(&self.db)
            .await
            .map_err(query)?;
        Ok(rows.into_iter().map(SnapshotRow::from).collect())
    }

    /// Records what the images now hold: `added` rows in, the rows named
    /// in `removed` out, in one transaction.
    pub async fn change_vm_snapshots(
        &self,
        vm_id: i64,
        added: &[SnapshotRow],
        removed: &[String],
    ) -> Result<(), StorageError> {
        let tx = self.begin_write().await?;
        let changed = async {
            if !removed.is_empty() {
                vm_snapshot::Entity::delete_many()
                    .filter(vm_snapshot::Column::VmId.eq(vm_id))
                    .filter(vm_snapshot::Column::Name.is_in(removed.iter().cloned()))
                    .exec(&tx)
                    .await
                    .map_err(query)?;
            }
            for row in added {
                active(vm_id, row).insert(&tx).await.map_err(query)?;
            }
            Ok(())
        }
        .await;
        finish(tx, changed).await
    }
}
