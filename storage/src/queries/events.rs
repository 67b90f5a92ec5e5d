use crate::Store;
use crate::entity::{vm, vm_event};
use crate::error::{StorageError, query};
use crate::rows::event_from_row;
use corvus_protocol::VmEvent;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

fn with_names(
    rows: Vec<(vm_event::Model, Option<vm::Model>)>,
) -> Result<Vec<VmEvent>, StorageError> {
    rows.into_iter()
        .map(|(event, vm)| event_from_row(event, vm.map(|v| v.name).unwrap_or_default()))
        .collect()
}

impl Store {
    /// The highest event sequence number stored, 0 when there is none.
    pub async fn max_event_seq(&self) -> Result<u64, StorageError> {
        let last = vm_event::Entity::find()
            .order_by_desc(vm_event::Column::Seq)
            .one(&self.db)
            .await
            .map_err(query)?;
        Ok(last.map(|e| e.seq.max(0) as u64).unwrap_or(0))
    }

    /// Stored events with `seq` in (after, before), oldest first, for the
    /// given VMs (all when empty). Sequence numbers are stored as i64, so
    /// nothing is stored after one past `i64::MAX`.
    pub async fn events_between(
        &self,
        after: u64,
        before: Option<u64>,
        vm_ids: &[i64],
    ) -> Result<Vec<VmEvent>, StorageError> {
        let Ok(after) = i64::try_from(after) else {
            return Ok(Vec::new());
        };
        let mut select = vm_event::Entity::find()
            .filter(vm_event::Column::Seq.gt(after))
            .find_also_related(vm::Entity)
            .order_by_asc(vm_event::Column::Seq);
        if let Some(before) = before {
            let before = i64::try_from(before).unwrap_or(i64::MAX);
            select = select.filter(vm_event::Column::Seq.lt(before));
        }
        if !vm_ids.is_empty() {
            select = select.filter(vm_event::Column::VmId.is_in(vm_ids.iter().copied()));
        }
        with_names(select.all(&self.db).await.map_err(query)?)
    }

    /// The last `limit` events of one VM (all when `None`), oldest first.
    pub async fn history(
        &self,
        vm_id: i64,
        limit: Option<u64>,
    ) -> Result<Vec<VmEvent>, StorageError> {
        let mut select = vm_event::Entity::find()
            .filter(vm_event::Column::VmId.eq(vm_id))
            .find_also_related(vm::Entity)
            .order_by_desc(vm_event::Column::Seq);
        if let Some(limit) = limit {
            select = select.limit(limit);
        }
        let mut events = with_names(select.all(&self.db).await.map_err(query)?)?;
        events.reverse();
        Ok(events)
    }
}
