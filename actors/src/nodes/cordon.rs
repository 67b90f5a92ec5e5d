//! Cordoning (issue 19): a cordoned node keeps running its VMs but gets no
//! new ones: placement skips it, and `vm create --node`, `vm move` and a
//! drain refuse it as a destination until it is uncordoned.

use crate::context::Context;
use crate::wire::db;
use corvus_protocol::WireError;
use corvus_storage::DbKind;

/// The refusal of `node` as the destination of a VM.
pub fn refusal(node: &str) -> WireError {
    WireError::conflict(format!(
        "node '{node}' is cordoned: it takes no new VMs; pick another node (see `crv node list`), or `crv node uncordon {node}` first"
    ))
}

/// Cordons (`cordoned`) or uncordons `node`, whichever node is asked.
pub async fn set(ctx: &Context, node: &str, cordoned: bool) -> Result<(), WireError> {
    if ctx.store.kind() == DbKind::Sqlite {
        return Err(WireError::invalid(format!(
            "cannot cordon on SQLite: this daemon, node '{}', is the only node and there is nowhere else for VMs to go; several nodes need a PostgreSQL database",
            ctx.node.name
        )));
    }
    if db(ctx.store.set_cordoned(node, cordoned)).await? {
        Ok(())
    } else {
        Err(WireError::not_found(format!(
            "there is no node '{node}' (see `crv node list`)"
        )))
    }
}
