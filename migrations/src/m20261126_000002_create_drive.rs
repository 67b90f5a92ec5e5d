use crate::vm_foreign_key;
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Drive {
    Table,
    Id,
    VmId,
    Interface,
    FilePath,
    Format,
    Media,
    ReadOnly,
    Cache,
    Discard,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Drive::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(Drive::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(Drive::VmId).big_integer().not_null())
                    .col(ColumnDef::new(Drive::Interface).string_len(16).not_null())
                    .col(ColumnDef::new(Drive::FilePath).text().not_null())
                    .col(ColumnDef::new(Drive::Format).string_len(16).not_null())
                    .col(ColumnDef::new(Drive::Media).string_len(16).not_null())
                    .col(
                        ColumnDef::new(Drive::ReadOnly)
                            .boolean()
                            .not_null()
                            .default(false),
                    )
                    .col(ColumnDef::new(Drive::Cache).string_len(16).null())
                    .col(
                        ColumnDef::new(Drive::Discard)
                            .boolean()
                            .not_null()
                            .default(false),
                    )
                    .foreign_key(&mut vm_foreign_key(Drive::Table, "fk_drive_vm"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_drive_vm_id")
                    .table(Drive::Table)
                    .col(Drive::VmId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Drive::Table).to_owned())
            .await
    }
}
