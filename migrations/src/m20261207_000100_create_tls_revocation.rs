//! `tls_revocation`: client certificates `corvus tls revoke` withdrew, by
//! serial number; the daemon refuses them at every TLS handshake.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum TlsRevocation {
    Table,
    Serial,
    Name,
    RevokedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(TlsRevocation::Table)
                    .if_not_exists()
                    // Lower-case hex of the certificate's serial number.
                    .col(
                        ColumnDef::new(TlsRevocation::Serial)
                            .string_len(64)
                            .not_null()
                            .primary_key(),
                    )
                    // The certificate's name, for `corvus tls list` and the log.
                    .col(
                        ColumnDef::new(TlsRevocation::Name)
                            .string_len(64)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(TlsRevocation::RevokedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(TlsRevocation::Table).to_owned())
            .await
    }
}
