//! `crv vm list | show | create | edit | delete`.

use super::Ctx;
use super::daemon::unexpected;
use crate::args::{CreateArgs, EditArgs, VmOptions};
use crate::client::one_shot;
use crate::error::CliError;
use crate::output;
use corvus_protocol::{
    DiskRef, DisplayKind, ImageVmSpec, Request, Response, VmChanges, VmInfo, VmRef, VmSpec,
};

pub async fn list(ctx: &Ctx, wide: bool) -> Result<(), CliError> {
    match one_shot(&ctx.endpoint, Request::ListVms).await? {
        Response::Vms(vms) if ctx.json => output::json(&vms),
        Response::Vms(vms) => {
            // A NODE column only where there are nodes to tell apart.
            let several_nodes = matches!(
                one_shot(&ctx.endpoint, Request::ListNodes).await?,
                Response::Nodes(nodes) if nodes.len() > 1
            );
            crate::vm_list::print(&vms, wide, several_nodes)
        }
        other => return Err(unexpected(other)),
    }
    Ok(())
}

pub async fn show(ctx: &Ctx, vm: &str) -> Result<(), CliError> {
    let vm = fetch_vm(ctx, VmRef::parse(vm)).await?;
    if ctx.json {
        output::json(&vm);
    } else {
        output::vm_show(&vm);
    }
    Ok(())
}

pub async fn create(ctx: &Ctx, args: CreateArgs) -> Result<(), CliError> {
    let o = args.options;
    let spec = VmSpec {
        name: args.name,
        cpu_count: args.cpus,
        ram_mb: args.ram,
        description: o.description,
        display: o.display.unwrap_or(DisplayKind::Spice),
        cpu_model: o.cpu_model,
        stop_timeout_secs: o.stop_timeout,
        restart_policy: o.restart.unwrap_or(corvus_protocol::RestartPolicy::Never),
        max_restarts: o.max_restarts,
        restart_window_secs: o.restart_window,
        autostart: args.autostart,
        kernel: o.kernel,
        initrd: o.initrd,
        cmdline: o.cmdline,
        guest_agent: agent_flag(o.guest_agent, o.no_guest_agent),
        cloud_init: super::cloud::spec(&args.cloud.cloud)?,
        forwards: args.cloud.forwards,
        hotplug_slots: o.hotplug_slots,
        node: args.node,
        ha: args.ha,
    };
    let request = match args.image {
        Some(image) => Request::CreateVmFromImage {
            spec: Box::new(ImageVmSpec {
                spec,
                image: DiskRef::parse(&image),
                disk_size: args
                    .disk_size
                    .as_deref()
                    .map(super::disk::size)
                    .transpose()?,
            }),
        },
        None => Request::CreateVm {
            spec: Box::new(spec),
        },
    };
    let vm = expect_vm(one_shot(&ctx.endpoint, request).await?)?;
    report(
        ctx,
        &vm,
        &format!("created VM '{}' (id {})", vm.name, vm.id),
    );
    Ok(())
}

pub async fn edit(ctx: &Ctx, args: EditArgs) -> Result<(), CliError> {
    let VmOptions {
        description,
        display,
        cpu_model,
        stop_timeout,
        restart,
        max_restarts,
        restart_window,
        kernel,
        initrd,
        cmdline,
        guest_agent,
        no_guest_agent,
        hotplug_slots,
    } = args.options;
    let changes = VmChanges {
        cpu_count: args.cpus,
        ram_mb: args.ram,
        description,
        display,
        cpu_model,
        stop_timeout_secs: stop_timeout,
        restart_policy: restart,
        max_restarts,
        restart_window_secs: restart_window,
        autostart: match (args.autostart, args.no_autostart) {
            (true, _) => Some(true),
            (_, true) => Some(false),
            _ => None,
        },
        kernel,
        initrd,
        cmdline,
        guest_agent: agent_flag(guest_agent, no_guest_agent),
        hotplug_slots,
        ha: args.ha,
    };
    let vm = expect_vm(
        one_shot(
            &ctx.endpoint,
            Request::EditVm {
                vm: VmRef::parse(&args.vm),
                changes,
            },
        )
        .await?,
    )?;
    report(ctx, &vm, &format!("updated VM '{}'", vm.name));
    Ok(())
}

pub async fn delete(ctx: &Ctx, vm: &str, with_disks: bool) -> Result<(), CliError> {
    let vm = VmRef::parse(vm);
    let request = if with_disks {
        Request::DeleteVmWithDisks { vm }
    } else {
        Request::DeleteVm { vm }
    };
    match one_shot(&ctx.endpoint, request).await? {
        Response::VmDeletedWithDisks { id, name, disks } if ctx.json => output::json(
            &serde_json::json!({ "deleted": { "id": id, "name": name, "disks": disks } }),
        ),
        Response::VmDeletedWithDisks { id, name, disks } => {
            let disks = if disks.is_empty() {
                "no disks".to_owned()
            } else {
                format!("disks {}", disks.join(", "))
            };
            println!("deleted VM '{name}' (id {id}) and {disks}");
        }
        Response::Deleted { id, name } if ctx.json => {
            output::json(&serde_json::json!({ "deleted": { "id": id, "name": name } }))
        }
        Response::Deleted { id, name } => {
            println!("deleted VM '{}' (id {id})", output::safe(&name))
        }
        other => return Err(unexpected(other)),
    }
    Ok(())
}

/// The VM as the daemon knows it now.
/// `--guest-agent` / `--no-guest-agent`; neither keeps the default.
fn agent_flag(on: bool, off: bool) -> Option<bool> {
    match (on, off) {
        (true, _) => Some(true),
        (_, true) => Some(false),
        (false, false) => None,
    }
}

pub async fn fetch_vm(ctx: &Ctx, vm: VmRef) -> Result<Box<VmInfo>, CliError> {
    expect_vm(one_shot(&ctx.endpoint, Request::ShowVm { vm }).await?)
}

pub fn expect_vm(response: Response) -> Result<Box<VmInfo>, CliError> {
    match response {
        Response::Vm(vm) => Ok(vm),
        other => Err(unexpected(other)),
    }
}

/// The VM as JSON, or one sentence saying what happened.
pub fn report(ctx: &Ctx, vm: &VmInfo, sentence: &str) {
    if ctx.json {
        output::json(vm);
    } else {
        println!("{}", output::safe(sentence));
    }
}
