use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "vm")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(unique)]
    pub name: String,
    pub created_at: ChronoDateTimeUtc,
    pub updated_at: ChronoDateTimeUtc,
    pub status: String,
    pub cpu_count: i32,
    pub ram_mb: i64,
    pub description: Option<String>,
    pub pid: Option<i32>,
    pub restart_policy: String,
    pub max_restarts: i32,
    pub restart_window_secs: i32,
    pub stop_timeout_secs: Option<i32>,
    pub autostart: bool,
    pub display: String,
    pub cpu_model: Option<String>,
    pub kernel: Option<String>,
    pub initrd: Option<String>,
    pub cmdline: Option<String>,
    pub last_error: Option<String>,
    pub guest_agent: bool,
    pub hotplug_slots: i32,
    /// The node that owns the VM (issue 19); NULL only for rows written
    /// before nodes existed, until a daemon claims them.
    pub node: Option<String>,
    /// Started on a surviving node when its node is lost (issue 19).
    pub ha: bool,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_many = "super::drive::Entity")]
    Drive,
    #[sea_orm(has_many = "super::network_interface::Entity")]
    NetworkInterface,
    #[sea_orm(has_many = "super::shared_dir::Entity")]
    SharedDir,
    #[sea_orm(has_many = "super::vm_event::Entity")]
    VmEvent,
}

impl ActiveModelBehavior for ActiveModel {}

impl Related<super::drive::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Drive.def()
    }
}

impl Related<super::network_interface::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::NetworkInterface.def()
    }
}

impl Related<super::shared_dir::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::SharedDir.def()
    }
}

impl Related<super::vm_event::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::VmEvent.def()
    }
}
