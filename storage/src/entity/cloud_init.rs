//! One VM's cloud-init (NoCloud) configuration; `ssh_keys` is a JSON array.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "cloud_init")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub vm_id: i64,
    pub user_name: String,
    pub ssh_keys: String,
    pub hostname: String,
    pub user_data: Option<String>,
    pub network_config: Option<String>,
    pub instance_id: String,
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
