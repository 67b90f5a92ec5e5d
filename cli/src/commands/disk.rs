//! `crv disk list | show | create | register | overlay | resize | snapshot | delete`.

use super::Ctx;
use super::daemon::unexpected;
use crate::client::one_shot;
use crate::disk_args::{
    DiskCommand, DiskCreateArgs, DiskDeleteArgs, DiskRegisterArgs, DiskResizeArgs, SnapshotArgs,
    SnapshotCommand, parse_size,
};
use crate::disk_output;
use crate::error::CliError;
use crate::output;
use corvus_protocol::{
    DiskFormat, DiskInfo, DiskRef, Request, Response, SnapshotAction, SnapshotSpec,
};

pub async fn run(ctx: &Ctx, command: DiskCommand) -> Result<(), CliError> {
    match command {
        DiskCommand::List => list(ctx).await,
        DiskCommand::Show(target) => {
            let disk = expect_disk(
                one_shot(
                    &ctx.endpoint,
                    Request::ShowDisk {
                        disk: DiskRef::parse(&target.disk),
                    },
                )
                .await?,
            )?;
            if ctx.json {
                output::json(&disk);
            } else {
                disk_output::show(&disk);
            }
            Ok(())
        }
        DiskCommand::Create(args) => create(ctx, args).await,
        DiskCommand::Import(args) => super::disk_job::import(ctx, args).await,
        DiskCommand::Register(args) => register(ctx, args).await,
        DiskCommand::Overlay(args) => {
            let request = Request::OverlayDisk {
                name: args.name,
                backing: DiskRef::parse(&args.backing),
            };
            made(ctx, request, "created overlay").await
        }
        DiskCommand::Clone(args) => super::disk_job::clone(ctx, args).await,
        DiskCommand::Resize(args) => resize(ctx, args).await,
        DiskCommand::Snapshot(command) => snapshot(ctx, command).await,
        DiskCommand::Delete(args) => delete(ctx, args).await,
    }
}

async fn list(ctx: &Ctx) -> Result<(), CliError> {
    match one_shot(&ctx.endpoint, Request::ListDisks).await? {
        Response::Disks(disks) if ctx.json => output::json(&disks),
        Response::Disks(disks) => disk_output::list(&disks),
        other => return Err(unexpected(other)),
    }
    Ok(())
}

pub fn size(text: &str) -> Result<u64, CliError> {
    parse_size(text).map_err(CliError::Usage)
}

async fn create(ctx: &Ctx, args: DiskCreateArgs) -> Result<(), CliError> {
    let request = Request::CreateDisk {
        name: args.name,
        size: size(&args.size)?,
        format: args.format.unwrap_or(DiskFormat::Qcow2),
        node: args.node,
    };
    made(ctx, request, "created disk").await
}

async fn register(ctx: &Ctx, args: DiskRegisterArgs) -> Result<(), CliError> {
    let request = Request::RegisterDisk {
        name: args.name,
        path: args.path,
        format: args.format,
        node: args.node,
    };
    made(ctx, request, "registered disk").await
}

async fn resize(ctx: &Ctx, args: DiskResizeArgs) -> Result<(), CliError> {
    let request = Request::ResizeDisk {
        disk: DiskRef::parse(&args.disk),
        size: size(&args.size)?,
        shrink: args.shrink,
    };
    made(ctx, request, "resized disk").await
}

/// Sends a request answered with a disk; prints it as JSON or one sentence.
async fn made(ctx: &Ctx, request: Request, verb: &str) -> Result<(), CliError> {
    let disk = expect_disk(one_shot(&ctx.endpoint, request).await?)?;
    report(ctx, &disk, verb);
    Ok(())
}

pub fn report(ctx: &Ctx, disk: &DiskInfo, verb: &str) {
    if ctx.json {
        output::json(disk);
    } else {
        println!(
            "{verb} '{}' (id {}, {}, {})",
            disk.name,
            disk.id,
            disk.format,
            disk_output::size(disk.virtual_size)
        );
    }
}

pub fn expect_disk(response: Response) -> Result<Box<DiskInfo>, CliError> {
    match response {
        Response::Disk(disk) => Ok(disk),
        other => Err(unexpected(other)),
    }
}

async fn snapshot(ctx: &Ctx, command: SnapshotCommand) -> Result<(), CliError> {
    let (action, disk, snapshot) = match command {
        SnapshotCommand::List(target) => (SnapshotAction::List, target.disk, None),
        SnapshotCommand::Create(SnapshotArgs { disk, snapshot }) => {
            (SnapshotAction::Create, disk, Some(snapshot))
        }
        SnapshotCommand::Delete(SnapshotArgs { disk, snapshot }) => {
            (SnapshotAction::Delete, disk, Some(snapshot))
        }
        SnapshotCommand::Revert(SnapshotArgs { disk, snapshot }) => {
            (SnapshotAction::Revert, disk, Some(snapshot))
        }
    };
    let request = Request::DiskSnapshot {
        spec: SnapshotSpec {
            disk: DiskRef::parse(&disk),
            action,
            snapshot: snapshot.clone(),
        },
    };
    match one_shot(&ctx.endpoint, request).await? {
        Response::DiskSnapshots { snapshots, .. } if ctx.json => output::json(&snapshots),
        Response::DiskSnapshots { disk, snapshots } => disk_output::snapshots(&disk, &snapshots),
        Response::Disk(info) if ctx.json => output::json(&info),
        Response::Disk(info) => {
            let done = match action {
                SnapshotAction::Create => "took",
                SnapshotAction::Delete => "deleted",
                SnapshotAction::Revert => "reverted to",
                SnapshotAction::List => "listed",
            };
            println!(
                "{done} snapshot '{}' of disk '{}'",
                snapshot.unwrap_or_default(),
                info.name
            );
        }
        other => return Err(unexpected(other)),
    }
    Ok(())
}

async fn delete(ctx: &Ctx, args: DiskDeleteArgs) -> Result<(), CliError> {
    let request = Request::DeleteDisk {
        disk: DiskRef::parse(&args.disk),
        keep_file: args.keep_file,
    };
    match one_shot(&ctx.endpoint, request).await? {
        Response::DiskDeleted {
            id,
            name,
            file_removed,
        } if ctx.json => output::json(&serde_json::json!({
            "deleted": { "id": id, "name": name, "file_removed": file_removed }
        })),
        Response::DiskDeleted {
            id,
            name,
            file_removed,
        } => {
            let file = if file_removed {
                "and its file"
            } else {
                "(its file stays)"
            };
            println!("deleted disk '{name}' (id {id}) {file}");
        }
        other => return Err(unexpected(other)),
    }
    Ok(())
}
