//! Drives and NICs changed while QEMU runs (issue 16): whether a change
//! may be plugged live, what QEMU confirmed, and what a re-adoption found.
//! The definition follows QEMU, never the other way round: a row is
//! written only for a change QEMU has confirmed, and a re-adopted QEMU
//! whose devices differ from the rows is reported, not "corrected".

use super::{Effect, Refusal, Transition, View};
use crate::vm::Origin;
use corvus_protocol::{DriveInfo, EventCause, NicInfo, VmState, WireError};

/// Whether a drive or NIC change can be carried out on a running QEMU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Live {
    Pluggable,
    /// Only with the VM stopped, with why (an IDE drive, the boot disk).
    NeedsStop {
        reason: String,
    },
    /// Not at all while QEMU runs: the image is another drive's.
    InUse {
        reason: String,
    },
}

/// A change QEMU has made to the running machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Confirmed {
    DriveAttached(DriveInfo),
    DriveDetached(i64),
    NicAttached(NicInfo),
    NicDetached(i64),
}

impl Confirmed {
    /// The history's sentence for it.
    pub fn describe(&self) -> String {
        match self {
            Confirmed::DriveAttached(drive) => format!(
                "drive {} ({}, {}) attached to the running VM",
                drive.id, drive.interface, drive.file_path
            ),
            Confirmed::DriveDetached(id) => format!("drive {id} detached from the running VM"),
            Confirmed::NicAttached(nic) => format!(
                "network interface {} ({}, {}) attached to the running VM",
                nic.id, nic.nic_type, nic.mac_address
            ),
            Confirmed::NicDetached(id) => {
                format!("network interface {id} detached from the running VM")
            }
        }
    }
}

/// What a re-adoption found when it compared QEMU's devices with the rows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Mismatch {
    /// Devices of the definition that QEMU does not have.
    pub missing: Vec<String>,
    /// Corvus devices QEMU has that the definition does not.
    pub unknown: Vec<String>,
}

/// A drive or NIC command on a VM with a QEMU (the stopped case is a plain
/// definition change, `commands.rs`).
pub(super) fn live_change(view: &View<'_>, live: &Live) -> Result<Transition, Refusal> {
    match live {
        Live::Pluggable => Ok(Transition::stay(view).with(Effect::Plug)),
        Live::NeedsStop { reason } => Err(Refusal::NeedsStop {
            reason: reason.clone(),
        }),
        Live::InUse { reason } => Err(Refusal::InUse {
            reason: reason.clone(),
        }),
    }
}

/// QEMU's answer to a live change. A confirmed change is recorded whatever
/// became of the boot since (QEMU did it; a definition that disagreed with
/// what the guest saw would be worse); a failed one changes nothing.
pub(super) fn plugged(
    view: &View<'_>,
    origin: Origin,
    verb: &'static str,
    result: Result<Confirmed, WireError>,
) -> Transition {
    let stay = Transition::stay(view);
    match result {
        Ok(confirmed) => stay
            .to(view.status, confirmed.describe(), origin.cause(verb))
            .with(Effect::Record {
                confirmed,
                origin,
                verb,
            }),
        Err(error) => stay.with(Effect::Reply(Err(error))),
    }
}

/// A re-adopted QEMU's devices against the rows: any difference goes into
/// the history; the state and the definition stay.
pub(super) fn reconciled(view: &View<'_>, boot: u64, mismatch: Mismatch) -> Transition {
    let stay = Transition::stay(view);
    let current = view.boot.is_some_and(|b| b.number == boot);
    if !current || (mismatch.missing.is_empty() && mismatch.unknown.is_empty()) {
        return stay;
    }
    let mut parts = Vec::new();
    if !mismatch.missing.is_empty() {
        parts.push(format!(
            "defined but not in QEMU: {} (they come back at the next start)",
            mismatch.missing.join(", ")
        ));
    }
    if !mismatch.unknown.is_empty() {
        parts.push(format!(
            "in QEMU but not defined: {} (gone at the next start)",
            mismatch.unknown.join(", ")
        ));
    }
    let status: VmState = view.status;
    stay.to(
        status,
        format!(
            "re-adopted QEMU's devices differ from the definition; {}",
            parts.join("; ")
        ),
        EventCause::Readoption,
    )
}
