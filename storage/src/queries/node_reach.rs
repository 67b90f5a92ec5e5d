//! One node's liveness and address in one query (issue 19): what routing
//! and forwarding ask on every request for another node's VM, where
//! `nodes()` (every node, with its load) would cost two.

use super::nodes::HELD_LOCKS;
use crate::Store;
use crate::error::{StorageError, query};
use crate::lock::advisory_key;
use sea_orm::{ConnectionTrait, DatabaseBackend, Statement};
use std::time::Duration;

/// What a forward needs to know of a node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeReach {
    pub address: Option<String>,
    /// Its session's advisory lock is held now.
    pub locked: bool,
    /// The heartbeat's age by the database's clock.
    pub heartbeat_age: Duration,
}

impl NodeReach {
    /// The same rule as `NodeRow::live`.
    pub fn live(&self, timeout: Duration) -> bool {
        self.locked && self.heartbeat_age < timeout
    }
}

impl Store {
    /// Node `name` (PostgreSQL), or `None` when no such node is registered.
    pub async fn node_reach(&self, name: &str) -> Result<Option<NodeReach>, StorageError> {
        let sql = format!(
            "SELECT n.address, \
             GREATEST(0, EXTRACT(EPOCH FROM (now() - n.heartbeat)) * 1000)::bigint AS age_ms, \
             EXISTS (SELECT 1 FROM ({HELD_LOCKS}) held WHERE held.key = $2) AS locked \
             FROM node n WHERE n.name = $1"
        );
        let row = self
            .db
            .query_one_raw(Statement::from_sql_and_values(
                DatabaseBackend::Postgres,
                &sql,
                vec![name.into(), advisory_key(name).into()],
            ))
            .await
            .map_err(query)?;
        let Some(row) = row else {
            return Ok(None);
        };
        let age: i64 = row.try_get("", "age_ms").map_err(query)?;
        Ok(Some(NodeReach {
            address: row.try_get("", "address").map_err(query)?,
            locked: row.try_get("", "locked").map_err(query)?,
            heartbeat_age: Duration::from_millis(u64::try_from(age).unwrap_or(0)),
        }))
    }
}
