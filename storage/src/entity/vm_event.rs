use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "vm_event")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub vm_id: i64,
    #[sea_orm(unique)]
    pub seq: i64,
    pub at: ChronoDateTimeUtc,
    pub from_status: String,
    pub to_status: String,
    pub reason: String,
    /// JSON of `corvus_protocol::EventCause`.
    pub cause: String,
    /// `corvus_protocol::EventKind`: `state`, `defined` or `edited` (a
    /// VM's deletion, and its events, are then in `deleted_vm_event`).
    pub kind: String,
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

impl Related<super::vm::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Vm.def()
    }
}
