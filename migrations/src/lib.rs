//! The Corvus schema (DESIGN §7, `tls_revocation` for issue 18, `cloud_init` for issue 15, `network` and `network_event` for issue 17, event kinds and `deleted_vm_event` for issue 21, `vm_snapshot` for issue 16, `node` and `vm.node` for issue 19), one migration per table, applied in order
//! at daemon start. Enums are lower-case text so that both SQLite and
//! PostgreSQL store them the same way.

pub use sea_orm_migration::prelude::*;

mod m20261126_000001_create_vm;
mod m20261126_000002_create_drive;
mod m20261126_000003_create_network_interface;
mod m20261126_000004_create_shared_dir;
mod m20261126_000005_create_vm_event;
mod m20261207_000006_create_daemon_lock;
mod m20261207_000007_create_disk;
mod m20261207_000008_add_drive_disk_id;
mod m20261207_000100_create_tls_revocation;
mod m20261207_000200_add_cloud_init;
mod m20261207_000300_create_network;
mod m20261207_000302_add_nic_network;
mod m20261207_000400_create_web_session;
mod m20261207_000600_add_vm_hotplug_slots;
mod m20261207_000610_add_vm_event_kind;
mod m20261207_000611_create_deleted_vm_event;
mod m20261207_000700_create_network_event;
mod m20261207_000800_create_vm_snapshot;
mod m20261208_000100_create_node;
mod m20261208_000101_add_vm_node;
mod m20261209_000100_add_vm_ha;
mod m20261209_000200_add_node_cordoned;
mod m20261209_000300_create_event_sequence;
mod m20261210_000100_add_disk_node;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261126_000001_create_vm::Migration),
            Box::new(m20261126_000002_create_drive::Migration),
            Box::new(m20261126_000003_create_network_interface::Migration),
            Box::new(m20261126_000004_create_shared_dir::Migration),
            Box::new(m20261126_000005_create_vm_event::Migration),
            Box::new(m20261207_000006_create_daemon_lock::Migration),
            Box::new(m20261207_000007_create_disk::Migration),
            Box::new(m20261207_000008_add_drive_disk_id::Migration),
            Box::new(m20261207_000100_create_tls_revocation::Migration),
            Box::new(m20261207_000200_add_cloud_init::Migration),
            Box::new(m20261207_000300_create_network::Migration),
            Box::new(m20261207_000302_add_nic_network::Migration),
            Box::new(m20261207_000400_create_web_session::Migration),
            Box::new(m20261207_000600_add_vm_hotplug_slots::Migration),
            Box::new(m20261207_000610_add_vm_event_kind::Migration),
            Box::new(m20261207_000611_create_deleted_vm_event::Migration),
            Box::new(m20261207_000700_create_network_event::Migration),
            Box::new(m20261207_000800_create_vm_snapshot::Migration),
            Box::new(m20261208_000100_create_node::Migration),
            Box::new(m20261208_000101_add_vm_node::Migration),
            Box::new(m20261209_000100_add_vm_ha::Migration),
            Box::new(m20261209_000200_add_node_cordoned::Migration),
            Box::new(m20261209_000300_create_event_sequence::Migration),
            Box::new(m20261210_000100_add_disk_node::Migration),
        ]
    }
}

/// The `vm` table's identifiers, shared by the child tables' foreign keys.
#[derive(DeriveIden)]
pub(crate) enum Vm {
    Table,
    Id,
    Name,
    CreatedAt,
    UpdatedAt,
    Status,
    CpuCount,
    RamMb,
    Description,
    Pid,
    RestartPolicy,
    MaxRestarts,
    RestartWindowSecs,
    StopTimeoutSecs,
    Autostart,
    Display,
    CpuModel,
    Kernel,
    Initrd,
    Cmdline,
    LastError,
}

/// A `vm_id` column that points at `vm` and goes away with it.
pub(crate) fn vm_foreign_key(
    table: impl IntoIden + 'static,
    name: &str,
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(name)
        .from(table, Alias::new("vm_id"))
        .to(Vm::Table, Vm::Id)
        .on_delete(ForeignKeyAction::Cascade)
        .on_update(ForeignKeyAction::Cascade)
        .to_owned()
}
