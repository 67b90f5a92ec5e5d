//! `crv events`, `crv vm watch`, and the `--wait` of start and stop.

use super::Ctx;
use super::definition::{expect_vm, fetch_vm, report};
use crate::client::one_shot;
use crate::error::CliError;
use crate::output;
use crate::progress::Spinner;
use crate::stream::{EventStream, Item};
use corvus_protocol::{EventKind, Request, VmEvent, VmRef, VmState};

fn print_event(ctx: &Ctx, event: &VmEvent) {
    if ctx.json {
        match serde_json::to_string(event) {
            Ok(line) => println!("{line}"),
            Err(err) => eprintln!("crv: cannot print an event: {err}"),
        }
    } else {
        println!("{}", output::event_line(event));
    }
}

fn print_lagged(missed: u64, last_seq: u64) {
    eprintln!(
        "crv: {missed} events were missed because this client fell behind; `crv events --since {last_seq}` replays them"
    );
}

/// Streams events until interrupted or until the daemon goes away.
pub async fn events(ctx: &Ctx, vms: &[String], since: Option<u64>) -> Result<(), CliError> {
    let vms = vms.iter().map(|vm| VmRef::parse(vm)).collect();
    let mut stream = EventStream::open(&ctx.endpoint, vms, since).await?;
    let mut last_seq = since.unwrap_or(0);
    while let Some(item) = stream.next().await? {
        match item {
            Item::Event(event) => {
                last_seq = event.seq;
                print_event(ctx, &event);
            }
            Item::Lagged(missed) => print_lagged(missed, last_seq),
        }
    }
    Err(CliError::Failed(format!(
        "the daemon ended the event stream: {}",
        stream.end_reason().unwrap_or("it closed the connection")
    )))
}

/// Follows one VM until it reaches `stopped` or `error`.
pub async fn watch(ctx: &Ctx, vm: &str) -> Result<(), CliError> {
    let mut stream = EventStream::open(&ctx.endpoint, vec![VmRef::parse(vm)], None).await?;
    // Subscribed first, then a look at the VM: a VM that is already at the
    // end needs no waiting, and one that is not cannot get there unseen.
    let current = fetch_vm(ctx, VmRef::parse(vm)).await?;
    match current.status {
        VmState::Stopped => {
            eprintln!("VM '{}' is stopped", output::safe(&current.name));
            return Ok(());
        }
        VmState::Error => {
            return Err(CliError::Failed(format!(
                "VM '{}' is in error: {}",
                current.name,
                current
                    .last_error
                    .as_deref()
                    .unwrap_or("no reason recorded")
            )));
        }
        state => eprintln!(
            "Watching VM '{}' ({state}) until it is stopped or in error",
            output::safe(&current.name)
        ),
    }
    let last = follow(
        ctx,
        &mut stream,
        |event| matches!(event.to, VmState::Stopped | VmState::Error),
        true,
        None,
    )
    .await?;
    finish(&last)
}

/// Reads events until `done` says so; returns the last one.
async fn follow(
    ctx: &Ctx,
    stream: &mut EventStream,
    done: impl Fn(&VmEvent) -> bool,
    print: bool,
    spinner: Option<&Spinner>,
) -> Result<VmEvent, CliError> {
    let mut last_seq = 0;
    while let Some(item) = stream.next().await? {
        match item {
            Item::Event(event) => {
                last_seq = event.seq;
                if let Some(spinner) = spinner {
                    spinner.set_message(&format!("{} is {}", event.vm_name, event.to));
                }
                if print {
                    print_event(ctx, &event);
                }
                // A definition event leaves the state as it was.
                if event.kind == EventKind::State && done(&event) {
                    return Ok(event);
                }
            }
            Item::Lagged(missed) => print_lagged(missed, last_seq),
        }
    }
    Err(CliError::Failed(
        "the daemon ended the event stream before the VM got there".into(),
    ))
}

fn finish(last: &VmEvent) -> Result<(), CliError> {
    match last.to {
        VmState::Error => Err(CliError::Failed(format!(
            "VM '{}' is in error: {}",
            last.vm_name, last.reason
        ))),
        _ => Ok(()),
    }
}

/// `start --wait` and `stop --wait`: subscribe first, then send the command,
/// so that no event can slip between them.
pub async fn command_and_wait(
    ctx: &Ctx,
    vm: &str,
    request: Request,
    until: &[VmState],
) -> Result<(), CliError> {
    let mut stream = EventStream::open(&ctx.endpoint, vec![VmRef::parse(vm)], None).await?;
    let sent = expect_vm(one_shot(&ctx.endpoint, request).await?)?;
    let spinner = Spinner::start(&format!("{} is {}", sent.name, sent.status));
    let done = |event: &VmEvent| until.contains(&event.to) || event.to == VmState::Error;
    let last = follow(ctx, &mut stream, done, false, spinner.as_ref()).await;
    drop(spinner);
    stream.close().await;
    finish(&last?)?;
    let vm = fetch_vm(ctx, VmRef::Id(sent.id)).await?;
    report(ctx, &vm, &super::lifecycle::state_sentence(&vm));
    Ok(())
}
