//! `deleted_vm_event`: the events of deleted VMs (moved out of `vm_event`
//! as the VM goes), their deletion last, so that replays still deliver them.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "deleted_vm_event")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub vm_id: i64,
    /// The name the VM had.
    pub vm_name: String,
    #[sea_orm(unique)]
    pub seq: i64,
    pub at: ChronoDateTimeUtc,
    pub from_status: String,
    pub to_status: String,
    pub reason: String,
    /// JSON of `corvus_protocol::EventCause`.
    pub cause: String,
    /// `corvus_protocol::EventKind`.
    pub kind: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
