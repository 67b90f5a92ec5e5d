//! A re-adopted QEMU's devices against the definition: what the next
//! daemon finds may differ from the rows (a device added by hand in the
//! monitor, a detach that finished after its timeout while no daemon was
//! watching). Neither side is corrected: the definition changes only on
//! QEMU's confirmation of a change Corvus asked for, so a difference is
//! logged and recorded in the history (`Input::Reconciled`), and the next
//! start follows the definition.

use super::core::Mismatch;
use super::{VmActorRef, VmActorState, VmMsg};
use corvus_protocol::{DriveInterface, VmInfo};
use corvus_qemu::hotplug as names;
use tracing::Instrument;

impl VmActorState {
    /// Compares a re-adopted QEMU's devices with the definition (a task).
    pub(super) fn reconcile_devices(&self, myself: &VmActorRef) {
        let Some((qmp, boot)) = self
            .boot
            .as_ref()
            .and_then(|boot| boot.qmp.clone().map(|qmp| (qmp, boot.state.number)))
        else {
            return;
        };
        let expected: Vec<String> = pluggable_ids(&self.info);
        let me = myself.clone();
        tokio::spawn(
            async move {
                let present = match qmp.device_ids().await {
                    Ok(ids) => ids,
                    Err(err) => {
                        tracing::warn!(%err, "cannot list the re-adopted QEMU's devices");
                        return;
                    }
                };
                let mismatch = compare(&expected, &present);
                if mismatch != Mismatch::default() {
                    tracing::warn!(
                        ?mismatch,
                        "the re-adopted QEMU's devices differ from the definition"
                    );
                }
                let _ = me.cast(VmMsg::Reconciled { boot, mismatch });
            }
            .in_current_span(),
        );
    }
}

/// The QEMU device ids the definition's drives and NICs have.
fn pluggable_ids(vm: &VmInfo) -> Vec<String> {
    vm.drives
        .iter()
        .filter(|drive| drive.interface != DriveInterface::Pflash)
        .map(|drive| names::drive_device_id(drive.id))
        .chain(
            vm.network_interfaces
                .iter()
                .map(|nic| names::nic_device_id(nic.id)),
        )
        .collect()
}

/// Corvus's own device ids are `disk<n>` and `nic<n>`; anything else in
/// QEMU (ports, controllers, someone's `device_add` by hand) is not ours.
fn compare(expected: &[String], present: &[String]) -> Mismatch {
    let ours = |id: &&String| {
        ["disk", "nic"].iter().any(|prefix| {
            id.strip_prefix(prefix)
                .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        })
    };
    Mismatch {
        missing: expected
            .iter()
            .filter(|id| !present.contains(id))
            .cloned()
            .collect(),
        unknown: present
            .iter()
            .filter(ours)
            .filter(|id| !expected.contains(id))
            .cloned()
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::compare;

    fn ids(list: &[&str]) -> Vec<String> {
        list.iter().map(|id| id.to_string()).collect()
    }

    #[test]
    fn only_corvus_devices_count_and_both_directions_are_reported() {
        let expected = ids(&["disk1", "disk4", "nic2"]);
        let present = ids(&[
            "disk1",
            "nic2",
            "nic7",
            "port-disk1",
            "hotplug0",
            "scsi0",
            "mine",
        ]);
        let mismatch = compare(&expected, &present);
        assert_eq!(mismatch.missing, ids(&["disk4"]));
        assert_eq!(mismatch.unknown, ids(&["nic7"]));
        assert_eq!(compare(&expected, &expected), Default::default());
    }
}
