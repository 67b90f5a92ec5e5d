//! `vm_event.kind`: besides state changes, the event history records a
//! VM's definition being created or edited (issue 21). Rows stored before
//! are state changes, hence the default.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum VmEvent {
    Table,
    Kind,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(VmEvent::Table)
                    // `state`, `defined` or `edited` (`corvus_protocol::EventKind`).
                    .add_column(
                        ColumnDef::new(VmEvent::Kind)
                            .string_len(16)
                            .not_null()
                            .default("state"),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(VmEvent::Table)
                    .drop_column(VmEvent::Kind)
                    .to_owned(),
            )
            .await
    }
}
