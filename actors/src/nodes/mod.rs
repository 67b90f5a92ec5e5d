//! Nodes (issue 19): this daemon's node row and claim at start, the nodes
//! `crv node list|show` reports, where a new VM goes, and the refusal of a
//! request for a VM another node owns.
//!
//! On PostgreSQL every daemon is a node: its row in `node`, its advisory
//! lock (held by the lock's session, `corvus_storage::lock`) and its
//! heartbeat written by that session with the database's clock. SQLite
//! stays single-node: the daemon is the one node, always live, and owns
//! every VM of its file.

pub mod config;
pub mod cordon;
pub mod drain;
pub mod events;
pub mod every_vm;
pub mod fence;
pub mod forward;
pub mod forward_pool;
pub mod ha;
pub mod moving;
pub mod shared;
pub mod takeover;

use crate::config::NodeConfig;
use crate::context::Context;
use crate::wire::db;
use anyhow::Context as _;
use corvus_protocol::{ErrorKind, NodeInfo, NodeState, VmInfo, VmRef, WireError};
use corvus_storage::{DbKind, NodeRegistration, NodeRow, Store};
use tracing::info;

/// Writes this node's row (PostgreSQL) and gives it the VMs and disks it is
/// to own: rows from before nodes existed, and on SQLite every one.
pub async fn register(store: &Store, node: &NodeConfig) -> anyhow::Result<()> {
    store.set_node(&node.name);
    if store.kind() == DbKind::Postgres {
        let (cpus, ram_mib) = resources(node).await;
        store
            .register_node(&NodeRegistration {
                name: node.name.clone(),
                address: node.advertise.clone(),
                cpus,
                ram_mib,
            })
            .await
            .with_context(|| format!("Cannot register node '{}'", node.name))?;
    }
    let claimed = store
        .claim_vms(&node.name)
        .await
        .with_context(|| format!("Cannot give node '{}' its VMs", node.name))?;
    if claimed > 0 {
        info!(node = %node.name, vms = claimed, "this node now owns the VMs no node owned");
    }
    let claimed = store
        .claim_disks(&node.name)
        .await
        .with_context(|| format!("Cannot give node '{}' its disks", node.name))?;
    if claimed > 0 {
        info!(node = %node.name, disks = claimed, "this node now owns the disks no node owned");
    }
    Ok(())
}

/// This host's CPUs and the RAM (MiB) it offers to VMs: `--node-ram`, or
/// all of it.
async fn resources(node: &NodeConfig) -> (u32, u64) {
    let cpus = std::thread::available_parallelism()
        .map(|n| u32::try_from(n.get()).unwrap_or(u32::MAX))
        .unwrap_or(1);
    if let Some(offered) = node.ram_mib {
        return (cpus, offered);
    }
    let ram_kib = tokio::fs::read_to_string("/proc/meminfo")
        .await
        .ok()
        .and_then(|text| {
            text.lines()
                .find_map(|line| line.strip_prefix("MemTotal:"))
                .and_then(|rest| {
                    rest.trim()
                        .trim_end_matches("kB")
                        .trim()
                        .parse::<u64>()
                        .ok()
                })
        })
        .unwrap_or(0);
    (cpus, ram_kib / 1024)
}

/// Every node as the database sees it; on SQLite this daemon alone, with
/// the load of `local` (its VMs).
pub async fn list(
    ctx: &Context,
    local: &[std::sync::Arc<VmInfo>],
) -> Result<Vec<NodeInfo>, WireError> {
    match ctx.store.kind() {
        DbKind::Postgres => Ok(db(ctx.store.nodes())
            .await?
            .into_iter()
            .map(|row| info_of(ctx, &row))
            .collect()),
        DbKind::Sqlite => {
            let (cpus, ram_mib) = resources(&ctx.node).await;
            let used: u64 = local
                .iter()
                .filter(|vm| vm.status.has_process())
                .map(|vm| vm.ram_mb)
                .sum();
            Ok(vec![NodeInfo {
                name: ctx.node.name.clone(),
                address: ctx.node.advertise.clone(),
                state: NodeState::Live,
                cpus,
                ram_mib,
                free_ram_mib: signed(ram_mib).saturating_sub(signed(used)),
                vm_count: local.len() as u64,
                heartbeat_age_secs: 0,
                this_node: true,
                cordoned: false,
            }])
        }
    }
}

