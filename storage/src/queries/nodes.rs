//! Nodes (issue 19): their rows on PostgreSQL, their liveness as the
//! database sees it (each node's advisory lock, and its heartbeat against
//! the database's own clock), and which node owns which VM.

use crate::entity::vm;
use crate::error::{StorageError, query};
use crate::lock::advisory_key;
use crate::transaction::finish;
use crate::{DbKind, Store};
use corvus_protocol::VmRef;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseBackend, EntityTrait, QueryFilter,
    QuerySelect, Statement,
};
use std::collections::HashSet;
use std::time::Duration;

/// What a node says of itself when it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeRegistration {
    pub name: String,
    pub address: Option<String>,
    pub cpus: u32,
    pub ram_mib: u64,
}

/// One node with its liveness and load, read in one go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeRow {
    pub name: String,
    pub address: Option<String>,
    pub cpus: u32,
    pub ram_mib: u64,
    /// Its session's advisory lock is held now.
    pub locked: bool,
    /// The heartbeat's age by the database's clock.
    pub heartbeat_age: Duration,
    pub vm_count: u64,
    /// RAM of its VMs that have a QEMU.
    pub used_ram_mib: u64,
    /// Placement gives it no new VMs.
    pub cordoned: bool,
}

impl NodeRow {
    /// Live: its daemon holds its lock AND wrote a heartbeat within `timeout`.
    pub fn live(&self, timeout: Duration) -> bool {
        self.locked && self.heartbeat_age < timeout
    }

    pub fn free_ram_mib(&self) -> i64 {
        let total = i64::try_from(self.ram_mib).unwrap_or(i64::MAX);
        total.saturating_sub(i64::try_from(self.used_ram_mib).unwrap_or(i64::MAX))
    }
}

/// The states in which a VM has a QEMU and so holds its node's RAM
/// (`VmState::has_process`).
pub(crate) const WITH_PROCESS: &str =
    "('starting', 'running', 'paused', 'stopping', 'saving', 'restoring')";

fn statement(sql: &str, values: Vec<sea_orm::Value>) -> Statement {
    Statement::from_sql_and_values(DatabaseBackend::Postgres, sql, values)
}

fn corrupt(column: &'static str, value: impl ToString) -> StorageError {
    StorageError::Corrupt {
        column,
        value: value.to_string(),
    }
}

/// Advisory locks held in this database, as `pg_advisory_lock(bigint)`
/// shows them in `pg_locks`: the key's high half in `classid`, its low
/// half in `objid`, `objsubid` 1.
pub(crate) const HELD_LOCKS: &str = "SELECT ((classid::bigint << 32) | objid::bigint) AS key FROM pg_locks \
     WHERE locktype = 'advisory' AND objsubid = 1 AND granted \
     AND database = (SELECT oid FROM pg_database WHERE datname = current_database())";

impl Store {
    /// Writes this node's row at start (PostgreSQL): where it is reached
    /// and what it has. The heartbeat starts now, by the database's clock.
    pub async fn register_node(&self, node: &NodeRegistration) -> Result<(), StorageError> {
        let tx = self.begin_write().await?;
        let written = tx
            .execute_raw(statement(
                "INSERT INTO node (name, address, cpus, ram_mib, state, heartbeat, started_at) \
                 VALUES ($1, $2, $3, $4, 'active', now(), now()) \
                 ON CONFLICT (name) DO UPDATE SET address = EXCLUDED.address, cpus = EXCLUDED.cpus, \
                 ram_mib = EXCLUDED.ram_mib, heartbeat = now(), started_at = now()",
                vec![
                    node.name.clone().into(),
                    node.address.clone().into(),
                    i32::try_from(node.cpus).unwrap_or(i32::MAX).into(),
                    i64::try_from(node.ram_mib).unwrap_or(i64::MAX).into(),
                ],
            ))
            .await
            .map(drop)
            .map_err(query);
        finish(tx, written).await
    }

