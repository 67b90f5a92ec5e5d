//! Managed networks (issue 17): a bridge the daemon owns, with its subnet
//! and gateway, DHCP range, DNS domain and mode (`nat` or `isolated`).
//! Their runtime state (up, error, dnsmasq) is not stored: the daemon
//! finds it again at every start.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
pub(crate) enum Network {
    Table,
    Id,
    Name,
    Subnet,
    Mode,
    Bridge,
    DhcpStart,
    DhcpEnd,
    DnsDomain,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Network::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(Network::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(Network::Name)
                            .string_len(64)
                            .not_null()
                            .unique_key(),
                    )
                    .col(ColumnDef::new(Network::Subnet).string_len(18).not_null())
                    .col(ColumnDef::new(Network::Mode).string_len(16).not_null())
                    .col(
                        ColumnDef::new(Network::Bridge)
                            .string_len(15)
                            .not_null()
                            .unique_key(),
                    )
                    .col(ColumnDef::new(Network::DhcpStart).string_len(15).not_null())
                    .col(ColumnDef::new(Network::DhcpEnd).string_len(15).not_null())
                    .col(ColumnDef::new(Network::DnsDomain).text().null())
                    .col(
                        ColumnDef::new(Network::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Network::Table).to_owned())
            .await
    }
}
