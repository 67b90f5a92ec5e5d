//! `drive.disk_id`: a drive uses a Corvus disk, or (NULL) a plain file as
//! before. A disk cannot be deleted while a drive refers to it.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DatabaseBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite cannot add a foreign key to an existing table, but both
        // databases accept one inline in ADD COLUMN.
        let sql = match manager.get_database_backend() {
            DatabaseBackend::Sqlite => {
                "ALTER TABLE drive ADD COLUMN disk_id INTEGER NULL REFERENCES disk(id) ON DELETE RESTRICT"
            }
            _ => {
                "ALTER TABLE drive ADD COLUMN disk_id BIGINT NULL REFERENCES disk(id) ON DELETE RESTRICT"
            }
        };
        manager.get_connection().execute_unprepared(sql).await?;
        manager
            .get_connection()
            .execute_unprepared("CREATE INDEX IF NOT EXISTS idx_drive_disk_id ON drive (disk_id)")
            .await
            .map(drop)
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        db.execute_unprepared("DROP INDEX IF EXISTS idx_drive_disk_id")
            .await?;
        db.execute_unprepared("ALTER TABLE drive DROP COLUMN disk_id")
            .await
            .map(drop)
    }
}