fn signed(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

fn info_of(ctx: &Context, row: &NodeRow) -> NodeInfo {
    NodeInfo {
        name: row.name.clone(),
        address: row.address.clone(),
        state: if row.live(ctx.node.timeout) {
            NodeState::Live
        } else {
            NodeState::Dead
        },
        cpus: row.cpus,
        ram_mib: row.ram_mib,
        free_ram_mib: row.free_ram_mib(),
        vm_count: row.vm_count,
        heartbeat_age_secs: row.heartbeat_age.as_secs(),
        this_node: row.name == ctx.node.name,
        cordoned: row.cordoned,
    }
}

/// The node a new VM goes to: the one asked for, which must exist, be
/// live and not cordoned, or the live uncordoned node with the most free
/// RAM (ties: by name).
pub async fn place(ctx: &Context, asked: Option<&str>) -> Result<String, WireError> {
    if ctx.store.kind() == DbKind::Sqlite {
        return match asked {
            Some(node) if node != ctx.node.name => Err(WireError::invalid(format!(
                "there is no node '{node}': on SQLite this daemon, node '{}', is the only one; several nodes need a PostgreSQL database",
                ctx.node.name
            ))),
            _ => Ok(ctx.node.name.clone()),
        };
    }
    let nodes = db(ctx.store.nodes()).await?;
    let live = |row: &&NodeRow| row.live(ctx.node.timeout);
    if let Some(asked) = asked {
        let Some(row) = nodes.iter().find(|row| row.name == asked) else {
            return Err(WireError::invalid(format!(
                "there is no node '{asked}' (see `crv node list`)"
            )));
        };
        if !live(&row) {
            return Err(dead(asked, ctx));
        }
        if row.cordoned {
            return Err(cordon::refusal(asked));
        }
        return Ok(asked.to_owned());
    }
    nodes
        .iter()
        .filter(live)
        .filter(|row| !row.cordoned)
        .max_by(|a, b| {
            a.free_ram_mib()
                .cmp(&b.free_ram_mib())
                .then_with(|| b.name.cmp(&a.name))
        })
        .map(|row| row.name.clone())
        .map_or_else(|| fallback(ctx, &nodes), Ok)
}

/// No live uncordoned node by the database: this daemon's own, which is
/// live whenever it answers (a database that lags behind, a heartbeat not
/// yet written, must not say otherwise), unless it is cordoned.
fn fallback(ctx: &Context, nodes: &[NodeRow]) -> Result<String, WireError> {
    let here = &ctx.node.name;
    if nodes.iter().any(|row| row.name == *here && row.cordoned) {
        return Err(WireError::unavailable(
            "every live node is cordoned: uncordon one (`crv node uncordon NAME`) or start another",
        ));
    }
    Ok(here.clone())
}

pub fn dead(node: &str, ctx: &Context) -> WireError {
    WireError::unavailable(format!(
        "node '{node}' is dead (its daemon holds no lock, or wrote no heartbeat within {} s): start its daemon again, or pick another node (see `crv node list`)",
        ctx.node.timeout.as_secs()
    ))
}

/// Whether `node` is live now, by the database; `false` when it cannot say.
pub async fn is_live(ctx: &Context, node: &str) -> bool {
    match ctx.store.kind() {
        DbKind::Sqlite => node == ctx.node.name,
        DbKind::Postgres => db(ctx.store.node_reach(node))
            .await
            .ok()
            .flatten()
            .is_some_and(|reach| reach.live(ctx.node.timeout)),
    }
}

/// The refusal of `verb` for `vm` when the database says another node
/// owns it; `None` when it is this node's, nobody's, or unknown.
pub async fn owner_of(ctx: &Context, vm: &VmRef, verb: &str) -> Option<WireError> {
    if ctx.store.kind() == DbKind::Sqlite {
        return None;
    }
    let (_, node) = db(ctx.store.locate_vm(vm)).await.ok()??;
    let node = node.filter(|node| *node != ctx.node.name)?;
    let live = is_live(ctx, &node).await;
    Some(owned_elsewhere(&vm.to_string(), &node, live, verb, ctx))
}

/// The refusal of `verb` for `disk` when the database says it is another
/// node's (its file is on that node's host); `None` when it is this
/// node's, nobody's, or unknown.
pub async fn disk_owner_of(ctx: &Context, disk: &VmRef, verb: &str) -> Option<WireError> {
    if ctx.store.kind() == DbKind::Sqlite {
        return None;
    }
    let node = db(ctx.store.locate_disk(disk)).await.ok()??;
    let node = node.filter(|node| *node != ctx.node.name)?;
    let live = is_live(ctx, &node).await;
    let owned = format!("disk '{disk}' is on node '{node}'");
    Some(refusal(
        &owned,
        "whose host holds its file and which alone manages it",
        &node,
        live,
        verb,
        ctx,
    ))
}

/// The refusal of a request for a VM `node` owns: only that node runs it.
pub fn owned_elsewhere(vm: &str, node: &str, live: bool, verb: &str, ctx: &Context) -> WireError {
    let owned = format!("VM '{vm}' belongs to node '{node}'");
    refusal(&owned, "which alone runs it", node, live, verb, ctx)
}

/// `OwnedByNode`: what `owned` (a VM, a disk) is `node`'s, why only it
/// acts on it (`why_there`), and where to send the request, or that
/// `node` is dead.
fn refusal(
    owned: &str,
    why_there: &str,
    node: &str,
    live: bool,
    verb: &str,
    ctx: &Context,
) -> WireError {
    let message = if live {
        format!(
            "{owned}, {why_there}; this daemon is node '{}' and did not `{verb}` it: send the request to node '{node}' through its own socket",
            ctx.node.name
        )
    } else {
        format!(
            "{owned}, which is dead (no lock or no heartbeat within {} s), so nothing did `{verb}` it: start node '{node}' again to manage it",
            ctx.node.timeout.as_secs()
        )
    };
    WireError::new(
        ErrorKind::OwnedByNode {
            node: node.to_owned(),
            live,
        },
        message,
    )
}
