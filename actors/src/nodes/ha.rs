//! Which VMs may be highly available (issue 19): a survivor restarts an
//! HA VM only under a restart policy that restarts it, and only when every
//! file it opens is on storage every node sees (`--shared-storage`).
//! Checked before anything is written: at create, at `vm edit`, and when
//! a drive or share is added to an HA VM.

use super::config::NodeConfig;
use super::shared::{paths_of, unshared};
use corvus_protocol::{RestartPolicy, VmInfo, WireError};
use corvus_storage::Store;
use std::path::PathBuf;

/// The refusal of `--ha` for the VM `name` with `policy` and `paths`, or
/// `Ok` when it may be highly available.
pub fn refusal(
    node: &NodeConfig,
    name: &str,
    policy: RestartPolicy,
    paths: &[PathBuf],
) -> Result<(), WireError> {
    match policy {
        RestartPolicy::OnFailure | RestartPolicy::Always => {}
        RestartPolicy::Never => {
            return Err(WireError::invalid(format!(
                "VM '{name}' is to be highly available (--ha), which needs restart policy on-failure or always, not '{policy}': pass --restart on-failure (or always), or --ha false"
            )));
        }
    }
    let local = unshared(node, paths);
    if local.is_empty() {
        return Ok(());
    }
    let listed = |paths: &[PathBuf]| {
        paths
            .iter()
            .map(|path| path.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let prefixes = if node.shared_storage.is_empty() {
        "none; start it with --shared-storage DIR".to_owned()
    } else {
        listed(&node.shared_storage)
    };
    Err(WireError::invalid(format!(
        "VM '{name}' cannot be highly available (--ha): another node could not open {}, which {} not under a shared-storage directory of node '{}' (--shared-storage: {prefixes}); move {} under one, or leave the VM without --ha",
        listed(&local),
        if local.len() == 1 { "is" } else { "are" },
        node.name,
        if local.len() == 1 { "it" } else { "them" },
    )))
}

/// Checks `vm` as a change would leave it; nothing to check unless it is
/// highly available. Reads the backing chains of its disks.
pub async fn check(node: &NodeConfig, store: &Store, vm: &VmInfo) -> Result<(), WireError> {
    if !vm.ha {
        return Ok(());
    }
    let paths = paths_of(store, vm).await?;
    refusal(node, &vm.name, vm.restart_policy, &paths)
}
