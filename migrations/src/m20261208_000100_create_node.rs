//! `node` (issue 19): one row per daemon sharing a PostgreSQL database.
//! The row says where the node is reached, what it has, and when it last
//! showed it was alive (`heartbeat`, always written with the database's
//! own `now()`, never a node's clock). Liveness also needs the node's
//! advisory lock held; the row alone proves nothing. On SQLite the table
//! exists but stays empty: one daemon, one node.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Node {
    Table,
    Name,
    Address,
    Cpus,
    RamMib,
    State,
    Heartbeat,
    StartedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Node::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(Node::Name)
                            .string_len(64)
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(Node::Address).text().null())
                    .col(ColumnDef::new(Node::Cpus).integer().not_null())
                    .col(ColumnDef::new(Node::RamMib).big_integer().not_null())
                    // `active` today; cordoning (a later slice) adds values.
                    .col(
                        ColumnDef::new(Node::State)
                            .string_len(16)
                            .not_null()
                            .default("active"),
                    )
                    .col(
                        ColumnDef::new(Node::Heartbeat)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Node::StartedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Node::Table).to_owned())
            .await
    }
}
