//! Pruning `vm_event` to the newest events of each VM (`--event-retention`).
//!
//! Both steps ride the `(vm_id, seq)` index on SQLite and PostgreSQL alike:
//! the cutoff is one index walk of `keep` entries, and the delete goes in
//! batches so that the persistence actor's writes (SQLite has one
//! connection) wait at most one batch.

use crate::Store;
use crate::entity::vm_event;
use crate::error::{StorageError, query};
use sea_orm::sea_query::{Order, Query};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

impl Store {
    /// The VMs with events after `seq`: those a sweep needs to look at.
    pub async fn vms_with_events_after(&self, seq: u64) -> Result<Vec<i64>, StorageError> {
        vm_event::Entity::find()
            .select_only()
            .column(vm_event::Column::VmId)
            .distinct()
            .filter(vm_event::Column::Seq.gt(i64::try_from(seq).unwrap_or(i64::MAX)))
            .into_tuple()
            .all(&self.db)
            .await
            .map_err(query)
    }

    /// Deletes up to `batch` of a VM's events older than its newest `keep`;
    /// returns how many went. Call again until it returns less than `batch`.
    pub async fn prune_vm_events(
        &self,
        vm_id: i64,
        keep: u64,
        batch: u64,
    ) -> Result<u64, StorageError> {
        let cutoff: Option<i64> = vm_event::Entity::find()
            .select_only()
            .column(vm_event::Column::Seq)
            .filter(vm_event::Column::VmId.eq(vm_id))
            .order_by_desc(vm_event::Column::Seq)
            .offset(keep)
            .limit(1)
            .into_tuple()
            .one(&self.db)
            .await
            .map_err(query)?;
        let Some(cutoff) = cutoff else {
            return Ok(0);
        };
        let oldest = Query::select()
            .column(vm_event::Column::Id)
            .from(vm_event::Entity)
            .and_where(vm_event::Column::VmId.eq(vm_id))
            .and_where(vm_event::Column::Seq.lte(cutoff))
            .order_by(vm_event::Column::Seq, Order::Asc)
            .limit(batch)
            .to_owned();
        let deleted = vm_event::Entity::delete_many()
            .filter(vm_event::Column::Id.in_subquery(oldest))
            .exec(&self.db)
            .await
            .map_err(query)?;
        Ok(deleted.rows_affected)
    }
}
