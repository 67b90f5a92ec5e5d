//! One numbering of events across nodes (issue 19, PostgreSQL only): the
//! sequence every node's events take their `seq` from when they are
//! stored, starting past every stored one, and indexes by (VM, time) for
//! recognising an event a replayed journal writes again. SQLite is one
//! daemon, which numbers its own events.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DatabaseBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DatabaseBackend::Postgres {
            return Ok(());
        }
        let db = manager.get_connection();
        db.execute_unprepared("CREATE SEQUENCE IF NOT EXISTS corvus_event_seq")
            .await?;
        db.execute_unprepared(
            "SELECT setval('corvus_event_seq', GREATEST( \
               (SELECT COALESCE(MAX(seq), 0) FROM vm_event), \
               (SELECT COALESCE(MAX(seq), 0) FROM deleted_vm_event)) + 1, false)",
        )
        .await?;
        db.execute_unprepared(
            "CREATE INDEX IF NOT EXISTS idx_vm_event_vm_at ON vm_event (vm_id, at)",
        )
        .await?;
        db.execute_unprepared(
            "CREATE INDEX IF NOT EXISTS idx_deleted_vm_event_vm_at ON deleted_vm_event (vm_id, at)",
        )
        .await
        .map(drop)
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DatabaseBackend::Postgres {
            return Ok(());
        }
        let db = manager.get_connection();
        db.execute_unprepared("DROP INDEX IF EXISTS idx_deleted_vm_event_vm_at")
            .await?;
        db.execute_unprepared("DROP INDEX IF EXISTS idx_vm_event_vm_at")
            .await?;
        db.execute_unprepared("DROP SEQUENCE IF EXISTS corvus_event_seq")
            .await
            .map(drop)
    }
}
