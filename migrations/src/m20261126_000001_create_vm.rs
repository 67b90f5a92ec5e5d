use crate::Vm;
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Vm::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(Vm::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(Vm::Name)
                            .string_len(64)
                            .not_null()
                            .unique_key(),
                    )
                    .col(
                        ColumnDef::new(Vm::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Vm::UpdatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Vm::Status)
                            .string_len(16)
                            .not_null()
                            .default("stopped"),
                    )
                    .col(ColumnDef::new(Vm::CpuCount).integer().not_null())
                    .col(ColumnDef::new(Vm::RamMb).big_integer().not_null())
                    .col(ColumnDef::new(Vm::Description).text().null())
                    .col(ColumnDef::new(Vm::Pid).integer().null())
                    .col(
                        ColumnDef::new(Vm::RestartPolicy)
                            .string_len(16)
                            .not_null()
                            .default("never"),
                    )
                    .col(
                        ColumnDef::new(Vm::MaxRestarts)
                            .integer()
                            .not_null()
                            .default(5),
                    )
                    .col(
                        ColumnDef::new(Vm::RestartWindowSecs)
                            .integer()
                            .not_null()
                            .default(60),
                    )
                    .col(ColumnDef::new(Vm::StopTimeoutSecs).integer().null())
                    .col(
                        ColumnDef::new(Vm::Autostart)
                            .boolean()
                            .not_null()
                            .default(false),
                    )
                    .col(
                        ColumnDef::new(Vm::Display)
                            .string_len(16)
                            .not_null()
                            .default("spice"),
                    )
                    .col(ColumnDef::new(Vm::CpuModel).string_len(128).null())
                    .col(ColumnDef::new(Vm::Kernel).text().null())
                    .col(ColumnDef::new(Vm::Initrd).text().null())
                    .col(ColumnDef::new(Vm::Cmdline).text().null())
                    .col(ColumnDef::new(Vm::LastError).text().null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Vm::Table).to_owned())
            .await
    }
}
