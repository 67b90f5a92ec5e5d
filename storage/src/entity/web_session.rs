//! The `web_session` row: a web console login token or browser session.

use sea_orm::entity::prelude::*;

/// A web console login token or browser session (issue 21).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "web_session")]
pub struct Model {
    /// Lower-case hex SHA-256 of the secret the browser holds.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// `login` or `session`.
    pub kind: String,
    pub client: String,
    pub role: String,
    pub certificate: Option<String>,
    pub csrf: String,
    pub created_at: ChronoDateTimeUtc,
    pub expires_at: ChronoDateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
