use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "network_interface")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub vm_id: i64,
    #[sea_orm(column_name = "type")]
    pub nic_type: String,
    pub host_device: Option<String>,
    #[sea_orm(unique)]
    pub mac_address: String,
    /// JSON array of the NIC's port forwards.
    pub forwards: String,
    /// The managed network of a `network` NIC.
    pub network_id: Option<i64>,
    /// Its static lease on that network.
    pub ip_address: Option<String>,
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
