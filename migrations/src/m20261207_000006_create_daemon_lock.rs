//! `daemon_lock`: who holds a database. The lock itself is a file lock
//! (SQLite) or an advisory lock (PostgreSQL); the row names the holder so
//! that a daemon refused the lock can say whom to stop.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum DaemonLock {
    Table,
    Name,
    Host,
    Pid,
    Socket,
    StartedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(DaemonLock::Table)
                    .if_not_exists()
                    // One row per lock: one daemon per database today, one per node name later.
                    .col(
                        ColumnDef::new(DaemonLock::Name)
                            .string_len(64)
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(DaemonLock::Host).text().not_null())
                    .col(ColumnDef::new(DaemonLock::Pid).big_integer().not_null())
                    .col(ColumnDef::new(DaemonLock::Socket).text().not_null())
                    .col(
                        ColumnDef::new(DaemonLock::StartedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(DaemonLock::Table).to_owned())
            .await
    }
}
