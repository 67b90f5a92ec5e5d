//! `disk.node` (issue 19): a disk's file lives on one node's host, so the
//! disk belongs to that node, whose disk service alone manages it; the
//! other nodes pass its requests there. A disk a VM uses goes to that VM's
//! node; the rest are claimed at start by the node that finds them
//! without one (`Store::claim_disks`).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        db.execute_unprepared("ALTER TABLE disk ADD COLUMN node TEXT NULL")
            .await?;
        db.execute_unprepared(
            "UPDATE disk SET node = (SELECT vm.node FROM drive JOIN vm ON vm.id = drive.vm_id \
             WHERE drive.disk_id = disk.id AND vm.node IS NOT NULL ORDER BY vm.id LIMIT 1) \
             WHERE node IS NULL",
        )
        .await
        .map(drop)
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("ALTER TABLE disk DROP COLUMN node")
            .await
            .map(drop)
    }
}
