//! Every write runs in a transaction that ends, and a pooled connection
//! goes back to the pool only outside a transaction.
//!
//! Why both: a SQLite connection could be left inside a transaction for
//! good after one `SQLITE_FULL`, after which every later write was
//! "committed" into a transaction that never ended (and held the file's
//! write lock) and vanished at the next start. SQLite itself rolls the
//! whole transaction back when a COMMIT fails for lack of space, but sqlx
//! keeps counting it as open (it lowers its depth only when COMMIT or
//! ROLLBACK succeeds, launchbadge/sqlx#3742): the ROLLBACK queued when the
//! failed transaction is dropped then fails ("no transaction is active"),
//! the depth stays at 1, and the next `begin` issues `SAVEPOINT` instead of
//! `BEGIN`. When that one fails too, its `ROLLBACK TO SAVEPOINT` undoes the
//! changes but leaves the transaction open. The release check below throws
//! such a connection away instead; closing it rolls back whatever it holds.
//!
//! Separately, a single-statement `INSERT … RETURNING` outside a
//! transaction commits when sqlx resets the statement, and sqlx ignores the
//! error of that reset: the row came back, so the write looked done. Inside
//! an explicit transaction the COMMIT reports the failure instead.

use crate::Store;
use crate::error::{StorageError, query};
use sea_orm::sqlx::pool::PoolConnectionMetadata;
use sea_orm::sqlx::{Connection, Error as SqlxError};
use sea_orm::{DatabaseTransaction, TransactionTrait};
use std::future::Future;
use std::pin::Pin;
use tracing::{debug, warn};

type Check<'c> = Pin<Box<dyn Future<Output = Result<bool, SqlxError>> + Send + 'c>>;

impl Store {
    /// Opens a transaction for a write; end it with [`finish`].
    pub(crate) async fn begin_write(&self) -> Result<DatabaseTransaction, StorageError> {
        self.db.begin().await.map_err(query)
    }
}

/// Ends a write: commits what succeeded, rolls back what failed. The
/// caller is told of success only once COMMIT has returned. A COMMIT that
/// fails consumes the transaction; its drop queues a ROLLBACK that runs
/// before the connection is used again, and the release check makes sure
/// the connection is back in autocommit.
pub(crate) async fn finish<T>(
    tx: DatabaseTransaction,
    result: Result<T, StorageError>,
) -> Result<T, StorageError> {
    match result {
        Ok(value) => {
            tx.commit().await.map_err(query)?;
            Ok(value)
        }
        Err(err) => {
            if let Err(rollback) = tx.rollback().await {
                // Expected when the database already rolled back by itself.
                debug!(error = %rollback, "ROLLBACK after a failed write failed");
            }
            Err(err)
        }
    }
}

/// `after_release` for SQLite: keep the connection only when neither sqlx
/// nor SQLite thinks a transaction is open.
pub(crate) fn sqlite_release_check(
    conn: &mut sea_orm::sqlx::SqliteConnection,
    _: PoolConnectionMetadata,
) -> Check<'_> {
    Box::pin(async move {
        if conn.is_in_transaction() {
            // Expected after every failed COMMIT (see above), hence not a warning.
            debug!("discarding a SQLite connection that sqlx still counts inside a transaction");
            return Ok(false);
        }
        let mut handle = conn.lock_handle().await?;
        // SAFETY: the handle is locked for this call, so the worker thread
        // is not using it, and sqlite3_get_autocommit only reads a flag of
        // this open connection.
        let autocommit =
            unsafe { libsqlite3_sys::sqlite3_get_autocommit(handle.as_raw_handle().as_ptr()) } != 0;
        if !autocommit {
            warn!("discarding a SQLite connection left inside a transaction");
        }
        Ok(autocommit)
    })
}

/// `after_release` for PostgreSQL, whose server ends a transaction whose
/// COMMIT failed: only sqlx's own count can be wrong.
pub(crate) fn postgres_release_check(
    conn: &mut sea_orm::sqlx::PgConnection,
    _: PoolConnectionMetadata,
) -> Check<'_> {
    Box::pin(async move {
        let outside = !conn.is_in_transaction();
        if !outside {
            warn!("discarding a PostgreSQL connection that sqlx still counts inside a transaction");
        }
        Ok(outside)
    })
}
