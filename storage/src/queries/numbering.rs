//! Event numbers on PostgreSQL (issue 19): every node's events are numbered
//! by one database sequence when they are stored, so that each event has
//! one seq, the same on every node.
//!
//! The number is taken under a transaction-level advisory lock held until
//! the transaction ends, so events commit in the order of their numbers:
//! whoever sees event N stored sees every stored event below N too, and a
//! reader that resumes after N (`--since N`, a node's relay) misses
//! nothing. A transaction that takes a number and rolls back leaves a gap,
//! never a repeat. SQLite (one daemon) keeps the daemon's own counter.

use crate::entity::{deleted_vm_event, vm_event};
use crate::error::{StorageError, query};
use chrono::{DateTime, Utc};
use corvus_protocol::VmEvent;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseBackend, DatabaseTransaction, EntityTrait, QueryFilter,
    Statement,
};

/// The sequence `m20261209_000300_create_event_sequence` creates.
pub const EVENT_SEQUENCE: &str = "corvus_event_seq";
/// The advisory lock (two-key form: "cv" and 19) that orders event inserts.
const ORDER_LOCK: (i32, i32) = (0x6376, 19);

/// The next event number, the order lock held until `tx` ends.
pub(crate) async fn next_seq(tx: &DatabaseTransaction) -> Result<i64, StorageError> {
    let statement = |sql: String| Statement::from_string(DatabaseBackend::Postgres, sql);
    tx.execute_raw(statement(format!(
        "SELECT pg_advisory_xact_lock({}, {})",
        ORDER_LOCK.0, ORDER_LOCK.1
    )))
    .await
    .map_err(query)?;
    tx.query_one_raw(statement(format!(
        "SELECT nextval('{EVENT_SEQUENCE}') AS seq"
    )))
    .await
    .map_err(query)?
    .and_then(|row| row.try_get::<i64>("", "seq").ok())
    .ok_or(StorageError::Corrupt {
        column: "corvus_event_seq",
        value: "no next value".to_owned(),
    })
}

/// Whether this very event is stored already, of a live or a deleted VM:
/// a journal written again after a crash that came after the write. Its
/// number is the database's, so the event is known by what it says.
pub(crate) async fn stored_already(
    tx: &DatabaseTransaction,
    event: &VmEvent,
    at: DateTime<Utc>,
) -> Result<bool, StorageError> {
    let live = vm_event::Entity::find()
        .filter(vm_event::Column::VmId.eq(event.vm_id))
        .filter(vm_event::Column::At.eq(at))
        .filter(vm_event::Column::Kind.eq(event.kind.as_str()))
        .filter(vm_event::Column::FromStatus.eq(event.from.as_str()))
        .filter(vm_event::Column::ToStatus.eq(event.to.as_str()))
        .filter(vm_event::Column::Reason.eq(event.reason.as_str()))
        .one(tx)
        .await
        .map_err(query)?;
    if live.is_some() {
        return Ok(true);
    }
    deleted_vm_event::Entity::find()
        .filter(deleted_vm_event::Column::VmId.eq(event.vm_id))
        .filter(deleted_vm_event::Column::At.eq(at))
        .filter(deleted_vm_event::Column::Kind.eq(event.kind.as_str()))
        .filter(deleted_vm_event::Column::FromStatus.eq(event.from.as_str()))
        .filter(deleted_vm_event::Column::ToStatus.eq(event.to.as_str()))
        .filter(deleted_vm_event::Column::Reason.eq(event.reason.as_str()))
        .one(tx)
        .await
        .map(|found| found.is_some())
        .map_err(query)
}
