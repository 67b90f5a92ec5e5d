use crate::Store;
use crate::entity::{deleted_vm_event, vm, vm_event};
use crate::error::{StorageError, query};
use crate::rows::{event_from_row, event_of_deleted_vm};
use corvus_protocol::{EventKind, VmEvent};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Select};
use std::collections::HashMap;

fn with_names(
    rows: Vec<(vm_event::Model, Option<vm::Model>)>,
) -> Result<Vec<VmEvent>, StorageError> {
    rows.into_iter()
        .map(|(event, vm)| event_from_row(event, vm.map(|v| v.name).unwrap_or_default()))
        .collect()
}

impl Store {
    /// The highest event sequence number stored, 0 when there is none
    /// (a deleted VM's may be the last).
    pub async fn max_event_seq(&self) -> Result<u64, StorageError> {
        let last = vm_event::Entity::find()
            .order_by_desc(vm_event::Column::Seq)
            .one(&self.db)
            .await
            .map_err(query)?;
        let deleted = deleted_vm_event::Entity::find()
            .order_by_desc(deleted_vm_event::Column::Seq)
            .one(&self.db)
            .await
            .map_err(query)?;
        let last = last.map_or(0, |e| e.seq).max(deleted.map_or(0, |d| d.seq));
        Ok(last.max(0) as u64)
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
        self.events_page(after, before, vm_ids, None).await
    }

    /// Like `events_between`, at most `limit` events: replays of long
    /// histories read one page at a time. Deleted VMs' events
    /// (`deleted_vm_event`) are merged in by `seq`.
    pub async fn events_page(
        &self,
        after: u64,
        before: Option<u64>,
        vm_ids: &[i64],
        limit: Option<u64>,
    ) -> Result<Vec<VmEvent>, StorageError> {
        let mut select = after_seq(after).order_by_asc(vm_event::Column::Seq);
        let mut deleted = deleted_vm_event::Entity::find()
            .filter(deleted_vm_event::Column::Seq.gt(seq_bound(after)))
            .order_by_asc(deleted_vm_event::Column::Seq);
        if let Some(before) = before {
            select = select.filter(vm_event::Column::Seq.lt(seq_bound(before)));
            deleted = deleted.filter(deleted_vm_event::Column::Seq.lt(seq_bound(before)));
        }
        if !vm_ids.is_empty() {
            select = select.filter(vm_event::Column::VmId.is_in(vm_ids.iter().copied()));
            deleted = deleted.filter(deleted_vm_event::Column::VmId.is_in(vm_ids.iter().copied()));
        }
        if let Some(limit) = limit {
            select = select.limit(limit);
            deleted = deleted.limit(limit);
        }
        let rows = select.all(&self.db).await.map_err(query)?;
        let mut events = self.named(rows).await?;
        for row in deleted.all(&self.db).await.map_err(query)? {
            events.push(event_of_deleted_vm(row)?);
        }
        events.sort_by_key(|event| event.seq);
        // A VM deleted between the two reads has its events in both.
        events.dedup_by_key(|event| event.seq);
        if let Some(limit) = limit {
            events.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        }
        Ok(events)
    }

    /// The last `limit` state changes of one VM (all when `None`), oldest
    /// first. Its definition events are in the event stream only.
    pub async fn history(
        &self,
        vm_id: i64,
        limit: Option<u64>,
    ) -> Result<Vec<VmEvent>, StorageError> {
        let mut select = state_changes(vm_id)
            .find_also_related(vm::Entity)
            .order_by_desc(vm_event::Column::Seq);
        if let Some(limit) = limit {
            select = select.limit(limit);
        }
        let mut events = with_names(select.all(&self.db).await.map_err(query)?)?;
        events.reverse();
        Ok(events)
    }

    /// One page of a VM's history: at most `limit` state changes with
    /// `seq` in (after, before), oldest first.
    pub async fn history_page(
        &self,
        vm_id: i64,
        after: u64,
        before: u64,
        limit: u64,
    ) -> Result<Vec<VmEvent>, StorageError> {
        let rows = state_changes(vm_id)
            .filter(vm_event::Column::Seq.gt(seq_bound(after)))
            .filter(vm_event::Column::Seq.lt(seq_bound(before)))
            .order_by_asc(vm_event::Column::Seq)
            .limit(limit)
            .all(&self.db)
            .await
            .map_err(query)?;
        self.named(rows).await
    }

    /// The `seq` of a VM's `n`-th newest state change below `before` (n ≥ 1), or
    /// `None` when it has fewer: where the last `n` of them begin.
    pub async fn nth_newest_seq(
        &self,
        vm_id: i64,
        before: u64,
        n: u64,
    ) -> Result<Option<u64>, StorageError> {
        let seq: Option<i64> = state_changes(vm_id)
            .select_only()
            .column(vm_event::Column::Seq)
            .filter(vm_event::Column::Seq.lt(seq_bound(before)))
            .order_by_desc(vm_event::Column::Seq)
            .offset(n.saturating_sub(1))
            .limit(1)
            .into_tuple()
            .one(&self.db)
            .await
            .map_err(query)?;
        Ok(seq.map(|s| s.max(0) as u64))
    }

    /// Events with their VM's name, read once per VM rather than joined
    /// into every row (a page of thousands of events of one VM would carry
    /// thousands of copies of its definition).
    async fn named(&self, rows: Vec<vm_event::Model>) -> Result<Vec<VmEvent>, StorageError> {
        let mut ids: Vec<i64> = rows.iter().map(|row| row.vm_id).collect();
        ids.sort_unstable();
        ids.dedup();
        let names: HashMap<i64, String> = if ids.is_empty() {
            HashMap::new()
        } else {
            vm::Entity::find()
                .select_only()
                .column(vm::Column::Id)
                .column(vm::Column::Name)
                .filter(vm::Column::Id.is_in(ids))
                .into_tuple::<(i64, String)>()
                .all(&self.db)
                .await
                .map_err(query)?
                .into_iter()
                .collect()
        };
        rows.into_iter()
            .map(|row| {
                let name = names.get(&row.vm_id).cloned().unwrap_or_default();
                event_from_row(row, name)
            })
            .collect()
    }
}

/// One VM's state changes: what `vm history` shows.
fn state_changes(vm_id: i64) -> Select<vm_event::Entity> {
    vm_event::Entity::find()
        .filter(vm_event::Column::VmId.eq(vm_id))
        .filter(vm_event::Column::Kind.eq(EventKind::State.as_str()))
}

fn after_seq(after: u64) -> Select<vm_event::Entity> {
    vm_event::Entity::find().filter(vm_event::Column::Seq.gt(seq_bound(after)))
}

/// A sequence number as the column stores it; seqs past `i64::MAX` never
/// occur, so a larger bound means "past every stored event".
fn seq_bound(seq: u64) -> i64 {
    i64::try_from(seq).unwrap_or(i64::MAX)
}
