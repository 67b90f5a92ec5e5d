//! Tests of the pure core: the whole (state, input) table, the effects that
//! matter, and the input orders that used to be races.

mod agent;
mod definitions;
mod devices;
mod fenced;
mod invariants;
mod save;
mod sequences;
mod snapshots;
mod table;

use super::*;
use crate::vm::Origin;
use corvus_protocol::{EventCause, VmState};
use corvus_qemu::{ExitInfo, QmpEvent};
use std::time::Duration;
use tokio::time::Instant;

pub(super) const ORIGIN: Origin = Origin {
    connection: 7,
    client: crate::client_name::ClientName::from_static("alice"),
};
pub(super) const BOOT: u64 = 3;

/// A VM in some state, with the boot that state normally has.
#[derive(Debug, Clone)]
pub(super) struct Vm {
    pub status: VmState,
    pub last_error: Option<String>,
    pub boot: Option<BootState>,
    pub deleted: bool,
    pub guest_agent: bool,
    /// Some NIC is on a managed network.
    pub managed_nics: bool,
    pub save_blocker: Option<String>,
    /// An HA VM on a fenced node.
    pub fenced: bool,
    pub now: Instant,
}

impl Vm {
    pub fn view(&self) -> View<'_> {
        View {
            name: "web",
            status: self.status,
            last_error: self.last_error.as_deref(),
            boot: self.boot.as_ref(),
            last_boot: BOOT,
            stop_timeout: DEFAULT_STOP_TIMEOUT,
            deleted: self.deleted,
            guest_agent: self.guest_agent,
            managed_nics: self.managed_nics,
            save_blocker: self.save_blocker.clone(),
            fenced: self.fenced,
            now: self.now,
        }
    }

    /// Feeds one input; the VM becomes what the core said.
    pub fn feed(&mut self, input: Input) -> Result<Transition, Refusal> {
        let transition = transition(&self.view(), input)?;
        self.status = transition.next;
        self.last_error = transition.last_error.clone();
        self.boot = transition.boot.clone();
        Ok(transition)
    }

    pub fn boot(&self) -> &BootState {
        self.boot.as_ref().expect("the VM has a boot")
    }
}

fn boot(phase: Phase) -> BootState {
    let mut boot = BootState::new(
        BOOT,
        EventCause::Operator {
            connection: 1,
            command: "vm start".into(),
            client: "alice".into(),
        },
        phase,
        false,
    );
    boot.qmp_open = phase == Phase::Connected;
    boot
}

/// The fixtures: one column of the table each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Fixture {
    Stopped,
    /// Starting, QEMU being spawned.
    Launching,
    /// Starting, QEMU spawned, QMP not up yet.
    Spawned,
    Running,
    Paused,
    Stopping,
    Error,
    /// Error with QEMU still there (a quarantined actor).
    ErrorWithQemu,
    /// Saving a guest that ran.
    Saving,
    Saved,
    /// Restoring, QEMU spawned, QMP not up yet.
    Restoring,
}

impl Fixture {
    pub const ALL: [Fixture; 11] = [
        Fixture::Stopped,
        Fixture::Launching,
        Fixture::Spawned,
        Fixture::Running,
        Fixture::Paused,
        Fixture::Stopping,
        Fixture::Error,
        Fixture::ErrorWithQemu,
        Fixture::Saving,
        Fixture::Saved,
        Fixture::Restoring,
    ];

    pub fn vm(self) -> Vm {
        let now = Instant::now();
        let (status, boot) = match self {
            Fixture::Stopped => (VmState::Stopped, None),
            Fixture::Launching => (VmState::Starting, Some(boot(Phase::Launching))),
            Fixture::Spawned => (VmState::Starting, Some(boot(Phase::Spawned))),
            Fixture::Running => (VmState::Running, Some(boot(Phase::Connected))),
            Fixture::Paused => (VmState::Paused, Some(boot(Phase::Connected))),
            Fixture::Stopping => {
                let mut boot = boot(Phase::Connected);
                boot.expected = Expected::Stop {
                    origin: Some(ORIGIN),
                };
                boot.stop_deadline = Some(now + Duration::from_secs(60));
                (VmState::Stopping, Some(boot))
            }
            Fixture::Error => (VmState::Error, None),
            Fixture::ErrorWithQemu => (VmState::Error, Some(boot(Phase::Connected))),
            Fixture::Saving => {
                let mut boot = boot(Phase::Connected);
                boot.expected = Expected::Save {
                    origin: ORIGIN,
                    resume: true,
                    written: false,
                };
                (VmState::Saving, Some(boot))
            }
            Fixture::Saved => (VmState::Saved, None),
            Fixture::Restoring => {
                let mut boot = boot(Phase::Spawned);
                boot.restore = true;
                (VmState::Restoring, Some(boot))
            }
        };
        Vm {
            status,
            last_error: (status == VmState::Error).then(|| "boom".to_owned()),
            boot,
            deleted: false,
            guest_agent: false,
            managed_nics: false,
            save_blocker: None,
            fenced: false,
            now,
        }
    }
}

pub(super) fn command(command: Command) -> Input {
    Input::Command {
        command,
        origin: ORIGIN,
    }
}

pub(super) const CLEAN_EXIT: ExitInfo = ExitInfo {
    code: Some(0),
    signal: None,
};

pub(super) fn exited(exit: ExitInfo) -> Input {
    Input::Exited {
        boot: BOOT,
        exit,
        stderr: String::new(),
    }
}

pub(super) fn qmp(event: QmpEvent) -> Input {
    Input::Qmp { boot: BOOT, event }
}
