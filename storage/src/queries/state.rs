use super::numbering;
use crate::entity::{deleted_vm_event, shared_dir, vm, vm_event};
use crate::error::{StorageError, query};
use crate::transaction::finish;
use crate::{DbKind, Store};
use chrono::{DateTime, Utc};
use corvus_protocol::{EventCause, EventKind, VmEvent, VmState};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DatabaseTransaction, EntityTrait, QueryFilter, QueryOrder,
};
use serde::{Deserialize, Serialize};

/// One runtime change of a VM as the persistence actor writes it: the
/// `vm` row's runtime columns, the virtiofsd PIDs and the history event.
/// Serialisable so that the daemon can keep it in its journal while the
/// database refuses it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateRecord {
    pub vm_id: i64,
    pub status: VmState,
    pub pid: Option<u32>,
    pub last_error: Option<String>,
    /// (shared_dir id, virtiofsd pid) for every share of the VM.
    pub share_pids: Vec<(i64, Option<u32>)>,
    pub event: Option<VmEvent>,
}

impl Store {
    /// Writes one state change atomically. A VM deleted meanwhile is not an
    /// error: only its event is kept, with its other events. Writing the same record again
    /// (a journal replayed after a crash that came after the write) sets the
    /// same columns and leaves the already stored event alone, so replaying
    /// a journal in order ends in the state of its last record.
    ///
    /// On PostgreSQL the database numbers the event (`numbering.rs`): the
    /// record's own `seq` is not used there.
    pub async fn record_state(&self, record: &StateRecord) -> Result<(), StorageError> {
        // On PostgreSQL a row another node took over (failover, issue 19)
        // is that node's to write: this node's event joins the history only.
        let owner = self.node.get().filter(|_| self.kind == DbKind::Postgres);
        let tx = self.begin_write().await?;
        let written = match record_in(&tx, self.kind, record, owner.map(|node| &**node)).await {
            // Told to the other nodes once committed (PostgreSQL).
            Ok(Some(seq)) => crate::notify::announce(self, &tx, seq).await,
            Ok(None) => Ok(()),
            Err(err) => Err(err),
        };
        finish(tx, written).await
    }
}

impl Store {
    /// Gives VM `vm_id` from node `from` to node `to` (issue 19) in one
    /// transaction with its event, numbered by the database:
    /// only while `from` still owns it and it has no QEMU (stopped or in
    /// error). Returns the event as stored, or `None` when the VM is no
    /// longer `from`'s or no longer stopped (nothing changed).
    pub async fn move_vm(
        &self,
        vm_id: i64,
        from: &str,
        to: &str,
        event: &VmEvent,
    ) -> Result<Option<VmEvent>, StorageError> {
        let tx = self.begin_write().await?;
        let moved = async {
            let updated = vm::Entity::update_many()
                .col_expr(vm::Column::Node, Expr::value(to))
                .col_expr(vm::Column::UpdatedAt, Expr::value(Utc::now()))
                .filter(vm::Column::Id.eq(vm_id))
                .filter(vm::Column::Node.eq(from))
                .filter(
                    vm::Column::Status.is_in([VmState::Stopped.as_str(), VmState::Error.as_str()]),
                )
                .exec(&tx)
                .await
                .map_err(query)?;
            if updated.rows_affected == 0 {
                return Ok(None);
            }
            // Moves happen on PostgreSQL only (several nodes).
            let seq = numbering::next_seq(&tx).await?;
            vm_event::Entity::insert(event_row(vm_id, event, seq)?)
                .exec_without_returning(&tx)
                .await
                .map_err(query)?;
            crate::notify::announce(self, &tx, seq).await?;
            Ok(Some(VmEvent {
                seq: seq as u64,
                ..event.clone()
            }))
        }
        .await;
        finish(tx, moved).await
    }
}

