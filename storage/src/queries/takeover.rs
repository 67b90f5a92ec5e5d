//! Failover (issue 19, PostgreSQL): what a surviving node does with a lost
//! node's VMs, in one transaction per lost node.
//!
//! Lost means both: the node's advisory lock is free (`pg_locks`; nobody
//! ever tries to take another node's lock) and its heartbeat is older than
//! the node timeout by the database's clock. The dead node's VMs that had
//! a QEMU are locked `FOR UPDATE SKIP LOCKED`: a row another survivor is
//! taking is skipped, and once it commits the row is no longer one with a
//! QEMU, so exactly one survivor handles each VM. Highly available VMs
//! become the taker's (to be started by it); the others stay the dead
//! node's, in `error` "node 'a' lost". Each change is an event, announced
//! like any other. Which survivor takes an HA VM depends on free RAM
//! (`survivors.rs`).

use super::nodes::{HELD_LOCKS, WITH_PROCESS, nodes_on};
use super::state::{StateRecord, record_in};
use super::survivors::{charge, should_take, survivors};
use crate::entity::{shared_dir, vm};
use crate::error::{StorageError, query};
use crate::lock::advisory_key;
use crate::transaction::finish;
use crate::{DbKind, Store};
use chrono::{SecondsFormat, Utc};
use corvus_protocol::{EventCause, EventKind, RestartPolicy, VmEvent, VmState};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseBackend, DatabaseTransaction, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Statement,
};
use std::time::Duration;

/// A lost node's VM this node handled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LostVm {
    pub id: i64,
    pub name: String,
    /// Now this node's, to be started here; else left in `error`.
    pub taken: bool,
}

fn statement(sql: &str, values: Vec<sea_orm::Value>) -> Statement {
    Statement::from_sql_and_values(DatabaseBackend::Postgres, sql, values)
}

/// The reason a lost node's VMs are left with.
pub fn node_lost(node: &str) -> String {
    format!("node '{node}' lost")
}

impl Store {
    /// The nodes other than `me` that are lost: lock free and heartbeat
    /// older than `timeout`. Empty on SQLite.
    pub async fn lost_nodes(
        &self,
        me: &str,
        timeout: Duration,
    ) -> Result<Vec<String>, StorageError> {
        if self.kind != DbKind::Postgres {
            return Ok(Vec::new());
        }
        Ok(self
            .nodes()
            .await?
            .into_iter()
            .filter(|row| row.name != me && !row.locked && row.heartbeat_age > timeout)
            .map(|row| row.name)
            .collect())
    }

    /// Handles the VMs of `dead` that had a QEMU, unless it came back
    /// meanwhile: HA VMs (restart policy on-failure or always) become
    /// `me`'s, the others stay `dead`'s; all are left in `error`.
    pub async fn take_over(
        &self,
        dead: &str,
        me: &str,
        timeout: Duration,
    ) -> Result<Vec<LostVm>, StorageError> {
        let tx = self.begin_write().await?;
        let taken = take_over_in(&tx, dead, me, timeout).await;
        finish(tx, taken).await
    }

    /// Which of `ids` still name `me`, read under row locks by a node that
    /// holds its lock again: a takeover of them in flight has committed
    /// (and they are not `me`'s) or cannot happen any more.
    pub async fn still_owned(&self, me: &str, ids: &[i64]) -> Result<Vec<i64>, StorageError> {
        if self.kind != DbKind::Postgres || ids.is_empty() {
            return Ok(ids.to_vec());
        }
        let tx = self.begin_write().await?;
        let owned = vm::Entity::find()
            .select_only()
            .column(vm::Column::Id)
            .filter(vm::Column::Id.is_in(ids.iter().copied()))
            .filter(vm::Column::Node.eq(me))
            .order_by_asc(vm::Column::Id)
            .lock_exclusive()
            .into_tuple::<i64>()
            .all(&tx)
            .await
            .map_err(query);
        finish(tx, owned).await
    }
}

async fn still_lost(
    tx: &DatabaseTransaction,
    dead: &str,
    timeout: Duration,
) -> Result<bool, StorageError> {
    let held = format!("SELECT 1 FROM ({HELD_LOCKS}) held WHERE held.key = $3");
    let sql = format!(
        "SELECT ((now() - heartbeat) > make_interval(secs => $2)) AND NOT EXISTS ({held}) AS lost \
         FROM node WHERE name = $1"
    );
    let row = tx
        .query_one_raw(statement(
            &sql,
            vec![
                dead.into(),
                timeout.as_secs_f64().into(),
                advisory_key(dead).into(),
            ],
        ))
        .await
        .map_err(query)?;
    row.map(|row| row.try_get::<bool>("", "lost"))
        .transpose()
        .map(|lost| lost.unwrap_or(false))
        .map_err(query)
}

