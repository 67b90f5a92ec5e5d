use crate::vm_foreign_key;
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum SharedDir {
    Table,
    Id,
    VmId,
    Path,
    Tag,
    Cache,
    ReadOnly,
    Pid,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(SharedDir::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(SharedDir::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(SharedDir::VmId).big_integer().not_null())
                    .col(ColumnDef::new(SharedDir::Path).text().not_null())
                    .col(ColumnDef::new(SharedDir::Tag).string_len(36).not_null())
                    .col(
                        ColumnDef::new(SharedDir::Cache)
                            .string_len(16)
                            .not_null()
                            .default("auto"),
                    )
                    .col(
                        ColumnDef::new(SharedDir::ReadOnly)
                            .boolean()
                            .not_null()
                            .default(false),
                    )
                    .col(ColumnDef::new(SharedDir::Pid).integer().null())
                    .foreign_key(&mut vm_foreign_key(SharedDir::Table, "fk_shared_dir_vm"))
                    .to_owned(),
            )
            .await?;
        // The guest mounts a share by its tag, so one VM cannot have two with the same.
        manager
            .create_index(
                Index::create()
                    .name("idx_shared_dir_vm_tag")
                    .table(SharedDir::Table)
                    .col(SharedDir::VmId)
                    .col(SharedDir::Tag)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(SharedDir::Table).to_owned())
            .await
    }
}
