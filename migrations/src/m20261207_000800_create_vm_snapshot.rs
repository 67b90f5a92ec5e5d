//! `vm_snapshot` (issue 16): the metadata of a VM's internal snapshots
//! (`crv vm snapshot`). The snapshots themselves live inside the VM's qcow2
//! images; a row is written once QEMU or qemu-img confirmed one, and `crv vm
//! snapshot list` reconciles the rows with what the images hold. Rows go
//! with their VM.

use crate::vm_foreign_key;
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum VmSnapshot {
    Table,
    Id,
    VmId,
    Name,
    CreatedAt,
    WithRam,
    SizeBytes,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(VmSnapshot::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(VmSnapshot::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(VmSnapshot::VmId).big_integer().not_null())
                    .col(ColumnDef::new(VmSnapshot::Name).string_len(128).not_null())
                    .col(
                        ColumnDef::new(VmSnapshot::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(ColumnDef::new(VmSnapshot::WithRam).boolean().not_null())
                    .col(
                        ColumnDef::new(VmSnapshot::SizeBytes)
                            .big_integer()
                            .not_null(),
                    )
                    .foreign_key(&mut vm_foreign_key(VmSnapshot::Table, "fk_vm_snapshot_vm"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_vm_snapshot_vm_name")
                    .table(VmSnapshot::Table)
                    .col(VmSnapshot::VmId)
                    .col(VmSnapshot::Name)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(VmSnapshot::Table).to_owned())
            .await
    }
}
