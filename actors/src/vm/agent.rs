//! `vm exec` and `vm ip`: the QEMU guest agent asked by a task, never by
//! the actor, each exchange under the client's deadline. The core lets
//! these through only while QEMU runs (`Command::Access`); whether the
//! agent answers is the agent's business, and a silent one is a typed
//! error within the deadline.

use super::{Reply, VmActorRef, VmActorState, VmMsg, VmReply};
use corvus_protocol::{
    AgentStatus, ErrorKind, ExecOutput, ExecSpec, GuestInterface, Response, VmInfo, WireError,
};
use corvus_qemu::qga::{QgaChannel, QgaError};
use qapi::qga;
use std::path::PathBuf;
use std::time::Duration;
use tokio::time::{Instant, sleep};
use tracing::Instrument;

/// What `--timeout` defaults to: the agent's answer and, for `vm exec`, the
/// command's run.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// `guest-exec-status` polls, quick at first for short commands.
const FIRST_POLL: Duration = Duration::from_millis(20);
const MAX_POLL: Duration = Duration::from_millis(500);

/// The deadline a request asks for.
impl VmActorState {
    /// A task's news of the agent, for `vm show`.
    pub(super) fn agent_seen(&mut self, boot: u64, answered: bool, addresses: Option<Vec<String>>) {
        let Some(current) = self.boot.as_mut().filter(|b| b.state.number == boot) else {
            return;
        };
        current.agent.answered = answered;
        if let Some(addresses) = addresses {
            current.agent.addresses = addresses;
        }
    }

