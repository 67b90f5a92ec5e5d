//! Moving a stopped VM to another node (issue 19, `crv vm move`): the
//! checks of the destination and of the VM's paths, and the move itself,
//! which gives the VM's row to the new node in one transaction with its
//! event. The old owner's VmActor does it when that node is live (so that
//! no command of the VM races it); any node does it for a dead owner.

use super::cordon;
use super::shared::{paths_of, unshared};
use crate::context::Context;
use crate::wire::db;
use chrono::{SecondsFormat, Utc};
use corvus_protocol::{EventCause, EventKind, VmEvent, VmInfo, WireError};
use corvus_storage::DbKind;
use std::path::PathBuf;

/// Whether `vm` could run on any node: every one of its paths, backing
/// chains included, is shared.
pub async fn portable(ctx: &Context, vm: &VmInfo) -> Result<bool, WireError> {
    Ok(unshared(&ctx.node, &paths_of(&ctx.store, vm).await?).is_empty())
}

/// Refuses the move of VM `name` (which needs `paths`) from `from` to `to`
/// unless `to` is another live, uncordoned node and none of the paths is
/// local.
pub async fn check(
    ctx: &Context,
    name: &str,
    paths: &[PathBuf],
    from: &str,
    to: &str,
) -> Result<(), WireError> {
    if ctx.store.kind() == DbKind::Sqlite {
        return Err(WireError::invalid(format!(
            "cannot move VM '{}': on SQLite this daemon, node '{}', is the only node; several nodes need a PostgreSQL database",
            name, ctx.node.name
        )));
    }
    if to == from {
        return Err(WireError::invalid(format!(
            "VM '{}' is on node '{to}' already",
            name
        )));
    }
    let nodes = db(ctx.store.nodes()).await?;
    let Some(row) = nodes.iter().find(|row| row.name == to) else {
        return Err(WireError::not_found(format!(
            "there is no node '{to}' (see `crv node list`)"
        )));
    };
    if !row.live(ctx.node.timeout) {
        return Err(super::dead(to, ctx));
    }
    if row.cordoned {
        return Err(cordon::refusal(to));
    }
    let local = unshared(&ctx.node, paths);
    if !local.is_empty() {
        let listed: Vec<String> = local.iter().map(|p| p.display().to_string()).collect();
        let prefixes: Vec<String> = ctx
            .node
            .shared_storage
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        return Err(WireError::invalid(format!(
            "VM '{}' cannot move to node '{to}': these of its paths are not on shared storage (--shared-storage: {}), so node '{to}' would not see them: {}",
            name,
            if prefixes.is_empty() {
                "none".to_owned()
            } else {
                prefixes.join(", ")
            },
            listed.join(", ")
        )));
    }
    Ok(())
}

/// Gives `vm` (stopped, `from`'s) to `to`: its row and its event in one
/// transaction; every node's subscribers get the event from its row.
/// Returns the VM as it now is.
pub async fn commit(
    ctx: &Context,
    vm: &VmInfo,
    from: &str,
    to: &str,
    cause: EventCause,
) -> Result<VmInfo, WireError> {
    let event = VmEvent {
        seq: 0,
        at: Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true),
        vm_id: vm.id,
        vm_name: vm.name.clone(),
        from: vm.status,
        to: vm.status,
        reason: format!("moved from node '{from}' to node '{to}'"),
        cause,
        kind: EventKind::Edited,
    };
    if db(ctx.store.move_vm(vm.id, from, to, &event))
        .await?
        .is_none()
    {
        return Err(WireError::conflict(format!(
            "VM '{}' was not moved: it is no longer a stopped VM of node '{from}' (see `crv vm show {}`)",
            vm.name, vm.name
        )));
    }
    let mut moved = vm.clone();
    moved.node = to.to_owned();
    Ok(moved)
}
