//! The QMP commands of a migration to and from a file (`crv vm save`, and
//! the restore that `crv vm start` does on a saved VM). QEMU 7.2 has no
//! `file:` URI, so the file is written and read by a shell command
//! (`exec:`), and its path is quoted for that shell.

use super::commands::QmpCommands;
use super::error::QmpError;
use serde::Deserialize;
use serde_json::json;
use std::path::Path;

/// The `-incoming` value that makes QEMU wait for `migrate-incoming`.
pub const INCOMING_DEFERRED: &str = "defer";

/// `query-migrate`: where a migration is. Only the fields Corvus reads.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct MigrationStatus {
    /// `none`, `setup`, `active`, `device`, `completed`, `failed`,
    /// `cancelling`, `cancelled`, ... (absent before any migration).
    #[serde(default)]
    pub status: Option<String>,
    #[serde(rename = "error-desc", default)]
    pub error_desc: Option<String>,
}

/// How a migration ended, or that it has not yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MigrationPhase {
    Underway,
    Completed,
    /// Failed or cancelled, with QEMU's reason when it gave one.
    Failed(String),
}

impl MigrationStatus {
    pub fn phase(&self) -> MigrationPhase {
        match self.status.as_deref() {
            Some("completed") => MigrationPhase::Completed,
            Some(word @ ("failed" | "cancelled")) => MigrationPhase::Failed(
                self.error_desc
                    .clone()
                    .unwrap_or_else(|| format!("the migration {word}")),
            ),
            _ => MigrationPhase::Underway,
        }
    }
}

/// A path as one word of a POSIX shell command: single-quoted, with each
/// `'` written as `'\''`. Spaces, commas and `$` stay literal.
pub fn shell_quote(path: &Path) -> String {
    let text = path.to_string_lossy();
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// The `exec:` URI that writes the migration stream to `partial` and
/// renames it to `complete` only once `cat` wrote all of it, so that a
/// file at `complete` is never a truncated stream; when `cat` fails (a
/// full disk) the partial file is removed.
pub fn save_uri(partial: &Path, complete: &Path) -> String {
    let (partial, complete) = (shell_quote(partial), shell_quote(complete));
    format!("exec:cat > {partial} && mv -f {partial} {complete} || rm -f {partial}")
}

/// The `exec:` URI that reads a saved migration stream back.
pub fn restore_uri(file: &Path) -> String {
    format!("exec:cat {}", shell_quote(file))
}

impl QmpCommands {
    /// Starts an outgoing migration to `uri`; it runs in QEMU's migration
    /// thread and is followed with [`QmpCommands::query_migrate`].
    pub async fn migrate(&self, uri: &str) -> Result<(), QmpError> {
        self.execute_value("migrate", json!({ "uri": uri }))
            .await
            .map(drop)
    }

    /// Starts reading an incoming migration (QEMU runs with `-incoming defer`).
    pub async fn migrate_incoming(&self, uri: &str) -> Result<(), QmpError> {
        self.execute_value("migrate-incoming", json!({ "uri": uri }))
            .await
            .map(drop)
    }

    pub async fn migrate_cancel(&self) -> Result<(), QmpError> {
        self.execute_value("migrate_cancel", json!({}))
            .await
            .map(drop)
    }

    pub async fn query_migrate(&self) -> Result<MigrationStatus, QmpError> {
        let value = self.execute_value("query-migrate", json!({})).await?;
        serde_json::from_value(value)
            .map_err(|err| QmpError::Protocol(format!("unexpected reply to query-migrate: {err}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_with_quotes_spaces_and_commas_stay_one_shell_word() {
        assert_eq!(
            shell_quote(Path::new("/data dir/it's,here/1.state")),
            r"'/data dir/it'\''s,here/1.state'"
        );
        let uri = save_uri(Path::new("/a b/1.state.partial"), Path::new("/a b/1.state"));
        assert_eq!(
            uri,
            "exec:cat > '/a b/1.state.partial' && mv -f '/a b/1.state.partial' '/a b/1.state' || rm -f '/a b/1.state.partial'"
        );
        assert_eq!(
            restore_uri(Path::new("/a b/1.state")),
            "exec:cat '/a b/1.state'"
        );
    }

    #[test]
    fn a_failed_migration_carries_qemus_reason() {
        let status: MigrationStatus = serde_json::from_value(json!({
            "status": "failed",
            "error-desc": "Unable to write to command: Broken pipe"
        }))
        .unwrap();
        assert_eq!(
            status.phase(),
            MigrationPhase::Failed("Unable to write to command: Broken pipe".into())
        );
        let none: MigrationStatus = serde_json::from_value(json!({})).unwrap();
        assert_eq!(none.phase(), MigrationPhase::Underway);
    }
}