    /// `vm show`'s view of the agent: off without the channel, connected
    /// when this boot's last exchange was answered.
    pub(super) fn agent_view(&self, info: &mut VmInfo) {
        let seen = self.boot.as_ref().map(|boot| &boot.agent);
        info.agent = match (info.guest_agent, seen) {
            (false, _) => AgentStatus::Off,
            (true, Some(seen)) if seen.answered => AgentStatus::Connected,
            (true, _) => AgentStatus::NotResponding,
        };
        info.ip_addresses = seen
            .map(|seen| {
                seen.addresses
                    .iter()
                    .filter(|a| !a.starts_with("127.") && !a.starts_with("::1/"))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
    }
}

pub fn timeout(secs: Option<u32>) -> Duration {
    secs.map_or(DEFAULT_TIMEOUT, |secs| Duration::from_secs(secs.into()))
}

/// The agent as the last exchange of a boot found it.
#[derive(Debug, Clone, Default)]
pub struct AgentSeen {
    pub answered: bool,
    /// From the last `vm ip`, without loopback.
    pub addresses: Vec<String>,
}

pub enum AgentQuery {
    Exec(ExecSpec),
    Interfaces { timeout_secs: Option<u32> },
}

impl VmActorState {
    /// Whether the VM has the agent's channel at all, before the core.
    pub(super) fn check_agent(&self) -> Result<(), WireError> {
        if self.info.guest_agent {
            return Ok(());
        }
        let name = self.name();
        Err(WireError::invalid(format!(
            "VM '{name}' has no guest agent channel; add one with `crv vm edit {name} --guest-agent` while it is stopped (the guest needs qemu-guest-agent)"
        )))
    }

    pub(super) fn ask_agent(&self, myself: &VmActorRef, query: AgentQuery, reply: Reply) {
        let Some(socket) = self.boot.as_ref().map(|boot| boot.paths.qga.clone()) else {
            let _ = reply.send(Err(WireError::unavailable(format!(
                "VM '{}' has no QEMU running",
                self.info.name
            ))));
            return;
        };
        let name = self.info.name.clone();
        let boot = self.boot.as_ref().map_or(0, |boot| boot.state.number);
        let myself = myself.clone();
        tokio::spawn(
            async move {
                let answer = match query {
                    AgentQuery::Exec(spec) => {
                        let deadline = timeout(spec.timeout_secs);
                        exec(socket, spec, deadline).await.map(Response::Exec)
                    }
                    AgentQuery::Interfaces { timeout_secs } => {
                        interfaces(socket, timeout(timeout_secs))
                            .await
                            .map(Response::GuestInterfaces)
                    }
                };
                // Refused: the agent answered, the command was wrong.
                let answered = matches!(answer, Ok(_) | Err(QgaError::Refused { .. }));
                let addresses = match &answer {
                    Ok(Response::GuestInterfaces(found)) => Some(
                        found
                            .iter()
                            .flat_map(|interface| interface.addresses.iter().cloned())
                            .collect(),
                    ),
                    _ => None,
                };
                let _ = myself.cast(VmMsg::AgentSeen {
                    boot,
                    answered,
                    addresses,
                });
                let _ = reply.send(
                    answer
                        .map(VmReply::Response)
                        .map_err(|err| agent_error(&name, err)),
                );
            }
            .in_current_span(),
        );
    }
}

/// The agent answers a sync at once when it runs; waiting longer would
/// only delay the power button's fallback.
const SHUTDOWN_DEADLINE: Duration = Duration::from_secs(3);
/// `guest-shutdown` answers only when it fails, at once.
const SHUTDOWN_PATIENCE: Duration = Duration::from_millis(500);

/// `guest-shutdown` as a task, reported to the actor as
/// `AgentShutdownDone` for the core to decide (core/agent.rs).
pub fn shutdown(socket: PathBuf, boot: u64, myself: VmActorRef) {
    tokio::spawn(
        async move {
            let result = async {
                let mut channel = QgaChannel::connect(&socket, SHUTDOWN_DEADLINE).await?;
                let command = qga::guest_shutdown {
                    mode: Some(qga::GuestShutdownMode::Powerdown),
                };
                channel
                    .execute_unanswered(command, SHUTDOWN_DEADLINE, SHUTDOWN_PATIENCE)
                    .await
            }
            .await
            .map_err(|err| super::errors::render(&err));
            if let Err(err) = &result {
                tracing::info!(error = %err, "the guest agent did not take guest-shutdown; pressing the power button");
            }
            let _ = myself.cast(VmMsg::AgentShutdownDone { boot, result });
        }
        .in_current_span(),
    );
}

fn agent_error(vm: &str, err: QgaError) -> WireError {
    let text = super::errors::render(&err);
    match err {
        QgaError::Refused { .. } => WireError::invalid(format!("VM '{vm}': {text}")),
        QgaError::Timeout | QgaError::Connect(_) | QgaError::Closed => WireError::new(
            ErrorKind::Unavailable,
            format!(
                "VM '{vm}': {text}; is qemu-guest-agent running in the guest (it starts late in a boot)?"
            ),
        ),
        QgaError::Io(_) | QgaError::Protocol(_) => {
            WireError::unavailable(format!("VM '{vm}': {text}"))
        }
    }
}

fn left(until: Instant) -> Duration {
    until.saturating_duration_since(Instant::now())
}

async fn exec(socket: PathBuf, spec: ExecSpec, deadline: Duration) -> Result<ExecOutput, QgaError> {
    let until = Instant::now() + deadline;
    let mut channel = QgaChannel::connect(&socket, deadline).await?;
    let Some((path, args)) = spec.command.split_first() else {
        return Err(QgaError::Protocol("no command to run".into()));
    };
    let command = qga::guest_exec {
        path: path.clone(),
        arg: Some(args.to_vec()),
        env: None,
        input_data: spec.input,
        capture_output: Some(qga::GuestExecCaptureOutput::flag(true)),
    };
    let started = match channel.execute(command, left(until)).await {
        Ok(started) => started,
        // As a shell says it: the program is not there (or cannot run).
        Err(QgaError::Refused { desc, .. }) => {
            let code = if desc.contains("No such file") {
                127
            } else {
                126
            };
            return Ok(ExecOutput {
                exit_code: code,
                stdout: Vec::new(),
                stderr: format!("{desc}\n").into_bytes(),
                truncated: false,
            });
        }
        Err(err) => return Err(err),
    };
    let mut poll = FIRST_POLL;
    loop {
        let status = channel
            .execute(qga::guest_exec_status { pid: started.pid }, left(until))
            .await?;
        if status.exited {
            let exit_code = match (status.exitcode, status.signal) {
                (_, Some(signal)) => 128 + signal as i32,
                (Some(code), None) => code as i32,
                (None, None) => -1,
            };
            return Ok(ExecOutput {
                exit_code,
                stdout: status.out_data.unwrap_or_default(),
                stderr: status.err_data.unwrap_or_default(),
                truncated: status.out_truncated.unwrap_or(false)
                    || status.err_truncated.unwrap_or(false),
            });
        }
        if left(until) <= poll {
            return Err(QgaError::Timeout);
        }
        sleep(poll).await;
        poll = (poll * 2).min(MAX_POLL);
    }
}

async fn interfaces(socket: PathBuf, deadline: Duration) -> Result<Vec<GuestInterface>, QgaError> {
    let until = Instant::now() + deadline;
    let mut channel = QgaChannel::connect(&socket, deadline).await?;
    let found = channel
        .execute(qga::guest_network_get_interfaces {}, left(until))
        .await?;
    Ok(found
        .into_iter()
        .filter(|interface| interface.name != "lo")
        .map(|interface| GuestInterface {
            name: interface.name,
            mac_address: interface.hardware_address,
            addresses: interface
                .ip_addresses
                .unwrap_or_default()
                .into_iter()
                .map(|ip| format!("{}/{}", ip.ip_address, ip.prefix))
                .collect(),
        })
        .collect())
}