    /// Gives `node` the VMs it is to own at start; returns how many
    /// changed hands. On PostgreSQL those no node owns (rows from before
    /// nodes existed); on SQLite, one daemon and one node, every VM (the
    /// node may have been renamed).
    pub async fn claim_vms(&self, node: &str) -> Result<u64, StorageError> {
        let unowned = match self.kind {
            DbKind::Postgres => Condition::all().add(vm::Column::Node.is_null()),
            DbKind::Sqlite => Condition::any()
                .add(vm::Column::Node.is_null())
                .add(vm::Column::Node.ne(node)),
        };
        let tx = self.begin_write().await?;
        let claimed = vm::Entity::update_many()
            .col_expr(vm::Column::Node, Expr::value(node))
            .filter(unowned)
            .exec(&tx)
            .await
            .map(|done| done.rows_affected)
            .map_err(query);
        finish(tx, claimed).await
    }

    /// Every node of a PostgreSQL database with its liveness and load.
    pub async fn nodes(&self) -> Result<Vec<NodeRow>, StorageError> {
        nodes_on(&self.db).await
    }

    /// Cordons or uncordons `node`; `false` when there is no such node.
    pub async fn set_cordoned(&self, node: &str, cordoned: bool) -> Result<bool, StorageError> {
        let tx = self.begin_write().await?;
        let written = tx
            .execute_raw(statement(
                "UPDATE node SET cordoned = $1 WHERE name = $2",
                vec![cordoned.into(), node.into()],
            ))
            .await
            .map(|done| done.rows_affected() > 0)
            .map_err(query);
        finish(tx, written).await
    }

    /// A VM by name or id, wherever it runs: its id and owning node.
    pub async fn locate_vm(
        &self,
        vm: &VmRef,
    ) -> Result<Option<(i64, Option<String>)>, StorageError> {
        let select = vm::Entity::find()
            .select_only()
            .column(vm::Column::Id)
            .column(vm::Column::Node);
        let select = match vm {
            VmRef::Id(id) => select.filter(vm::Column::Id.eq(*id)),
            VmRef::Name(name) => select.filter(vm::Column::Name.eq(name.as_str())),
        };
        select.into_tuple().one(&self.db).await.map_err(query)
    }
}

/// Every node with its liveness and load, read on `conn` (a transaction
/// reads them under its own snapshot).
pub(crate) async fn nodes_on<C: ConnectionTrait>(conn: &C) -> Result<Vec<NodeRow>, StorageError> {
    let held: HashSet<i64> = conn
        .query_all_raw(statement(HELD_LOCKS, Vec::new()))
        .await
        .map_err(query)?
        .iter()
        .map(|row| row.try_get::<i64>("", "key"))
        .collect::<Result<_, _>>()
        .map_err(query)?;
    let nodes = format!(
        "SELECT n.name, n.address, n.cpus, n.ram_mib, n.cordoned, \
         GREATEST(0, EXTRACT(EPOCH FROM (now() - n.heartbeat)) * 1000)::bigint AS age_ms, \
         COUNT(v.id)::bigint AS vm_count, \
         COALESCE(SUM(v.ram_mb) FILTER (WHERE v.status IN {WITH_PROCESS}), 0)::bigint AS used_ram \
         FROM node n LEFT JOIN vm v ON v.node = n.name GROUP BY n.name ORDER BY n.name"
    );
    let rows = conn
        .query_all_raw(statement(&nodes, Vec::new()))
        .await
        .map_err(query)?;
    rows.iter()
        .map(|row| {
            let count = |column: &str| {
                row.try_get::<i64>("", column)
                    .map(|n| n.max(0) as u64)
                    .map_err(query)
            };
            let name: String = row.try_get("", "name").map_err(query)?;
            let cpus: i32 = row.try_get("", "cpus").map_err(query)?;
            let ram: i64 = row.try_get("", "ram_mib").map_err(query)?;
            Ok(NodeRow {
                locked: held.contains(&advisory_key(&name)),
                address: row.try_get("", "address").map_err(query)?,
                cpus: u32::try_from(cpus).map_err(|_| corrupt("node.cpus", cpus))?,
                ram_mib: u64::try_from(ram).map_err(|_| corrupt("node.ram_mib", ram))?,
                heartbeat_age: Duration::from_millis(count("age_ms")?),
                vm_count: count("vm_count")?,
                used_ram_mib: count("used_ram")?,
                cordoned: row.try_get("", "cordoned").map_err(query)?,
                name,
            })
        })
        .collect()
}
