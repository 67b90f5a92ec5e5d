//! Revoked client certificates: written by `corvus tls revoke`, read by the
//! daemon at start, on a reload and at each TLS handshake.

use crate::Store;
use crate::entity::tls_revocation;
use crate::error::{StorageError, query};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue, EntityTrait, QuerySelect};

impl Store {
    /// Records certificates as revoked; one already revoked stays as it was.
    /// Returns how many were new.
    pub async fn revoke_certificates(
        &self,
        name: &str,
        serials: &[String],
    ) -> Result<u64, StorageError> {
        let mut added = 0;
        let now = chrono::Utc::now();
        for serial in serials {
            let row = tls_revocation::ActiveModel {
                serial: ActiveValue::Set(serial.clone()),
                name: ActiveValue::Set(name.to_owned()),
                revoked_at: ActiveValue::Set(now),
            };
            let inserted = tls_revocation::Entity::insert(row)
                .on_conflict(
                    OnConflict::column(tls_revocation::Column::Serial)
                        .do_nothing()
                        .to_owned(),
                )
                .exec_without_returning(&self.db)
                .await
                .map_err(query)?;
            added += inserted;
        }
        Ok(added)
    }

    /// The serial numbers of every revoked certificate.
    pub async fn revoked_serials(&self) -> Result<Vec<String>, StorageError> {
        tls_revocation::Entity::find()
            .select_only()
            .column(tls_revocation::Column::Serial)
            .into_tuple()
            .all(&self.db)
            .await
            .map_err(query)
    }

    /// Whether the certificate with this serial was revoked.
    pub async fn is_revoked(&self, serial: &str) -> Result<bool, StorageError> {
        tls_revocation::Entity::find_by_id(serial.to_owned())
            .one(&self.db)
            .await
            .map(|row| row.is_some())
            .map_err(query)
    }
}
