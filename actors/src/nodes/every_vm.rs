//! Every VM of the database (issue 19): this node's as their actors last
//! published them, the other nodes' as their rows say (the state their
//! owners last wrote). `vm list` shows them; the disk service checks a
//! disk's users against them, so that no node changes a disk another
//! node's VM uses.

use crate::wire::{DbFailure, db};
use corvus_protocol::{RuntimePaths, VmInfo};
use corvus_storage::{DbKind, Store};
use std::collections::HashSet;
use std::sync::Arc;
use tracing::warn;

/// `local` (this node's VMs) and, on PostgreSQL, every other VM of the
/// database, in id order; `paths` gives a row's runtime paths.
pub async fn every_vm(
    store: &Store,
    mut local: Vec<Arc<VmInfo>>,
    paths: impl Fn(i64) -> RuntimePaths,
) -> Result<Vec<Arc<VmInfo>>, DbFailure> {
    if store.kind() == DbKind::Sqlite {
        return Ok(local);
    }
    let stored = db(store.load_vms()).await?;
    let known: HashSet<i64> = local.iter().map(|vm| vm.id).collect();
    for row in stored.into_iter().filter(|row| !known.contains(&row.vm.id)) {
        let id = row.vm.id;
        match row.into_info(paths(id)) {
            Ok(info) => local.push(Arc::new(info)),
            Err(err) => {
                warn!(vm_id = id, error = %format!("{:#}", anyhow::Error::new(err)), "skipping a VM whose stored definition is invalid")
            }
        }
    }
    local.sort_by_key(|vm| vm.id);
    Ok(local)
}
