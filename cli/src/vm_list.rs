//! `crv vm list`: one line per VM; `--wide` adds the guest's IP addresses
//! as its agent last reported them, and several nodes a NODE column.

use crate::columns::{Cell, Columns};
use crate::output::{opt, output_width, state_colour};
use corvus_protocol::VmInfo;
use std::sync::Arc;

/// The NAME column wraps when the line is too long; the others stay whole.
const WRAP: usize = 1;

pub fn print(vms: &[Arc<VmInfo>], wide: bool, nodes: bool) {
    if vms.is_empty() {
        println!("No VMs defined. Create one with `crv vm create NAME --cpus 1 --ram 512`.");
        return;
    }
    table(vms, wide, nodes).print(output_width(), WRAP);
}

fn table(vms: &[Arc<VmInfo>], wide: bool, nodes: bool) -> Columns {
    let mut header = vec!["ID", "NAME", "STATUS"];
    if nodes {
        header.push("NODE");
    }
    header.extend(["CPUS", "RAM", "PID", "RESTART", "AUTO"]);
    if wide {
        header.push("IP ADDRESSES");
    }
    let mut columns = Columns::new(header);
    for vm in vms {
        let mut row = vec![
            Cell::plain(vm.id.to_string()),
            Cell::plain(vm.name.as_str()),
            Cell::coloured(vm.status.as_str(), state_colour(vm.status)),
        ];
        if nodes {
            row.push(Cell::plain(vm.node.as_str()));
        }
        row.extend([
            Cell::plain(vm.cpu_count.to_string()),
            Cell::plain(format!("{} MiB", vm.ram_mb)),
            Cell::plain(opt(&vm.pid)),
            Cell::plain(vm.restart_policy.as_str()),
            Cell::plain(if vm.autostart { "yes" } else { "no" }),
        ]);
        if wide {
            row.push(Cell::plain(addresses(vm)));
        }
        columns.row(row);
    }
    columns
}

/// Comma-separated, `-` when the agent reported none (or there is no agent).
fn addresses(vm: &VmInfo) -> String {
    if vm.ip_addresses.is_empty() {
        "-".to_owned()
    } else {
        vm.ip_addresses.join(",")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vm(id: i64, name: &str, addresses: &[&str]) -> Arc<VmInfo> {
        let json = serde_json::json!({
            "id": id, "name": name, "created_at": "", "updated_at": "",
            "status": "running", "cpu_count": 2, "ram_mb": 1024, "description": null,
            "pid": 4242, "restart_policy": "never", "max_restarts": 0,
            "restart_window_secs": 0, "stop_timeout_secs": null, "autostart": false,
            "display": "none", "cpu_model": null, "kernel": null, "initrd": null,
            "cmdline": null, "last_error": null, "drives": [], "network_interfaces": [],
            "shared_dirs": [],
            "runtime": {"dir": "", "qmp": "", "monitor": "", "spice": "", "serial": "", "serial_log": ""},
            "guest_agent": true, "agent": "connected",
            "ip_addresses": addresses, "cloud_init": null, "node": "n1",
        });
        Arc::new(serde_json::from_value(json).expect("a VmInfo"))
    }

    fn render(vms: &[Arc<VmInfo>], wide: bool) -> String {
        render_nodes(vms, wide, false)
    }

    fn render_nodes(vms: &[Arc<VmInfo>], wide: bool, nodes: bool) -> String {
        let mut out = Vec::new();
        table(vms, wide, nodes).write(&mut out, 200, WRAP).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn the_wide_list_shows_each_guests_addresses() {
        let vms = [
            vm(1, "web", &["10.0.2.15", "fec0::5054:ff:fe12:3456"]),
            vm(2, "db", &[]),
        ];
        let text = render(&vms, true);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].ends_with("IP ADDRESSES"), "{text}");
        assert!(
            lines[1].ends_with("10.0.2.15,fec0::5054:ff:fe12:3456"),
            "{text}"
        );
        assert!(lines[2].ends_with("  -"), "{text}");
    }

    #[test]
    fn several_nodes_add_a_node_column() {
        let text = render_nodes(&[vm(1, "web", &[])], false, true);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].contains("STATUS   NODE"), "{text}");
        assert!(lines[1].contains("running  n1"), "{text}");
        let single = render(&[vm(1, "web", &[])], false);
        assert!(
            !single.contains("NODE") && !single.contains("n1"),
            "{single}"
        );
    }

    #[test]
    fn the_plain_list_has_no_address_column() {
        let text = render(&[vm(1, "web", &["10.0.2.15"])], false);
        assert!(!text.contains("IP ADDRESSES"), "{text}");
        assert!(!text.contains("10.0.2.15"), "{text}");
    }
}
