//! What a definition change says in its event: the `reason` of an `edited`
//! event, in a few words (`changed cpu_count, ram_mb`, `drive 4 added`).

use super::definition::Written;
use corvus_protocol::VmChanges;

impl Written {
    pub(super) fn change(&self) -> String {
        match self {
            Written::Edited(_, changes) => format!("changed {}", changed_fields(changes)),
            Written::Deleted => "definition removed".into(),
            Written::Moved(vm) => format!("moved to node '{}'", vm.node),
            Written::DriveAdded(drive) => format!("drive {} added ({})", drive.id, drive.file_path),
            Written::DriveRemoved(id) => format!("drive {id} removed"),
            Written::NicAdded(nic) => format!(
                "network interface {} added ({}, {})",
                nic.id, nic.nic_type, nic.mac_address
            ),
            Written::NicRemoved(id) => format!("network interface {id} removed"),
            Written::ShareAdded(share) => {
                format!("share {} added ('{}', {})", share.id, share.tag, share.path)
            }
            Written::ShareRemoved(id) => format!("share {id} removed"),
            Written::CloudInit(Some(_)) => "cloud-init configuration set".into(),
            Written::CloudInit(None) => "cloud-init configuration cleared".into(),
        }
    }
}

/// The fields an edit gave, by their `--json` names.
fn changed_fields(changes: &VmChanges) -> String {
    let VmChanges {
        cpu_count,
        ram_mb,
        description,
        display,
        cpu_model,
        stop_timeout_secs,
        restart_policy,
        max_restarts,
        restart_window_secs,
        autostart,
        kernel,
        initrd,
        cmdline,
        guest_agent,
        hotplug_slots,
        ha,
    } = changes;
    let given = [
        ("cpu_count", cpu_count.is_some()),
        ("ram_mb", ram_mb.is_some()),
        ("description", description.is_some()),
        ("display", display.is_some()),
        ("cpu_model", cpu_model.is_some()),
        ("stop_timeout_secs", stop_timeout_secs.is_some()),
        ("restart_policy", restart_policy.is_some()),
        ("max_restarts", max_restarts.is_some()),
        ("restart_window_secs", restart_window_secs.is_some()),
        ("autostart", autostart.is_some()),
        ("kernel", kernel.is_some()),
        ("initrd", initrd.is_some()),
        ("cmdline", cmdline.is_some()),
        ("guest_agent", guest_agent.is_some()),
        ("hotplug_slots", hotplug_slots.is_some()),
        ("ha", ha.is_some()),
    ];
    let names: Vec<&str> = given
        .iter()
        .filter(|(_, given)| *given)
        .map(|(name, _)| *name)
        .collect();
    if names.is_empty() {
        "nothing".into()
    } else {
        names.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_edit_names_the_fields_it_gave() {
        let changes = VmChanges {
            cpu_count: Some(2),
            autostart: Some(false),
            ..VmChanges::default()
        };
        assert_eq!(changed_fields(&changes), "cpu_count, autostart");
        assert_eq!(changed_fields(&VmChanges::default()), "nothing");
    }
}