/// Writes the record; returns the number its event was stored under, when
/// it was stored now (not when a replay found it stored already).
/// With `owner`, the row is written only while that node owns it.
pub(crate) async fn record_in(
    tx: &DatabaseTransaction,
    kind: DbKind,
    record: &StateRecord,
    owner: Option<&str>,
) -> Result<Option<i64>, StorageError> {
    if let Some(event) = record
        .event
        .as_ref()
        .filter(|e| e.kind == EventKind::Deleted)
    {
        // The VM's rows are gone already.
        return record_of_deleted_vm(tx, kind, event).await;
    }
    let mut update = vm::Entity::update_many()
        .col_expr(vm::Column::Status, Expr::value(record.status.as_str()))
        .col_expr(vm::Column::Pid, Expr::value(record.pid.map(|p| p as i32)))
        .col_expr(
            vm::Column::LastError,
            Expr::value(record.last_error.clone()),
        )
        .col_expr(vm::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(vm::Column::Id.eq(record.vm_id));
    if let Some(owner) = owner {
        update = update.filter(vm::Column::Node.eq(owner));
    }
    let updated = update.exec(tx).await.map_err(query)?;
    let exists = updated.rows_affected > 0
        || vm::Entity::find_by_id(record.vm_id)
            .one(tx)
            .await
            .map_err(query)?
            .is_some();
    if !exists {
        // Deleted meanwhile: its event joins the deleted VM's others.
        return match &record.event {
            Some(event) => record_of_deleted_vm(tx, kind, event).await,
            None => Ok(None),
        };
    }
    let shares = if updated.rows_affected > 0 {
        record.share_pids.as_slice()
    } else {
        &[]
    };
    for (share_id, pid) in shares {
        shared_dir::Entity::update_many()
            .col_expr(shared_dir::Column::Pid, Expr::value(pid.map(|p| p as i32)))
            .filter(shared_dir::Column::Id.eq(*share_id))
            .exec(tx)
            .await
            .map_err(query)?;
    }
    match &record.event {
        Some(event) => record_event(tx, kind, event).await,
        None => Ok(None),
    }
}

/// The `vm_event` row of `event`, of VM `vm_id`, numbered `seq`.
fn event_row(vm_id: i64, event: &VmEvent, seq: i64) -> Result<vm_event::ActiveModel, StorageError> {
    Ok(vm_event::ActiveModel {
        vm_id: Set(vm_id),
        seq: Set(seq),
        at: Set(at(event)),
        from_status: Set(event.from.as_str().to_owned()),
        to_status: Set(event.to.as_str().to_owned()),
        reason: Set(event.reason.clone()),
        cause: Set(cause_column("vm_event.cause", &event.cause)?),
        kind: Set(event.kind.as_str().to_owned()),
        ..Default::default()
    })
}

/// Stores the event of a VM that exists; returns its number when it was
/// stored now.
async fn record_event(
    tx: &DatabaseTransaction,
    kind: DbKind,
    event: &VmEvent,
) -> Result<Option<i64>, StorageError> {
    let row = |seq: i64| event_row(event.vm_id, event, seq);
    match kind {
        DbKind::Postgres => {
            if numbering::stored_already(tx, event, at(event)).await? {
                return Ok(None);
            }
            let seq = numbering::next_seq(tx).await?;
            vm_event::Entity::insert(row(seq)?)
                .exec_without_returning(tx)
                .await
                .map_err(query)?;
            Ok(Some(seq))
        }
        DbKind::Sqlite => {
            let seq = seq_column("vm_event.seq", event.seq)?;
            let inserted = vm_event::Entity::insert(row(seq)?)
                .on_conflict(
                    OnConflict::column(vm_event::Column::Seq)
                        .do_nothing()
                        .to_owned(),
                )
                .exec_without_returning(tx)
                .await
                .map_err(query)?;
            if inserted > 0 {
                return Ok(Some(seq));
            }
            if numbering::stored_already(tx, event, at(event)).await? {
                return Ok(None);
            }
            // Not this event under its number: it goes after every stored
            // event rather than being lost.
            let seq = next_free_seq(tx).await?;
            vm_event::Entity::insert(row(seq)?)
                .exec_without_returning(tx)
                .await
                .map_err(query)?;
            Ok(Some(seq))
        }
    }
}

/// One past the highest sequence number stored, of live and deleted VMs.
async fn next_free_seq(tx: &DatabaseTransaction) -> Result<i64, StorageError> {
    let last = vm_event::Entity::find()
        .order_by_desc(vm_event::Column::Seq)
        .one(tx)
        .await
        .map_err(query)?
        .map_or(0, |e| e.seq);
    let deleted = deleted_vm_event::Entity::find()
        .order_by_desc(deleted_vm_event::Column::Seq)
        .one(tx)
        .await
        .map_err(query)?
        .map_or(0, |e| e.seq);
    Ok(last.max(deleted).saturating_add(1))
}

/// An event of a deleted VM (its deletion, or one that was on its way
/// when the VM went), beside the VM's other events in `deleted_vm_event`.
/// Written again from a replayed journal, it stays as it was.
async fn record_of_deleted_vm(
    tx: &DatabaseTransaction,
    kind: DbKind,
    event: &VmEvent,
) -> Result<Option<i64>, StorageError> {
    let seq = match kind {
        DbKind::Postgres => {
            if numbering::stored_already(tx, event, at(event)).await? {
                return Ok(None);
            }
            numbering::next_seq(tx).await?
        }
        DbKind::Sqlite => seq_column("deleted_vm_event.seq", event.seq)?,
    };
    let row = deleted_vm_event::ActiveModel {
        vm_id: Set(event.vm_id),
        vm_name: Set(event.vm_name.clone()),
        seq: Set(seq),
        at: Set(at(event)),
        from_status: Set(event.from.as_str().to_owned()),
        to_status: Set(event.to.as_str().to_owned()),
        reason: Set(event.reason.clone()),
        cause: Set(cause_column("deleted_vm_event.cause", &event.cause)?),
        kind: Set(event.kind.as_str().to_owned()),
        ..Default::default()
    };
    let inserted = deleted_vm_event::Entity::insert(row)
        .on_conflict(
            OnConflict::column(deleted_vm_event::Column::Seq)
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(tx)
        .await
        .map_err(query)?;
    Ok((inserted > 0).then_some(seq))
}

fn at(event: &VmEvent) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(&event.at)
        .map(|at| at.with_timezone(&Utc))
        .unwrap_or_else(|_| Utc::now())
}

fn seq_column(column: &'static str, seq: u64) -> Result<i64, StorageError> {
    i64::try_from(seq).map_err(|_| StorageError::Corrupt {
        column,
        value: seq.to_string(),
    })
}

fn cause_column(column: &'static str, cause: &EventCause) -> Result<String, StorageError> {
    serde_json::to_string(cause).map_err(|_| StorageError::Corrupt {
        column,
        value: format!("{cause:?}"),
    })
}
