//! `crv node list | show | cordon | uncordon | drain` and `crv vm move`:
//! the daemons sharing the database and which of them runs which VM
//! (issue 19).

use super::Ctx;
use super::daemon::unexpected;
use crate::client::one_shot;
use crate::columns::{Cell, Columns};
use crate::error::CliError;
use crate::node_args::{MoveArgs, NodeCommand};
use crate::output;
use corvus_protocol::{DrainedVm, NodeInfo, Request, Response, VmRef};

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
        NodeCommand::Cordon(target) => cordon(ctx, target.node, true).await?,
        NodeCommand::Uncordon(target) => cordon(ctx, target.node, false).await?,
        NodeCommand::Drain(args) => {
            let request = Request::DrainNode {
                node: args.node.clone(),
                stop: args.stop,
            };
            // One line per VM on stderr as the drain reaches it, so that a
            // long `--stop` drain shows where it is; stdout keeps the report.
            let answer = super::job::follow(
                ctx,
                request,
                |step| {
                    eprintln!(
                        "draining: {} ({}/{})",
                        output::safe(&step.phase),
                        step.done,
                        step.total.unwrap_or(step.done)
                    )
                },
                || eprintln!("cancelling: the VM under way is finished, the rest are left"),
            )
            .await?;
            match answer {
                Response::Drained(vms) if ctx.json => output::json(&vms),
                Response::Drained(vms) => drained(&args.node, &vms),
                other => return Err(unexpected(other)),
            }
        }
    }
    Ok(())
}

async fn cordon(ctx: &Ctx, node: String, cordoned: bool) -> Result<(), CliError> {
    match one_shot(&ctx.endpoint, Request::CordonNode { node, cordoned }).await? {
        Response::Node(node) if ctx.json => output::json(&node),
        Response::Node(node) => {
            let what = if node.cordoned {
                "cordoned: it takes no new VMs"
            } else {
                "uncordoned: it takes new VMs"
            };
            println!("node '{}' {what}", output::safe(&node.name));
        }
        other => return Err(unexpected(other)),
    }
    Ok(())
}

fn drained(node: &str, vms: &[DrainedVm]) {
    println!("node '{}' cordoned", output::safe(node));
    for vm in vms {
        let to = vm
            .moved_to
            .as_deref()
            .map_or_else(String::new, |to| format!(" -> {to}"));
        println!(
            "{}{}: {}",
            output::safe(&vm.vm),
            output::safe(&to),
            output::safe(&vm.note)
        );
    }
}

pub async fn move_vm(ctx: &Ctx, args: MoveArgs) -> Result<(), CliError> {
    let request = Request::MoveVm {
        vm: VmRef::parse(&args.vm),
        node: args.node,
    };
    match one_shot(&ctx.endpoint, request).await? {
        Response::Vm(vm) if ctx.json => output::json(&vm),
        Response::Vm(vm) => println!(
            "VM '{}' is node '{}'s now",
            output::safe(&vm.name),
            output::safe(&vm.node)
        ),
        other => return Err(unexpected(other)),
    }
    Ok(())
}

/// `live`, `dead`, or either with `,cordoned`.
fn state(node: &NodeInfo) -> String {
    if node.cordoned {
        format!("{},cordoned", node.state)
    } else {
        node.state.to_string()
    }
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
            Cell::plain(state(node)),
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
        ("state", state(node)),
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
