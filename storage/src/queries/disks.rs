//! The `disk` table. The daemon's DiskService is the only writer: it owns
//! disk rows and their files.

use crate::entity::disk;
use crate::error::{StorageError, query};
use crate::{DbKind, Store};
use chrono::Utc;
use corvus_protocol::{DiskFormat, DiskRef};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, Condition, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect,
};

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
    /// This node's disks, in id order: on SQLite every disk; on PostgreSQL
    /// those whose files are on this node's host (issue 19).
    pub async fn load_disks(&self) -> Result<Vec<disk::Model>, StorageError> {
        let mine = self.node.get().filter(|_| self.kind == DbKind::Postgres);
        let mut select = disk::Entity::find().order_by_asc(disk::Column::Id);
        if let Some(node) = mine {
            select = select.filter(disk::Column::Node.eq(&**node));
        }
        select.all(&self.db).await.map_err(query)
    }

    /// The other nodes' disks (PostgreSQL), in id order, as their rows say.
    pub async fn other_nodes_disks(&self, me: &str) -> Result<Vec<disk::Model>, StorageError> {
        if self.kind != DbKind::Postgres {
            return Ok(Vec::new());
        }
        disk::Entity::find()
            .filter(disk::Column::Node.ne(me))
            .order_by_asc(disk::Column::Id)
            .all(&self.db)
            .await
            .map_err(query)
    }

    /// The node `disk` belongs to, if there is such a disk.
    pub async fn locate_disk(
        &self,
        disk: &DiskRef,
    ) -> Result<Option<Option<String>>, StorageError> {
        let select = disk::Entity::find()
            .select_only()
            .column(disk::Column::Node);
        let select = match disk {
            DiskRef::Id(id) => select.filter(disk::Column::Id.eq(*id)),
            DiskRef::Name(name) => select.filter(disk::Column::Name.eq(name.as_str())),
        };
        select
            .into_tuple::<Option<String>>()
            .one(&self.db)
            .await
            .map_err(query)
    }

    /// Gives `node` the disks it is to own at start; returns how many
    /// changed hands. On PostgreSQL those no node owns (from before nodes
    /// existed and used by no VM); on SQLite every disk.
    pub async fn claim_disks(&self, node: &str) -> Result<u64, StorageError> {
        let unowned = match self.kind {
            DbKind::Postgres => Condition::all().add(disk::Column::Node.is_null()),
            DbKind::Sqlite => Condition::any()
                .add(disk::Column::Node.is_null())
                .add(disk::Column::Node.ne(node)),
        };
        disk::Entity::update_many()
            .col_expr(disk::Column::Node, Expr::value(node))
            .filter(unowned)
            .exec(&self.db)
            .await
            .map(|done| done.rows_affected)
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
            node: Set(self.node.get().map(|node| node.to_string())),
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
