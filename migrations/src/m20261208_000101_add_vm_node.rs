//! `vm.node` (issue 19): the node that owns a VM, the only one that runs
//! it. NULL for rows written before nodes existed: the first daemon to
//! start on the database claims them for its node.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        db.execute_unprepared("ALTER TABLE vm ADD COLUMN node VARCHAR(64) NULL")
            .await?;
        db.execute_unprepared("CREATE INDEX IF NOT EXISTS idx_vm_node ON vm (node)")
            .await
            .map(drop)
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        db.execute_unprepared("DROP INDEX IF EXISTS idx_vm_node")
            .await?;
        db.execute_unprepared("ALTER TABLE vm DROP COLUMN node")
            .await
            .map(drop)
    }
}
