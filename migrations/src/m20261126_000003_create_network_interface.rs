use crate::vm_foreign_key;
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum NetworkInterface {
    Table,
    Id,
    VmId,
    Type,
    HostDevice,
    MacAddress,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(NetworkInterface::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(NetworkInterface::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(NetworkInterface::VmId)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(NetworkInterface::Type)
                            .string_len(16)
                            .not_null(),
                    )
                    .col(ColumnDef::new(NetworkInterface::HostDevice).text().null())
                    // Two NICs with one MAC on a shared bridge break both guests' networking.
                    .col(
                        ColumnDef::new(NetworkInterface::MacAddress)
                            .string_len(17)
                            .not_null()
                            .unique_key(),
                    )
                    .foreign_key(&mut vm_foreign_key(
                        NetworkInterface::Table,
                        "fk_network_interface_vm",
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_network_interface_vm_id")
                    .table(NetworkInterface::Table)
                    .col(NetworkInterface::VmId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(NetworkInterface::Table).to_owned())
            .await
    }
}
