//! `crv vm drive|net|share add|remove`.

use super::Ctx;
use super::definition::{expect_vm, report};
use crate::args::{DeviceRemoveArgs, DriveAddArgs, NetAddArgs, RemoveArgs, ShareAddArgs};
use crate::client::one_shot;
use crate::error::CliError;
use corvus_protocol::{
    DriveFormat, DriveMedia, DriveSpec, NicSpec, NicType, Request, ShareCache, ShareSpec, VmRef,
};

pub async fn add_drive(ctx: &Ctx, args: DriveAddArgs) -> Result<(), CliError> {
    let drive = DriveSpec {
        file_path: args.file.unwrap_or_default(),
        interface: args.interface,
        format: args.format.unwrap_or(DriveFormat::Raw),
        media: args.media.unwrap_or(DriveMedia::Disk),
        read_only: args.read_only,
        cache: args.cache,
        discard: args.discard,
        disk: args.disk.as_deref().map(VmRef::parse),
    };
    let vm = expect_vm(
        one_shot(
            &ctx.endpoint,
            Request::AddDrive {
                vm: VmRef::parse(&args.vm),
                drive,
            },
        )
        .await?,
    )?;
    let id = vm.drives.iter().map(|d| d.id).max().unwrap_or_default();
    report(ctx, &vm, &format!("added drive {id} to VM '{}'", vm.name));
    Ok(())
}

pub async fn remove_drive(ctx: &Ctx, args: DeviceRemoveArgs) -> Result<(), CliError> {
    let vm = expect_vm(
        one_shot(
            &ctx.endpoint,
            Request::RemoveDrive {
                vm: VmRef::parse(&args.vm),
                drive_id: args.id,
                timeout_secs: args.timeout,
            },
        )
        .await?,
    )?;
    report(
        ctx,
        &vm,
        &format!("removed drive {} from VM '{}'", args.id, vm.name),
    );
    Ok(())
}

pub async fn add_nic(ctx: &Ctx, args: NetAddArgs) -> Result<(), CliError> {
    let nic = NicSpec {
        nic_type: args.nic_type.unwrap_or(NicType::Network),
        host_device: args.host_device,
        mac_address: args.mac,
        forwards: args.forwards,
        network: args.network,
        ip_address: args.ip,
    };
    let vm = expect_vm(
        one_shot(
            &ctx.endpoint,
            Request::AddNic {
                vm: VmRef::parse(&args.vm),
                nic,
            },
        )
        .await?,
    )?;
    let added = vm.network_interfaces.iter().max_by_key(|n| n.id);
    let sentence = match added {
        Some(n) => format!(
            "added network interface {} ({}) to VM '{}'",
            n.id, n.mac_address, vm.name
        ),
        None => format!("added a network interface to VM '{}'", vm.name),
    };
    report(ctx, &vm, &sentence);
    Ok(())
}

pub async fn remove_nic(ctx: &Ctx, args: DeviceRemoveArgs) -> Result<(), CliError> {
    let vm = expect_vm(
        one_shot(
            &ctx.endpoint,
            Request::RemoveNic {
                vm: VmRef::parse(&args.vm),
                nic_id: args.id,
                timeout_secs: args.timeout,
            },
        )
        .await?,
    )?;
    report(
        ctx,
        &vm,
        &format!(
            "removed network interface {} from VM '{}'",
            args.id, vm.name
        ),
    );
    Ok(())
}

pub async fn add_share(ctx: &Ctx, args: ShareAddArgs) -> Result<(), CliError> {
    let share = ShareSpec {
        path: args.path,
        tag: args.tag,
        cache: args.cache.unwrap_or(ShareCache::Auto),
        read_only: args.read_only,
    };
    let vm = expect_vm(
        one_shot(
            &ctx.endpoint,
            Request::AddShare {
                vm: VmRef::parse(&args.vm),
                share,
            },
        )
        .await?,
    )?;
    let id = vm
        .shared_dirs
        .iter()
        .map(|s| s.id)
        .max()
        .unwrap_or_default();
    report(ctx, &vm, &format!("added share {id} to VM '{}'", vm.name));
    Ok(())
}

pub async fn remove_share(ctx: &Ctx, args: RemoveArgs) -> Result<(), CliError> {
    let vm = expect_vm(
        one_shot(
            &ctx.endpoint,
            Request::RemoveShare {
                vm: VmRef::parse(&args.vm),
                share_id: args.id,
            },
        )
        .await?,
    )?;
    report(
        ctx,
        &vm,
        &format!("removed share {} from VM '{}'", args.id, vm.name),
    );
    Ok(())
}
