//! `node.cordoned` (issue 19): a cordoned node gets no new VMs (placement
//! skips it, `crv vm create --node` and `crv vm move` to it are refused)
//! until it is uncordoned; `crv node drain` cordons it first.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared(
                "ALTER TABLE node ADD COLUMN cordoned BOOLEAN NOT NULL DEFAULT FALSE",
            )
            .await
            .map(drop)
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("ALTER TABLE node DROP COLUMN cordoned")
            .await
            .map(drop)
    }
}
