//! Cloud guests (issue 15): the `cloud_init` table (one NoCloud
//! configuration per VM, gone with it), `vm.guest_agent` (the QEMU guest
//! agent's port) and `network_interface.forwards` (a user NIC's host port
//! forwards, a JSON array of `{protocol, host_address, host_port,
//! guest_port}`).

use crate::{Vm, vm_foreign_key};
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum CloudInit {
    Table,
    VmId,
    UserName,
    SshKeys,
    Hostname,
    UserData,
    NetworkConfig,
    InstanceId,
}

#[derive(DeriveIden)]
enum NetworkInterface {
    Table,
    Forwards,
}

#[derive(DeriveIden)]
enum VmAgent {
    GuestAgent,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(CloudInit::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(CloudInit::VmId)
                            .big_integer()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(CloudInit::UserName).text().not_null())
                    // A JSON array of OpenSSH public key lines.
                    .col(ColumnDef::new(CloudInit::SshKeys).text().not_null())
                    .col(ColumnDef::new(CloudInit::Hostname).text().not_null())
                    .col(ColumnDef::new(CloudInit::UserData).text().null())
                    .col(ColumnDef::new(CloudInit::NetworkConfig).text().null())
                    .col(ColumnDef::new(CloudInit::InstanceId).text().not_null())
                    .foreign_key(&mut vm_foreign_key(CloudInit::Table, "fk_cloud_init_vm"))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Vm::Table)
                    .add_column(
                        ColumnDef::new(VmAgent::GuestAgent)
                            .boolean()
                            .not_null()
                            .default(false),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(NetworkInterface::Table)
                    .add_column(
                        ColumnDef::new(NetworkInterface::Forwards)
                            .text()
                            .not_null()
                            .default("[]"),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(NetworkInterface::Table)
                    .drop_column(NetworkInterface::Forwards)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Vm::Table)
                    .drop_column(VmAgent::GuestAgent)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table(CloudInit::Table).to_owned())
            .await
    }
}
