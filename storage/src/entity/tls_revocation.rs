use sea_orm::entity::prelude::*;

/// A client certificate that `corvus tls revoke` withdrew.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "tls_revocation")]
pub struct Model {
    /// Lower-case hex of the certificate's serial number.
    #[sea_orm(primary_key, auto_increment = false)]
    pub serial: String,
    pub name: String,
    pub revoked_at: ChronoDateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
