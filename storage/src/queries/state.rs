use crate::Store;
use crate::entity::{shared_dir, vm, vm_event};
use crate::error::{StorageError, query};
use crate::transaction::finish;
use chrono::{DateTime, Utc};
use corvus_protocol::{VmEvent, VmState};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ActiveValue::Set, ColumnTrait, DatabaseTransaction, EntityTrait, QueryFilter};
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
    /// error: there is nothing left to record. Writing the same record again
    /// (a journal replayed after a crash that came after the write) sets the
    /// same columns and leaves the already stored event alone, so replaying
    /// a journal in order ends in the state of its last record.
    pub async fn record_state(&self, record: &StateRecord) -> Result<(), StorageError> {
        let tx = self.begin_write().await?;
        let written = record_in(&tx, record).await;
        finish(tx, written).await
    }
}

async fn record_in(tx: &DatabaseTransaction, record: &StateRecord) -> Result<(), StorageError> {
    let updated = vm::Entity::update_many()
        .col_expr(vm::Column::Status, Expr::value(record.status.as_str()))
        .col_expr(vm::Column::Pid, Expr::value(record.pid.map(|p| p as i32)))
        .col_expr(
            vm::Column::LastError,
            Expr::value(record.last_error.clone()),
        )
        .col_expr(vm::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(vm::Column::Id.eq(record.vm_id))
        .exec(tx)
        .await
        .map_err(query)?;
    if updated.rows_affected == 0 {
        return Ok(());
    }
    for (share_id, pid) in &record.share_pids {
        shared_dir::Entity::update_many()
            .col_expr(shared_dir::Column::Pid, Expr::value(pid.map(|p| p as i32)))
            .filter(shared_dir::Column::Id.eq(*share_id))
            .exec(tx)
            .await
            .map_err(query)?;
    }
    if let Some(event) = &record.event {
        let at = DateTime::parse_from_rfc3339(&event.at)
            .map(|at| at.with_timezone(&Utc))
            .unwrap_or_else(|_| Utc::now());
        let cause = serde_json::to_string(&event.cause).map_err(|_| StorageError::Corrupt {
            column: "vm_event.cause",
            value: format!("{:?}", event.cause),
        })?;
        let seq = i64::try_from(event.seq).map_err(|_| StorageError::Corrupt {
            column: "vm_event.seq",
            value: event.seq.to_string(),
        })?;
        let row = vm_event::ActiveModel {
            vm_id: Set(event.vm_id),
            seq: Set(seq),
            at: Set(at),
            from_status: Set(event.from.as_str().to_owned()),
            to_status: Set(event.to.as_str().to_owned()),
            reason: Set(event.reason.clone()),
            cause: Set(cause),
            ..Default::default()
        };
        vm_event::Entity::insert(row)
            .on_conflict(
                OnConflict::column(vm_event::Column::Seq)
                    .do_nothing()
                    .to_owned(),
            )
            .exec_without_returning(tx)
            .await
            .map_err(query)?;
    }
    Ok(())
}
