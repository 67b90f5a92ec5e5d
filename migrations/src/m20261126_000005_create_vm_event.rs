use crate::vm_foreign_key;
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum VmEvent {
    Table,
    Id,
    VmId,
    Seq,
    At,
    FromStatus,
    ToStatus,
    Reason,
    Cause,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(VmEvent::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(VmEvent::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(VmEvent::VmId).big_integer().not_null())
                    // The daemon's event sequence number; `crv events --since` resumes from it.
                    .col(
                        ColumnDef::new(VmEvent::Seq)
                            .big_integer()
                            .not_null()
                            .unique_key(),
                    )
                    .col(
                        ColumnDef::new(VmEvent::At)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(VmEvent::FromStatus)
                            .string_len(16)
                            .not_null(),
                    )
                    .col(ColumnDef::new(VmEvent::ToStatus).string_len(16).not_null())
                    .col(ColumnDef::new(VmEvent::Reason).text().not_null())
                    // JSON of the cause (who or what changed the state).
                    .col(ColumnDef::new(VmEvent::Cause).text().not_null())
                    .foreign_key(&mut vm_foreign_key(VmEvent::Table, "fk_vm_event_vm"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_vm_event_vm_id_seq")
                    .table(VmEvent::Table)
                    .col(VmEvent::VmId)
                    .col(VmEvent::Seq)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(VmEvent::Table).to_owned())
            .await
    }
}
