//! `web_session`: the web console's one-time login tokens and browser
//! sessions (issue 21), kept in the database so that a daemon restart does
//! not log an open page out. Only a SHA-256 of each secret is stored.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum WebSession {
    Table,
    Id,
    Kind,
    Client,
    Role,
    Certificate,
    Csrf,
    CreatedAt,
    ExpiresAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(WebSession::Table)
                    .if_not_exists()
                    // Lower-case hex SHA-256 of the token or cookie secret.
                    .col(
                        ColumnDef::new(WebSession::Id)
                            .string_len(64)
                            .not_null()
                            .primary_key(),
                    )
                    // `login` (a one-time token from `crv web`) or `session`.
                    .col(ColumnDef::new(WebSession::Kind).string_len(16).not_null())
                    // Who the browser speaks for, as events name clients.
                    .col(
                        ColumnDef::new(WebSession::Client)
                            .string_len(128)
                            .not_null(),
                    )
                    .col(ColumnDef::new(WebSession::Role).string_len(16).not_null())
                    // The client certificate's serial when one logged in.
                    .col(
                        ColumnDef::new(WebSession::Certificate)
                            .string_len(64)
                            .null(),
                    )
                    // The per-session CSRF token (empty for a login token).
                    .col(ColumnDef::new(WebSession::Csrf).string_len(64).not_null())
                    .col(
                        ColumnDef::new(WebSession::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(WebSession::ExpiresAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(WebSession::Table).to_owned())
            .await
    }
}
