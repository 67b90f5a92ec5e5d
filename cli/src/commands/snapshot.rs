//! `crv vm snapshot create | list | revert | delete`: snapshots of a whole
//! VM (all its qcow2 drives at one instant, with `--with-ram` its RAM too).

use super::Ctx;
use super::daemon::unexpected;
use super::definition::{expect_vm, report};
use crate::args::{VmSnapshotArgs, VmSnapshotCommand};
use crate::client::one_shot;
use crate::columns::{Cell, Columns};
use crate::error::CliError;
use crate::{disk_output, output};
use corvus_protocol::{Request, Response, SnapshotAction, VmRef, VmSnapshotInfo, VmSnapshotSpec};

pub async fn snapshot(ctx: &Ctx, command: VmSnapshotCommand) -> Result<(), CliError> {
    let (action, vm, name, with_ram) = match command {
        VmSnapshotCommand::List(target) => (SnapshotAction::List, target.vm, None, false),
        VmSnapshotCommand::Create(args) => (
            SnapshotAction::Create,
            args.vm,
            Some(args.name),
            args.with_ram,
        ),
        VmSnapshotCommand::Revert(VmSnapshotArgs { vm, name }) => {
            (SnapshotAction::Revert, vm, Some(name), false)
        }
        VmSnapshotCommand::Delete(VmSnapshotArgs { vm, name }) => {
            (SnapshotAction::Delete, vm, Some(name), false)
        }
    };
    let request = Request::VmSnapshot(VmSnapshotSpec {
        vm: VmRef::parse(&vm),
        action,
        name: name.clone(),
        with_ram,
    });
    match one_shot(&ctx.endpoint, request).await? {
        Response::VmSnapshots { snapshots, .. } if ctx.json => output::json(&snapshots),
        Response::VmSnapshots { vm, snapshots } => print(&vm, &snapshots),
        response => {
            let info = expect_vm(response)?;
            let name = name.unwrap_or_default();
            let sentence = match action {
                SnapshotAction::Create if with_ram => {
                    format!("took snapshot '{name}' of VM '{}' with its RAM", info.name)
                }
                SnapshotAction::Create => format!("took snapshot '{name}' of VM '{}'", info.name),
                SnapshotAction::Revert => {
                    format!("VM '{}' reverted to snapshot '{name}'", info.name)
                }
                SnapshotAction::Delete => {
                    format!("deleted snapshot '{name}' of VM '{}'", info.name)
                }
                SnapshotAction::List => return Err(unexpected(Response::Vm(info))),
            };
            report(ctx, &info, &sentence);
        }
    }
    Ok(())
}

fn print(vm: &str, snapshots: &[VmSnapshotInfo]) {
    if snapshots.is_empty() {
        println!("No snapshots of VM '{}'.", output::safe(vm));
        return;
    }
    let mut columns = Columns::new(vec!["SNAPSHOT", "TAKEN", "RAM", "PROBLEM"]);
    for snapshot in snapshots {
        let ram = match snapshot.with_ram {
            true => disk_output::size(snapshot.size),
            false => "-".to_owned(),
        };
        columns.row(vec![
            Cell::plain(snapshot.name.as_str()),
            Cell::plain(snapshot.created_at.as_str()),
            Cell::plain(ram),
            Cell::plain(snapshot.problem.as_deref().unwrap_or("")),
        ]);
    }
    columns.print(output::output_width(), 1);
}
