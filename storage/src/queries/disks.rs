//! The `disk` table. The daemon's DiskService is the only writer: it owns
//! disk rows and their files.

use crate::Store;
use crate::entity::disk;
use crate::error::{StorageError, query};
use chrono::Utc;
use corvus_protocol::DiskFormat;
use sea_orm::{ActiveModelTrait, ActiveValue::Set, EntityTrait, QueryOrder};

/// A disk about to be recorded; its file already exists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDisk {
    pub name: String,
    pub path: String,
    pub format: DiskFormat,
    pub virtual_size: u64,
    pub backing_disk_id: Option<i64>,
    pub managed: bool,
}

impl Store {
    /// Every disk, in id order.
    pub async fn load_disks(&self) -> Result<Vec<disk::Model>, StorageError> {
        disk::Entity::find()
            .order_by_asc(disk::Column::Id)
            .all(&self.db)
            .await
            .map_err(query)
    }

    /// A duplicate name or path comes back as a unique violation (see
    /// `StorageError::duplicate`).
    pub async fn insert_disk(&self, new: &NewDisk) -> Result<disk::Model, StorageError> {
        disk::ActiveModel {
            name: Set(new.name.clone()),
            path: Set(new.path.clone()),
            format: Set(new.format.as_str().to_owned()),
            virtual_size: Set(signed(new.virtual_size)),
            backing_disk_id: Set(new.backing_disk_id),
            managed: Set(new.managed),
            created_at: Set(Utc::now()),
            ..Default::default()
        }
        .insert(&self.db)
        .await
        .map_err(query)
    }

    pub async fn set_disk_size(&self, id: i64, virtual_size: u64) -> Result<(), StorageError> {
        disk::ActiveModel {
            id: Set(id),
            virtual_size: Set(signed(virtual_size)),
            ..Default::default()
        }
        .update(&self.db)
        .await
        .map(drop)
        .map_err(query)
    }

    /// The files disk `id` reads beneath its own: its backing chain, top
    /// down (the HA check needs every file a VM opens, issue 19). Read-only;
    /// a chain longer than any real one, or one that loops, ends there.
    pub async fn backing_paths(&self, id: i64) -> Result<Vec<String>, StorageError> {
        const LONGEST_CHAIN: usize = 256;
        let mut paths = Vec::new();
        let mut next = disk::Entity::find_by_id(id)
            .one(&self.db)
            .await
            .map_err(query)?
            .and_then(|disk| disk.backing_disk_id);
        while let Some(backing) = next {
            if paths.len() >= LONGEST_CHAIN {
                break;
            }
            let Some(disk) = disk::Entity::find_by_id(backing)
                .one(&self.db)
                .await
                .map_err(query)?
            else {
                break;
            };
            paths.push(disk.path);
            next = disk.backing_disk_id;
        }
        Ok(paths)
    }

    /// False when there was no such disk. A disk that a drive or another
    /// disk still refers to is refused (see `StorageError::referenced`).
    pub async fn delete_disk(&self, id: i64) -> Result<bool, StorageError> {
        let result = disk::Entity::delete_by_id(id)
            .exec(&self.db)
            .await
            .map_err(query)?;
        Ok(result.rows_affected > 0)
    }
}

/// Sizes are stored as BIGINT; no disk reaches 2^63 bytes.
fn signed(size: u64) -> i64 {
    i64::try_from(size).unwrap_or(i64::MAX)
}
