//! `vm.hotplug_slots`: how many empty PCIe root ports a VM's QEMU gets at
//! boot, so that drives and NICs can be added while it runs (issue 16).
//! Existing VMs get the default, 4.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared(
                "ALTER TABLE vm ADD COLUMN hotplug_slots INTEGER NOT NULL DEFAULT 4",
            )
            .await
            .map(drop)
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("ALTER TABLE vm DROP COLUMN hotplug_slots")
            .await
            .map(drop)
    }
}
