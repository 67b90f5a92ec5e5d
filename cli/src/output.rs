//! Printing: aligned tables for people, JSON for scripts.

use comfy_table::{ContentArrangement, Table, presets::NOTHING};
use corvus_protocol::{DaemonStatus, VmEvent, VmInfo};
use serde::Serialize;
use std::io::IsTerminal;

/// Prints a value as pretty JSON on stdout.
pub fn json<T: Serialize + ?Sized>(value: &T) {
    match serde_json::to_string_pretty(value) {
        Ok(text) => println!("{text}"),
        Err(err) => eprintln!("crv: cannot print JSON: {err}"),
    }
}

fn table(header: &[&str]) -> Table {
    let mut table = Table::new();
    table
        .load_preset(NOTHING)
        .set_content_arrangement(ContentArrangement::Dynamic);
    // Off a terminal there is no width to ask for; 80 columns is the classic one.
    if !std::io::stdout().is_terminal() {
        table.set_width(80);
    }
    if !header.is_empty() {
        table.set_header(header.to_vec());
    }
    table
}

fn opt<T: ToString>(value: &Option<T>) -> String {
    value
        .as_ref()
        .map_or_else(|| "-".to_owned(), ToString::to_string)
}

pub fn vm_list(vms: &[VmInfo]) {
    if vms.is_empty() {
        println!("No VMs defined. Create one with `crv vm create NAME --cpus 1 --ram 512`.");
        return;
    }
    let mut t = table(&[
        "ID",
        "NAME",
        "STATUS",
        "CPUS",
        "RAM",
        "PID",
        "RESTART",
        "AUTOSTART",
    ]);
    for vm in vms {
        t.add_row(vec![
            vm.id.to_string(),
            vm.name.clone(),
            vm.status.to_string(),
            vm.cpu_count.to_string(),
            format!("{} MiB", vm.ram_mb),
            opt(&vm.pid),
            vm.restart_policy.to_string(),
            if vm.autostart { "yes" } else { "no" }.to_owned(),
        ]);
    }
    println!("{t}");
}

pub fn vm_show(vm: &VmInfo) {
    let mut t = table(&[]);
    let rows: Vec<(&str, String)> = vec![
        ("id", vm.id.to_string()),
        ("name", vm.name.clone()),
        ("status", vm.status.to_string()),
        ("last error", opt(&vm.last_error)),
        ("pid", opt(&vm.pid)),
        ("cpus", vm.cpu_count.to_string()),
        ("ram", format!("{} MiB", vm.ram_mb)),
        ("cpu model", opt(&vm.cpu_model)),
        ("display", vm.display.to_string()),
        ("description", opt(&vm.description)),
        (
            "restart policy",
            format!(
                "{} (at most {} in {} s)",
                vm.restart_policy, vm.max_restarts, vm.restart_window_secs
            ),
        ),
        (
            "stop timeout",
            vm.stop_timeout_secs
                .map_or_else(|| "60 s (default)".to_owned(), |s| format!("{s} s")),
        ),
        (
            "autostart",
            if vm.autostart { "yes" } else { "no" }.to_owned(),
        ),
        ("kernel", opt(&vm.kernel)),
        ("initrd", opt(&vm.initrd)),
        ("cmdline", opt(&vm.cmdline)),
        ("created", vm.created_at.clone()),
        ("updated", vm.updated_at.clone()),
    ];
    for (key, value) in rows {
        t.add_row(vec![format!("{key}:"), value]);
    }
    println!("{t}");

    println!("\nDrives:");
    if vm.drives.is_empty() {
        println!("  none");
    } else {
        let mut t = table(&["ID", "INTERFACE", "MEDIA", "FORMAT", "OPTIONS", "FILE"]);
        for d in &vm.drives {
            let mut options = Vec::new();
            if d.read_only {
                options.push("read-only".to_owned());
            }
            if let Some(cache) = d.cache {
                options.push(format!("cache={cache}"));
            }
            if d.discard {
                options.push("discard".to_owned());
            }
            let options = if options.is_empty() {
                "-".to_owned()
            } else {
                options.join(",")
            };
            t.add_row(vec![
                d.id.to_string(),
                d.interface.to_string(),
                d.media.to_string(),
                d.format.to_string(),
                options,
                d.file_path.clone(),
            ]);
        }
        println!("{t}");
    }

    println!("\nNetwork interfaces:");
    if vm.network_interfaces.is_empty() {
        println!("  none");
    } else {
        let mut t = table(&["ID", "TYPE", "MAC", "HOST DEVICE"]);
        for n in &vm.network_interfaces {
            t.add_row(vec![
                n.id.to_string(),
                n.nic_type.to_string(),
                n.mac_address.clone(),
                opt(&n.host_device),
            ]);
        }
        println!("{t}");
    }

    println!("\nShared directories:");
    if vm.shared_dirs.is_empty() {
        println!("  none");
    } else {
        let mut t = table(&["ID", "TAG", "CACHE", "MODE", "VIRTIOFSD", "PATH"]);
        for s in &vm.shared_dirs {
            let mode = if s.read_only { "ro" } else { "rw" };
            t.add_row(vec![
                s.id.to_string(),
                s.tag.clone(),
                s.cache.to_string(),
                mode.to_owned(),
                opt(&s.pid),
                s.path.clone(),
            ]);
        }
        println!("{t}");
    }

    println!("\nRuntime:");
    let mut t = table(&[]);
    let r = &vm.runtime;
    for (key, value) in [
        ("dir", &r.dir),
        ("qmp", &r.qmp),
        ("monitor", &r.monitor),
        ("spice", &r.spice),
        ("serial", &r.serial),
        ("serial log", &r.serial_log),
    ] {
        t.add_row(vec![format!("{key}:"), value.clone()]);
    }
    println!("{t}");
}

