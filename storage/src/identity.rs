//! Which database a `Store` is, independent of how its URL was spelled:
//! the daemon names its journal and its lock after it.

use crate::{DbKind, Store};
use sea_orm::sqlx::postgres::PgConnectOptions;
use std::path::Path;
use std::str::FromStr;

/// A database as a place: a SQLite file or a PostgreSQL database on a server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatabaseIdentity {
    pub kind: DbKind,
    /// The file's or the database's own name, for file names people read.
    pub name: String,
    /// `sqlite:/abs/path.db` or `postgresql://host:port/db`, no user or password.
    pub location: String,
}

impl DatabaseIdentity {
    /// A stable 64-bit digest of the location (the same in every release).
    pub fn digest(&self) -> u64 {
        fnv1a64(self.location.as_bytes())
    }
}

impl Store {
    pub fn identity(&self) -> DatabaseIdentity {
        self.identity.clone()
    }
}

pub(crate) fn identify(kind: DbKind, url: &str) -> DatabaseIdentity {
    match kind {
        DbKind::Sqlite => {
            let path = crate::sqlite_path(url).unwrap_or_else(|| ":memory:".into());
            // The file may not exist yet; its directory does (connect creates it).
            let absolute = match (path.parent(), path.file_name()) {
                (Some(dir), Some(file)) => std::fs::canonicalize(if dir.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    dir
                })
                .map(|dir| dir.join(file))
                .unwrap_or_else(|_| path.clone()),
                _ => path.clone(),
            };
            DatabaseIdentity {
                kind,
                name: absolute
                    .file_name()
                    .map(|f| f.to_string_lossy().into_owned())
                    .unwrap_or_else(|| "memory".into()),
                location: format!("sqlite:{}", absolute.display()),
            }
        }
        DbKind::Postgres => {
            let (host, port, database) = match PgConnectOptions::from_str(url) {
                Ok(options) => (
                    options.get_host().to_owned(),
                    options.get_port(),
                    options.get_database().unwrap_or_default().to_owned(),
                ),
                Err(_) => (url.to_owned(), 0, String::new()),
            };
            DatabaseIdentity {
                kind,
                name: database.clone(),
                location: format!("postgresql://{host}:{port}/{database}"),
            }
        }
    }
}

/// FNV-1a, 64 bits: tiny, and unlike std's hasher promised never to change.
pub(crate) fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv_matches_its_reference_values() {
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn spellings_of_one_database_are_one_identity() {
        let a = identify(
            DbKind::Postgres,
            "postgresql://me:pw@db.example:5432/corvus",
        );
        let b = identify(DbKind::Postgres, "postgres://other@db.example/corvus");
        assert_eq!(a, b);
        assert_eq!(a.location, "postgresql://db.example:5432/corvus");
        assert_eq!(a.name, "corvus");
        let dir = tempfile::tempdir().unwrap();
        let plain = identify(
            DbKind::Sqlite,
            &format!("sqlite://{}/x.db", dir.path().display()),
        );
        let dotted = identify(
            DbKind::Sqlite,
            &format!("sqlite://{}/./x.db?mode=rwc", dir.path().display()),
        );
        assert_eq!(plain, dotted);
        assert_eq!(plain.name, "x.db");
    }
}
