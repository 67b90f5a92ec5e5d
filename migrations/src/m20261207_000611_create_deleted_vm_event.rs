//! `deleted_vm_event`: the events of deleted VMs, their deletion last
//! (issue 21). A VM's `vm_event` rows cascade with its `vm` row, so the
//! deletion moves them here, with the name the VM had: `crv events
//! --since` then replays the same events after a restart as before it,
//! and a deletion that is the last event still counts when the daemon
//! picks up numbering. Same columns as `vm_event`, plus `vm_name`, and no
//! foreign key: the VM is gone.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum DeletedVmEvent {
    Table,
    Id,
    VmId,
    VmName,
    Seq,
    At,
    FromStatus,
    ToStatus,
    Reason,
    Cause,
    Kind,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let status = |column| ColumnDef::new(column).string_len(16).not_null().to_owned();
        manager
            .create_table(
                Table::create()
                    .table(DeletedVmEvent::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(DeletedVmEvent::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(DeletedVmEvent::VmId)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(DeletedVmEvent::VmName)
                            .string_len(64)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(DeletedVmEvent::Seq)
                            .big_integer()
                            .not_null()
                            .unique_key(),
                    )
                    .col(
                        ColumnDef::new(DeletedVmEvent::At)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(status(DeletedVmEvent::FromStatus))
                    .col(status(DeletedVmEvent::ToStatus))
                    .col(ColumnDef::new(DeletedVmEvent::Reason).text().not_null())
                    .col(ColumnDef::new(DeletedVmEvent::Cause).text().not_null())
                    .col(status(DeletedVmEvent::Kind))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(DeletedVmEvent::Table).to_owned())
            .await
    }
}
