//! A network's history (issue 17): it came up, its dnsmasq exited and was
//! restarted, it went into error. Kept apart from `vm_event`, whose rows
//! are VM state changes numbered for `crv events --since`; rows go with
//! their network.

use crate::m20261207_000300_create_network::Network;
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum NetworkEvent {
    Table,
    Id,
    NetworkId,
    At,
    Kind,
    Reason,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(NetworkEvent::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(NetworkEvent::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(NetworkEvent::NetworkId)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(NetworkEvent::At)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(ColumnDef::new(NetworkEvent::Kind).string_len(32).not_null())
                    .col(ColumnDef::new(NetworkEvent::Reason).text().not_null())
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_network_event_network")
                            .from(NetworkEvent::Table, NetworkEvent::NetworkId)
                            .to(Network::Table, Network::Id)
                            .on_delete(ForeignKeyAction::Cascade)
                            .on_update(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_network_event_network_id")
                    .table(NetworkEvent::Table)
                    .col(NetworkEvent::NetworkId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(NetworkEvent::Table).to_owned())
            .await
    }
}
