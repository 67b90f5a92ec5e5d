//! Ids handed out before their row exists. A device added to a running VM
//! is named in QEMU after its id (`drive7`, `nic3`), but its row is written
//! only once QEMU has taken it; the id is therefore taken from the table's
//! own counter first — the same counter an insert would use, so no later
//! insert can reuse it — and an attach QEMU refuses leaves only a gap.

use crate::error::{StorageError, query};
use crate::transaction::finish;
use crate::{DbKind, Store};
use sea_orm::{ConnectionTrait, Statement};

/// The device tables whose ids can be reserved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceTable {
    Drive,
    NetworkInterface,
}

impl DeviceTable {
    fn name(self) -> &'static str {
        match self {
            DeviceTable::Drive => "drive",
            DeviceTable::NetworkInterface => "network_interface",
        }
    }
}

impl Store {
    /// The next id of `table`, consumed: no insert will be given it.
    pub async fn reserve_id(&self, table: DeviceTable) -> Result<i64, StorageError> {
        let name = table.name();
        let backend = self.connection().get_database_backend();
        let tx = self.begin_write().await?;
        let reserved = async {
            match self.kind() {
                // AUTOINCREMENT tables take max(seq, max(rowid)) + 1, and
                // sqlite_sequence may be written like any table.
                DbKind::Sqlite => {
                    tx.execute_unprepared(&format!(
                        "INSERT INTO sqlite_sequence (name, seq) SELECT '{name}', 0 \
                         WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = '{name}')"
                    ))
                    .await?;
                    tx.execute_unprepared(&format!(
                        "UPDATE sqlite_sequence SET seq = MAX(seq, \
                         (SELECT COALESCE(MAX(id), 0) FROM {name})) + 1 WHERE name = '{name}'"
                    ))
                    .await?;
                    tx.query_one_raw(Statement::from_string(
                        backend,
                        format!("SELECT seq FROM sqlite_sequence WHERE name = '{name}'"),
                    ))
                    .await
                }
                DbKind::Postgres => {
                    tx.query_one_raw(Statement::from_string(
                        backend,
                        format!("SELECT nextval(pg_get_serial_sequence('{name}', 'id')) AS seq"),
                    ))
                    .await
                }
            }
        }
        .await
        .map_err(query)
        .and_then(|row| {
            row.and_then(|row| row.try_get::<i64>("", "seq").ok())
                .ok_or_else(|| StorageError::Corrupt {
                    column: "sqlite_sequence.seq",
                    value: format!("no counter for table {name}"),
                })
        });
        finish(tx, reserved).await
    }
}