/// RAM of the VMs `me` took over on an earlier round and has not begun to
/// start: their rows say `error` "node 'x' lost" until its supervisor
/// starts them, so the node rows do not count them yet. (Node names hold
/// no quote or `%`, so the pattern matches those reasons only.)
async fn taken_not_started(tx: &DatabaseTransaction, me: &str) -> Result<i64, StorageError> {
    let row = tx
        .query_one_raw(statement(
            "SELECT COALESCE(SUM(ram_mb), 0)::bigint AS ram FROM vm \
             WHERE node = $1 AND status = 'error' AND last_error LIKE 'node ''%'' lost'",
            vec![me.into()],
        ))
        .await
        .map_err(query)?;
    row.map_or(Ok(0), |row| row.try_get::<i64>("", "ram"))
        .map_err(query)
}

async fn take_over_in(
    tx: &DatabaseTransaction,
    dead: &str,
    me: &str,
    timeout: Duration,
) -> Result<Vec<LostVm>, StorageError> {
    let sql = format!(
        "SELECT id, name, status, ha, restart_policy, ram_mb FROM vm \
         WHERE node = $1 AND status IN {WITH_PROCESS} ORDER BY id FOR UPDATE SKIP LOCKED"
    );
    let rows = tx
        .query_all_raw(statement(&sql, vec![dead.into()]))
        .await
        .map_err(query)?;
    // Checked once the rows are locked: a node that takes its lock again
    // and then reads its rows (`still_owned`) either waits for this
    // transaction or makes this check fail, never starts a VM taken here.
    if !still_lost(tx, dead, timeout).await? {
        return Ok(Vec::new());
    }
    let mut survivors = survivors(&nodes_on(tx).await?, me, dead, timeout);
    charge(&mut survivors, me, taken_not_started(tx, me).await?);
    let mut handled = Vec::new();
    for row in rows {
        let text = |column: &str| row.try_get::<String>("", column).map_err(query);
        let id: i64 = row.try_get("", "id").map_err(query)?;
        let name = text("name")?;
        let status = text("status")?;
        let from: VmState = status.parse().map_err(|_| StorageError::Corrupt {
            column: "vm.status",
            value: status.clone(),
        })?;
        let policy = text("restart_policy")?;
        let policy: RestartPolicy = policy.parse().map_err(|_| StorageError::Corrupt {
            column: "vm.restart_policy",
            value: policy.clone(),
        })?;
        let ha: bool = row.try_get("", "ha").map_err(query)?;
        let ram_mib: i64 = row.try_get("", "ram_mb").map_err(query)?;
        let taken = ha && policy != RestartPolicy::Never;
        if taken {
            if !should_take(&survivors, me, ram_mib) {
                // Left to a survivor with room, which takes it on its next
                // round once this transaction lets go of the row.
                continue;
            }
            charge(&mut survivors, me, ram_mib);
            tx.execute_raw(statement(
                "UPDATE vm SET node = $2 WHERE id = $1",
                vec![id.into(), me.into()],
            ))
            .await
            .map_err(query)?;
        }
        let shares = shared_dir::Entity::find()
            .filter(shared_dir::Column::VmId.eq(id))
            .all(tx)
            .await
            .map_err(query)?;
        let reason = node_lost(dead);
        let record = StateRecord {
            vm_id: id,
            status: VmState::Error,
            pid: None,
            last_error: Some(reason.clone()),
            share_pids: shares.iter().map(|share| (share.id, None)).collect(),
            event: Some(VmEvent {
                // Numbered by the database as it is stored (`numbering.rs`).
                seq: 0,
                at: Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true),
                vm_id: id,
                vm_name: name.clone(),
                from,
                to: VmState::Error,
                reason,
                cause: EventCause::Node {
                    node: dead.to_owned(),
                },
                kind: EventKind::State,
            }),
        };
        if let Some(seq) = record_in(tx, DbKind::Postgres, &record, None).await? {
            // Announced under the lost node's name, so that every live node,
            // this one included, reads it from its row.
            crate::notify::announce_as(tx, dead, seq).await?;
        }
        handled.push(LostVm { id, name, taken });
    }
    Ok(handled)
}
