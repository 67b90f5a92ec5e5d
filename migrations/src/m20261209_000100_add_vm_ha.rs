//! `vm.ha` (issue 19): a highly available VM is started on a surviving
//! node when its node is lost. Existing VMs are not.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("ALTER TABLE vm ADD COLUMN ha BOOLEAN NOT NULL DEFAULT FALSE")
            .await
            .map(drop)
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("ALTER TABLE vm DROP COLUMN ha")
            .await
            .map(drop)
    }
}