pub fn status(status: &DaemonStatus) {
    let mut t = table(&[]);
    let states: Vec<String> = status
        .vms_by_state
        .iter()
        .filter(|c| c.count > 0)
        .map(|c| format!("{} {}", c.count, c.state))
        .collect();
    let rows = vec![
        (
            "daemon",
            format!("corvus {} (pid {})", status.daemon_version, status.pid),
        ),
        ("protocol", status.protocol_version.to_string()),
        ("uptime", humanize_secs(status.uptime_secs)),
        ("connections", status.connections.to_string()),
        (
            "vms",
            if states.is_empty() {
                status.vm_count.to_string()
            } else {
                format!("{} ({})", status.vm_count, states.join(", "))
            },
        ),
        ("database", status.database.clone()),
        (
            "persistence backlog",
            status.persistence_backlog.to_string(),
        ),
        ("acceleration", status.accel.clone()),
        ("socket", status.socket.clone()),
        ("tcp", opt(&status.tcp)),
    ];
    for (key, value) in rows {
        t.add_row(vec![format!("{key}:"), value]);
    }
    println!("{t}");
}

pub fn humanize_secs(secs: u64) -> String {
    match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m{}s", s / 60, s % 60),
        s if s < 86400 => format!("{}h{}m", s / 3600, (s % 3600) / 60),
        s => format!("{}d{}h", s / 86400, (s % 86400) / 3600),
    }
}

/// One readable line per event.
pub fn event_line(event: &VmEvent) -> String {
    let reason = if event.reason.is_empty() {
        String::new()
    } else {
        format!(": {}", event.reason)
    };
    format!(
        "#{} {} {} ({}) {} -> {} by {}{}",
        event.seq,
        event.at,
        event.vm_name,
        event.vm_id,
        event.from,
        event.to,
        event.cause.describe(),
        reason
    )
}

pub fn history(events: &[VmEvent]) {
    if events.is_empty() {
        println!("No events recorded.");
        return;
    }
    let mut t = table(&["SEQ", "AT", "FROM", "TO", "CAUSE", "REASON"]);
    for e in events {
        t.add_row(vec![
            e.seq.to_string(),
            e.at.clone(),
            e.from.to_string(),
            e.to.to_string(),
            e.cause.describe(),
            e.reason.clone(),
        ]);
    }
    println!("{t}");
}
