//! The `node` row (issue 19): one daemon sharing a PostgreSQL database.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "node")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub name: String,
    pub address: Option<String>,
    pub cpus: i32,
    pub ram_mib: i64,
    pub state: String,
    /// Written with the database's `now()`, never a node's own clock.
    pub heartbeat: ChronoDateTimeUtc,
    pub started_at: ChronoDateTimeUtc,
    pub cordoned: bool,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
