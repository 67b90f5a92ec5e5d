//! `crv vm start | stop | pause | reset | save | history`.

use super::Ctx;
use super::daemon::unexpected;
use super::definition::{expect_vm, report};
use crate::args::{HistoryArgs, StartArgs, StopArgs};
use crate::client::one_shot;
use crate::error::CliError;
use crate::output;
use corvus_protocol::{Request, Response, VmInfo, VmRef, VmState};

/// "VM 'web' is running (pid 1234)".
pub fn state_sentence(vm: &VmInfo) -> String {
    match vm.pid {
        Some(pid) => format!("VM '{}' is {} (pid {pid})", vm.name, vm.status),
        None => format!("VM '{}' is {}", vm.name, vm.status),
    }
}

pub async fn start(ctx: &Ctx, args: StartArgs) -> Result<(), CliError> {
    if args.wait {
        let request = Request::StartVm {
            vm: VmRef::parse(&args.vm),
        };
        return super::events::command_and_wait(
            ctx,
            &args.vm,
            request,
            &[VmState::Running, VmState::Paused],
        )
        .await;
    }
    let vm = expect_vm(
        one_shot(
            &ctx.endpoint,
            Request::StartVm {
                vm: VmRef::parse(&args.vm),
            },
        )
        .await?,
    )?;
    report(ctx, &vm, &state_sentence(&vm));
    Ok(())
}

pub async fn stop(ctx: &Ctx, args: StopArgs) -> Result<(), CliError> {
    let request = Request::StopVm {
        vm: VmRef::parse(&args.vm),
        timeout_secs: args.timeout,
    };
    if args.wait {
        return super::events::command_and_wait(ctx, &args.vm, request, &[VmState::Stopped]).await;
    }
    let vm = expect_vm(one_shot(&ctx.endpoint, request).await?)?;
    report(ctx, &vm, &state_sentence(&vm));
    Ok(())
}

pub async fn pause(ctx: &Ctx, vm: &str) -> Result<(), CliError> {
    let vm = expect_vm(
        one_shot(
            &ctx.endpoint,
            Request::PauseVm {
                vm: VmRef::parse(vm),
            },
        )
        .await?,
    )?;
    report(ctx, &vm, &state_sentence(&vm));
    Ok(())
}

pub async fn reset(ctx: &Ctx, vm: &str) -> Result<(), CliError> {
    let vm = expect_vm(
        one_shot(
            &ctx.endpoint,
            Request::ResetVm {
                vm: VmRef::parse(vm),
            },
        )
        .await?,
    )?;
    report(ctx, &vm, &state_sentence(&vm));
    Ok(())
}

/// Answered once the VM is saved (QEMU gone) or the save failed.
pub async fn save(ctx: &Ctx, vm: &str) -> Result<(), CliError> {
    let vm = expect_vm(
        one_shot(
            &ctx.endpoint,
            Request::SaveVm {
                vm: VmRef::parse(vm),
            },
        )
        .await?,
    )?;
    report(ctx, &vm, &state_sentence(&vm));
    Ok(())
}

pub async fn history(ctx: &Ctx, args: HistoryArgs) -> Result<(), CliError> {
    match one_shot(
        &ctx.endpoint,
        Request::History {
            vm: VmRef::parse(&args.vm),
            limit: args.limit(),
        },
    )
    .await?
    {
        Response::History(events) if ctx.json => output::json(&events),
        Response::History(events) => output::history(&events),
        other => return Err(unexpected(other)),
    }
    Ok(())
}
