use crate::Store;
use crate::entity::{shared_dir, vm, vm_event};
use crate::error::{StorageError, query};
use chrono::{DateTime, Utc};
use corvus_protocol::{VmEvent, VmState};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, TransactionTrait,
};

/// One runtime change of a VM as the persistence actor writes it: the
/// `vm` row's runtime columns, the virtiofsd PIDs and the history event.
#[derive(Debug, Clone, PartialEq, Eq)]
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
    /// error: there is nothing left to record.
    pub async fn record_state(&self, record: &StateRecord) -> Result<(), StorageError> {
        let tx = self.db.begin().await.map_err(query)?;
        let updated = vm::Entity::update_many()
            .col_expr(vm::Column::Status, Expr::value(record.status.as_str()))
            .col_expr(vm::Column::Pid, Expr::value(record.pid.map(|p| p as i32)))
            .col_expr(
                vm::Column::LastError,
                Expr::value(record.last_error.clone()),
            )
            .col_expr(vm::Column::UpdatedAt, Expr::value(Utc::now()))
            .filter(vm::Column::Id.eq(record.vm_id))
            .exec(&tx)
            .await
            .map_err(query)?;
        if updated.rows_affected == 0 {
            return tx.commit().await.map_err(query);
        }
        for (share_id, pid) in &record.share_pids {
            shared_dir::Entity::update_many()
                .col_expr(shared_dir::Column::Pid, Expr::value(pid.map(|p| p as i32)))
                .filter(shared_dir::Column::Id.eq(*share_id))
                .exec(&tx)
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
            vm_event::ActiveModel {
                vm_id: Set(event.vm_id),
                seq: Set(event.seq as i64),
                at: Set(at),
                from_status: Set(event.from.as_str().to_owned()),
                to_status: Set(event.to.as_str().to_owned()),
                reason: Set(event.reason.clone()),
                cause: Set(cause),
                ..Default::default()
            }
            .insert(&tx)
            .await
            .map_err(query)?;
        }
        tx.commit().await.map_err(query)
    }
}
