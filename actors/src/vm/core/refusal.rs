//! Why a command is refused, and the words that tell the operator the way
//! out ("VM 'web' is paused; use `crv vm start web` to resume it").

use super::Command;
use corvus_protocol::{VmState, WireError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    Already,
    InProgress,
    UseReset,
    ResetFirst,
    NotRunning,
    /// A definition change needs a stopped VM.
    NotStopped,
    /// The console, monitor or viewer needs QEMU running.
    NotStarted,
    /// QMP is down (or not up yet) so QEMU cannot be asked.
    NoQmp {
        connecting: bool,
    },
    Deleted,
    /// The VM is saved: no QEMU to stop; restore or discard the save.
    IsSaved,
    /// Only a running or paused VM can be saved.
    CannotSave,
    /// Something stands in the way of a save (a device QEMU cannot
    /// migrate, named, or devices changed live): the whole reason.
    Unmigratable {
        device: String,
    },
    /// This drive or NIC change cannot be made while QEMU runs, and why.
    NeedsStop {
        reason: String,
    },
    /// The change would give QEMU an image another drive already has.
    InUse {
        reason: String,
    },
    /// A snapshot with RAM of a VM that has no RAM to save (stopped).
    NoRam,
    /// An HA VM's start on a node fenced from the database (issue 19).
    Fenced,
}

impl Refusal {
    /// The refusal as the client sees it: the kind and a sentence with the way out.
    pub fn to_wire(&self, vm: &str, state: VmState, command: &Command) -> WireError {
        match self {
            Refusal::NoQmp { connecting: true } => WireError::unavailable(format!(
                "QEMU's QMP connection for VM '{vm}' is not up yet; retry in a moment, or use `crv vm reset {vm}`"
            )),
            Refusal::NoQmp { connecting: false } => WireError::unavailable(format!(
                "QEMU's QMP connection for VM '{vm}' is gone; use `crv vm reset {vm}`"
            )),
            Refusal::Deleted => crate::vm::errors::deleted(vm),
            Refusal::Unmigratable { .. } | Refusal::NoRam => {
                WireError::invalid(self.message(vm, state, command))
            }
            Refusal::InUse { .. } => WireError::conflict(self.message(vm, state, command)),
            Refusal::Fenced => WireError::unavailable(self.message(vm, state, command)),
            _ => WireError::transition(state, self.message(vm, state, command)),
        }
    }

    pub fn message(&self, vm: &str, state: VmState, command: &Command) -> String {
        let verb = command.verb();
        match self {
            Refusal::Already => format!("VM '{vm}' is already {state}"),
            Refusal::InProgress => format!(
                "VM '{vm}' is {state}; wait for it to finish, or use `crv vm reset {vm}` to kill it"
            ),
            Refusal::UseReset => {
                format!("VM '{vm}' is already stopping; use `crv vm reset {vm}` to kill it now")
            }
            Refusal::ResetFirst => format!(
                "VM '{vm}' is in error; see `crv vm show {vm}`, then `crv vm reset {vm}` before you {verb} it"
            ),
            Refusal::NotRunning => match state {
                VmState::Paused => {
                    format!("VM '{vm}' is already paused; use `crv vm start {vm}` to resume it")
                }
                _ => format!("VM '{vm}' is {state}; only a running VM can be paused"),
            },
            Refusal::NotStopped => {
                let what = match command {
                    Command::Define { what } | Command::Device { what, .. } => what,
                    _ => "change it",
                };
                let way_out = match state {
                    VmState::Error => format!("use `crv vm reset {vm}` first"),
                    VmState::Saved => format!(
                        "restore it with `crv vm start {vm}` and stop it, or discard the saved state with `crv vm reset {vm}`"
                    ),
                    _ => format!("stop it first with `crv vm stop {vm}`"),
                };
                format!("cannot {what}: VM '{vm}' is {state}; {way_out}")
            }
            Refusal::NotStarted => {
                let what = match command {
                    Command::Access { what } => what.as_str(),
                    _ => "use it",
                };
                format!("cannot {what}: VM '{vm}' is {state}; start it with `crv vm start {vm}`")
            }
            Refusal::NoQmp { .. } => format!("QEMU's QMP connection for VM '{vm}' is not usable"),
            Refusal::Deleted => format!("VM '{vm}' was deleted"),
            Refusal::IsSaved => format!(
                "cannot {verb} VM '{vm}': it is saved (its RAM is in a save file and QEMU is not running); use `crv vm start {vm}` to restore it, or `crv vm reset {vm}` to discard the saved state"
            ),
            Refusal::CannotSave => {
                format!("VM '{vm}' is {state}; only a running or paused VM can be saved")
            }
            Refusal::Unmigratable { device } => format!("cannot {verb} VM '{vm}': {device}"),
            Refusal::NoRam => format!(
                "VM '{vm}' is {state}: it has no RAM to snapshot; leave out --with-ram for a disk snapshot, or start it first with `crv vm start {vm}`"
            ),
            Refusal::NeedsStop { reason } => format!(
                "cannot do this while VM '{vm}' is {state}: {reason}; stop it first with `crv vm stop {vm}`"
            ),
            Refusal::InUse { reason } => format!("VM '{vm}' {reason}"),
            Refusal::Fenced => format!(
                "cannot {verb} VM '{vm}': this node has lost its database session, and another node may be running the VM now (it is highly available); run `crv node list` through another node to see where it runs, or wait until this node holds its session again"
            ),
        }
    }
}
