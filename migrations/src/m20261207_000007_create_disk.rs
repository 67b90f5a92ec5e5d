//! Disks (issue 14): images Corvus created in its disk directory
//! (`managed`) or files it was told about (registered), each optionally
//! backed by another disk.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
pub(crate) enum Disk {
    Table,
    Id,
    Name,
    Path,
    Format,
    VirtualSize,
    BackingDiskId,
    Managed,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Disk::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(Disk::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(Disk::Name)
                            .string_len(64)
                            .not_null()
                            .unique_key(),
                    )
                    .col(ColumnDef::new(Disk::Path).text().not_null().unique_key())
                    .col(ColumnDef::new(Disk::Format).string_len(16).not_null())
                    .col(ColumnDef::new(Disk::VirtualSize).big_integer().not_null())
                    .col(ColumnDef::new(Disk::BackingDiskId).big_integer().null())
                    .col(ColumnDef::new(Disk::Managed).boolean().not_null())
                    .col(
                        ColumnDef::new(Disk::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    // A base cannot go while an overlay needs it.
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_disk_backing")
                            .from(Disk::Table, Disk::BackingDiskId)
                            .to(Disk::Table, Disk::Id)
                            .on_delete(ForeignKeyAction::Restrict)
                            .on_update(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Disk::Table).to_owned())
            .await
    }
}
