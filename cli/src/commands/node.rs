//! `crv node list | show`: the daemons sharing the database (issue 19).

use super::Ctx;
use super::daemon::unexpected;
use crate::client::one_shot;
use crate::columns::{Cell, Columns};
use crate::error::CliError;
use crate::node_args::NodeCommand;
use crate::output;
use corvus_protocol::{NodeInfo, Request, Response};

pub async fn run(ctx: &Ctx, command: NodeCommand) -> Result<(), CliError> {
    match command {
        NodeCommand::List => match one_shot(&ctx.endpoint, Request::ListNodes).await? {
            Response::Nodes(nodes) if ctx.json => output::json(&nodes),
            Response::Nodes(nodes) => list(&nodes),
            other => return Err(unexpected(other)),
        },
        NodeCommand::Show(target) => {
            let request = Request::ShowNode { node: target.node };
            match one_shot(&ctx.endpoint, request).await? {
                Response::Node(node) if ctx.json => output::json(&node),
                Response::Node(node) => show(&node),
                other => return Err(unexpected(other)),
            }
        }
    }
    Ok(())
}

fn name(node: &NodeInfo) -> String {
    if node.this_node {
        format!("{} (this)", node.name)
    } else {
        node.name.clone()
    }
}

fn list(nodes: &[NodeInfo]) {
    let mut columns = Columns::new(vec![
        "NAME", "ADDRESS", "STATE", "CPUS", "RAM", "FREE RAM", "VMS",
    ]);
    for node in nodes {
        columns.row(vec![
            Cell::plain(output::safe(&name(node))),
            Cell::plain(output::safe(node.address.as_deref().unwrap_or("-"))),
            Cell::plain(node.state.as_str()),
            Cell::plain(node.cpus.to_string()),
            Cell::plain(format!("{} MiB", node.ram_mib)),
            Cell::plain(format!("{} MiB", node.free_ram_mib)),
            Cell::plain(node.vm_count.to_string()),
        ]);
    }
    columns.print(output::output_width(), 0);
}

fn show(node: &NodeInfo) {
    let rows = [
        ("name", name(node)),
        (
            "address",
            node.address.clone().unwrap_or_else(|| "-".into()),
        ),
        ("state", node.state.to_string()),
        ("heartbeat", format!("{} s ago", node.heartbeat_age_secs)),
        ("cpus", node.cpus.to_string()),
        ("ram", format!("{} MiB", node.ram_mib)),
        ("free ram", format!("{} MiB", node.free_ram_mib)),
        ("vms", node.vm_count.to_string()),
    ];
    for (key, value) in rows {
        println!("{:<11}{}", format!("{key}:"), output::safe(&value));
    }
}
