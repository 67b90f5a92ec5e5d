//! QMP work as tasks that report back to the actor: connecting (with the
//! first `query-status`), one command at a time, and the event stream.

use super::core::{QmpOp, RunState};
use super::errors::BootError;
use super::{Origin, Reply, VmActorRef, VmMsg};
use corvus_qemu::{QmpCommands, QmpError, QmpEvents, qmp};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::Instrument;

/// How often a QEMU still in `prelaunch` is asked again.
const STATUS_POLL: Duration = Duration::from_millis(100);

/// Connects to QMP and reads the run state. A QEMU that has not started its
/// guest yet is asked again until the deadline.
/// A restore boot (`restore`: the save file) first reads the file in and
/// resumes the guest.
pub fn connect(
    path: PathBuf,
    deadline: Duration,
    restore: Option<PathBuf>,
    boot: u64,
    me: VmActorRef,
) -> JoinHandle<()> {
    tokio::spawn(
        async move {
            let until = Instant::now() + deadline;
            let message = match qmp::connect(&path, deadline).await {
                Ok((commands, events)) => match restored(&commands, restore.as_deref()).await {
                    Err(error) => VmMsg::QmpFailed { boot, error },
                    Ok(()) => match first_status(&commands, until).await {
                        Ok(status) => VmMsg::QmpReady {
                            boot,
                            commands,
                            events,
                            status,
                        },
                        Err(source) => VmMsg::QmpFailed {
                            boot,
                            error: BootError::QmpStatus(source),
                        },
                    },
                },
                Err(source) => VmMsg::QmpFailed {
                    boot,
                    error: BootError::QmpConnect { path, source },
                },
            };
            let _ = me.cast(message);
        }
        .in_current_span(),
    )
}

async fn restored(commands: &QmpCommands, restore: Option<&Path>) -> Result<(), BootError> {
    match restore {
        Some(file) => super::save::restore(commands, file)
            .await
            .map_err(BootError::Restore),
        None => Ok(()),
    }
}

async fn first_status(commands: &QmpCommands, until: Instant) -> Result<RunState, QmpError> {
    loop {
        let status = commands.query_status().await?;
        let state = RunState::from_qemu(status.running, &status.status);
        if !state.is_transient() || Instant::now() >= until {
            return Ok(state);
        }
        tokio::time::sleep(STATUS_POLL).await;
    }
}

/// One QMP command; the answer (and the caller's reply port) comes back as
/// `QmpDone`. Without a session the command fails at once the same way.
pub fn run(
    qmp: Option<QmpCommands>,
    op: QmpOp,
    origin: Option<Origin>,
    reply: Option<Reply>,
    boot: u64,
    me: VmActorRef,
) {
    tokio::spawn(
        async move {
            let result = match qmp {
                Some(qmp) => execute(&qmp, op).await,
                None => Err(QmpError::Closed),
            };
            let _ = me.cast(VmMsg::QmpDone {
                boot,
                op,
                origin,
                result,
                reply,
            });
        }
        .in_current_span(),
    );
}

async fn execute(qmp: &QmpCommands, op: QmpOp) -> Result<(), QmpError> {
    match op {
        QmpOp::Pause => qmp.stop().await,
        QmpOp::Resume => qmp.cont().await,
        QmpOp::Powerdown { resume_first, .. } => {
            if resume_first && let Err(err) = qmp.cont().await {
                tracing::warn!(%err, "cannot resume the paused guest before powering it down");
            }
            qmp.system_powerdown().await
        }
        QmpOp::Quit => qmp.quit().await,
    }
}

/// Forwards QMP events in order, then says when the session ended (QEMU
/// closes it as it exits, after its last event).
pub fn pump(mut events: QmpEvents, boot: u64, me: VmActorRef) -> JoinHandle<()> {
    tokio::spawn(
        async move {
            while let Some(event) = events.next().await {
                if me.cast(VmMsg::Qmp { boot, event }).is_err() {
                    return;
                }
            }
            let _ = me.cast(VmMsg::QmpClosed { boot });
        }
        .in_current_span(),
    )
}
