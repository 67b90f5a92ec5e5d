//! Events between nodes (issue 19, PostgreSQL): every stored event is
//! announced on `corvus_events` in the transaction that stores it, so the
//! nodes hear of it once it is committed and read it, with every other
//! event stored since, from the rows (the rows stay the source of truth:
//! a notice missed while a listener reconnects loses no event).

use crate::error::{StorageError, query};
use crate::{DbKind, Store};
use corvus_protocol::VmEvent;
use sea_orm::sqlx::postgres::PgListener;
use sea_orm::{ConnectionTrait, DatabaseBackend, DatabaseTransaction, Statement};
use std::sync::Arc;

/// The channel stored events are announced on; the payload is
/// `NODE:SEQ`, the node that stored it and its number.
pub const EVENTS_CHANNEL: &str = "corvus_events";

/// A stored event as announced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Announced {
    pub node: String,
    pub seq: u64,
}

impl Announced {
    pub fn parse(payload: &str) -> Option<Announced> {
        let (node, seq) = payload.rsplit_once(':')?;
        Some(Announced {
            node: node.to_owned(),
            seq: seq.parse().ok()?,
        })
    }
}

/// Announces event `seq` when the transaction commits, on PostgreSQL,
/// once the store knows which node it writes for.
pub(crate) async fn announce(
    store: &Store,
    tx: &DatabaseTransaction,
    seq: i64,
) -> Result<(), StorageError> {
    let Some(node) = store.node.get().filter(|_| store.kind == DbKind::Postgres) else {
        return Ok(());
    };
    announce_as(tx, node, seq).await
}

/// Announces event `seq` as `node`'s (PostgreSQL only).
pub(crate) async fn announce_as(
    tx: &DatabaseTransaction,
    node: &str,
    seq: i64,
) -> Result<(), StorageError> {
    tx.execute_raw(Statement::from_sql_and_values(
        DatabaseBackend::Postgres,
        "SELECT pg_notify($1, $2)",
        vec![EVENTS_CHANNEL.into(), format!("{node}:{seq}").into()],
    ))
    .await
    .map(drop)
    .map_err(query)
}

impl Store {
    /// Names the node this store writes for: its events are announced
    /// with it. Set once; later calls change nothing.
    pub fn set_node(&self, node: &str) {
        let _ = self.node.set(Arc::from(node));
    }

    /// A connection of its own listening to `corvus_events` (it reconnects
    /// by itself when the server goes away).
    pub async fn listen_events(&self) -> Result<PgListener, StorageError> {
        let unavailable = |err| {
            query(sea_orm::DbErr::Conn(sea_orm::RuntimeErr::SqlxError(
                Arc::new(err),
            )))
        };
        let mut listener = PgListener::connect(&self.url).await.map_err(unavailable)?;
        listener.listen(EVENTS_CHANNEL).await.map_err(unavailable)?;
        Ok(listener)
    }

    /// The stored event numbered `seq`, of a live or a deleted VM.
    pub async fn event_by_seq(&self, seq: u64) -> Result<Option<VmEvent>, StorageError> {
        let events = self
            .events_page(
                seq.saturating_sub(1),
                Some(seq.saturating_add(1)),
                &[],
                Some(1),
            )
            .await?;
        Ok(events.into_iter().find(|event| event.seq == seq))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_announcement_names_its_node_and_number() {
        assert_eq!(
            Announced::parse("node-1.a:42"),
            Some(Announced {
                node: "node-1.a".into(),
                seq: 42
            })
        );
        assert_eq!(Announced::parse("a:x"), None);
        assert_eq!(Announced::parse("42"), None);
    }
}
