use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "drive")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub vm_id: i64,
    pub interface: String,
    pub file_path: String,
    pub format: String,
    pub media: String,
    pub read_only: bool,
    pub cache: Option<String>,
    pub discard: bool,
    pub disk_id: Option<i64>,
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
