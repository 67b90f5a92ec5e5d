//! The web console's login tokens and sessions: written and read by the
//! daemon's web front (`actors/src/web/sessions.rs`) only. Rows are looked
//! up by the hash of their secret, and only unexpired ones count.

use crate::Store;
use crate::entity::web_session;
use crate::error::{StorageError, query};
use chrono::{DateTime, Utc};
use sea_orm::{ActiveValue, ColumnTrait, EntityTrait, QueryFilter};

/// A row to write: a login token (`csrf` empty) or a session.
#[derive(Debug, Clone)]
pub struct NewWebSession {
    pub id: String,
    pub kind: &'static str,
    pub client: String,
    pub role: String,
    pub certificate: Option<String>,
    pub csrf: String,
    pub expires_at: DateTime<Utc>,
}

impl Store {
    pub async fn insert_web_session(&self, new: NewWebSession) -> Result<(), StorageError> {
        let row = web_session::ActiveModel {
            id: ActiveValue::Set(new.id),
            kind: ActiveValue::Set(new.kind.to_owned()),
            client: ActiveValue::Set(new.client),
            role: ActiveValue::Set(new.role),
            certificate: ActiveValue::Set(new.certificate),
            csrf: ActiveValue::Set(new.csrf),
            created_at: ActiveValue::Set(Utc::now()),
            expires_at: ActiveValue::Set(new.expires_at),
        };
        web_session::Entity::insert(row)
            .exec_without_returning(&self.db)
            .await
            .map(|_| ())
            .map_err(query)
    }

    /// The unexpired row of this kind with this id.
    pub async fn web_session(
        &self,
        id: &str,
        kind: &str,
    ) -> Result<Option<web_session::Model>, StorageError> {
        web_session::Entity::find_by_id(id.to_owned())
            .filter(web_session::Column::Kind.eq(kind))
            .filter(web_session::Column::ExpiresAt.gt(Utc::now()))
            .one(&self.db)
            .await
            .map_err(query)
    }

    /// Deletes the unexpired row of this kind; whether there was one. Used
    /// to spend a one-time login token: of two browsers presenting it at
    /// once, only one deletes it.
    pub async fn take_web_session(&self, id: &str, kind: &str) -> Result<bool, StorageError> {
        let deleted = web_session::Entity::delete_many()
            .filter(web_session::Column::Id.eq(id))
            .filter(web_session::Column::Kind.eq(kind))
            .filter(web_session::Column::ExpiresAt.gt(Utc::now()))
            .exec(&self.db)
            .await
            .map_err(query)?;
        Ok(deleted.rows_affected == 1)
    }

    pub async fn delete_web_session(&self, id: &str) -> Result<(), StorageError> {
        web_session::Entity::delete_by_id(id.to_owned())
            .exec(&self.db)
            .await
            .map(|_| ())
            .map_err(query)
    }

    /// Forgets every expired row; returns how many.
    pub async fn prune_web_sessions(&self) -> Result<u64, StorageError> {
        web_session::Entity::delete_many()
            .filter(web_session::Column::ExpiresAt.lte(Utc::now()))
            .exec(&self.db)
            .await
            .map(|deleted| deleted.rows_affected)
            .map_err(query)
    }
}
