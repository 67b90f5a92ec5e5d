use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "disk")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(unique)]
    pub name: String,
    #[sea_orm(unique)]
    pub path: String,
    pub format: String,
    pub virtual_size: i64,
    pub backing_disk_id: Option<i64>,
    pub managed: bool,
    pub created_at: ChronoDateTimeUtc,
    /// The node whose host holds the file (issue 19).
    pub node: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
