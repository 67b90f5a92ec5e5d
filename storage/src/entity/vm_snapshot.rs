//! A VM snapshot's metadata: see the `vm_snapshot` migration.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "vm_snapshot")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub vm_id: i64,
    pub name: String,
    pub created_at: ChronoDateTimeUtc,
    pub with_ram: bool,
    pub size_bytes: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::vm::Entity",
        from = "Column::VmId",
        to = "super::vm::Column::Id",
        on_delete = "Cascade"
    )]
    Vm,
}

impl ActiveModelBehavior for ActiveModel {}
