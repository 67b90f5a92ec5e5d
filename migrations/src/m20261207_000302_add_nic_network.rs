//! `network_interface.network_id` and `ip_address`: a NIC on a managed
//! network, with its static lease. A network cannot be deleted while a
//! NIC is on it, and one address is leased statically to one NIC only.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DatabaseBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite cannot add a foreign key to an existing table, but both
        // databases accept one inline in ADD COLUMN.
        let network_id = match manager.get_database_backend() {
            DatabaseBackend::Sqlite => {
                "ALTER TABLE network_interface ADD COLUMN network_id INTEGER NULL REFERENCES network(id) ON DELETE RESTRICT"
            }
            _ => {
                "ALTER TABLE network_interface ADD COLUMN network_id BIGINT NULL REFERENCES network(id) ON DELETE RESTRICT"
            }
        };
        let db = manager.get_connection();
        db.execute_unprepared(network_id).await?;
        db.execute_unprepared("ALTER TABLE network_interface ADD COLUMN ip_address TEXT NULL")
            .await?;
        // NULLs are distinct in both databases: only static leases count.
        db.execute_unprepared(
            "CREATE UNIQUE INDEX IF NOT EXISTS idx_network_interface_static_lease ON network_interface (network_id, ip_address)",
        )
        .await
        .map(drop)
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        db.execute_unprepared("DROP INDEX IF EXISTS idx_network_interface_static_lease")
            .await?;
        db.execute_unprepared("ALTER TABLE network_interface DROP COLUMN ip_address")
            .await?;
        db.execute_unprepared("ALTER TABLE network_interface DROP COLUMN network_id")
            .await
            .map(drop)
    }
}
