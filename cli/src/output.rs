//! Printing: aligned tables for people, JSON for scripts.
//!
//! Tables fit the terminal, or COLUMNS (80 when unset) off a terminal.
//! States are coloured only on a terminal and never with NO_COLOR.

use comfy_table::{Cell, Color, ColumnConstraint, ContentArrangement, Table, presets::NOTHING};
use corvus_protocol::text::{Lines, escape_controls};
use corvus_protocol::{DaemonStatus, VmEvent, VmInfo, VmState};
use serde::Serialize;
use std::borrow::Cow;
use std::io::{IsTerminal, Write};
use std::sync::OnceLock;

/// The classic terminal width, for output that goes to a file or a pipe.
const DEFAULT_WIDTH: u16 = 80;

/// Text from the daemon as a terminal may show it: every control character
/// escaped (`\x1b`, `\r`, …), since descriptions, errors and event reasons
/// may quote anything. Every human-readable printer goes through this or
/// `safe_lines`; JSON output does not.
pub fn safe(text: &str) -> Cow<'_, str> {
    escape_controls(text, Lines::One)
}

/// Like `safe`, for messages that may span lines: newlines and tabs stay.
pub fn safe_lines(text: &str) -> Cow<'_, str> {
    escape_controls(text, Lines::Many)
}

/// A table cell holding text from the daemon.
fn text_cell(text: &str) -> Cell {
    Cell::new(safe(text))
}

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
    // On a terminal comfy-table asks for its width; elsewhere (or when a
    // pseudo-terminal reports none) COLUMNS or 80 stands in.
    let terminal_width = std::io::stdout().is_terminal() && table.width().is_some_and(|w| w >= 20);
    if !terminal_width {
        table.set_width(fallback_width());
    }
    if !header.is_empty() {
        table.set_header(header.to_vec());
    }
    table
}

/// Prints a table: columns two spaces apart, those in `whole` never
/// wrapped (ids, states, times), the others wrapped to fit the width.
fn print(mut table: Table, whole: &[usize]) {
    let last = table.column_count().saturating_sub(1);
    for (index, column) in table.column_iter_mut().enumerate() {
        column.set_padding((0, if index == last { 0 } else { 2 }));
        if whole.contains(&index) {
            column.set_constraint(ColumnConstraint::ContentWidth);
        }
    }
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for line in table.lines() {
        let _ = writeln!(out, "{}", line.trim_end());
    }
    let _ = out.flush();
}

fn fallback_width() -> u16 {
    std::env::var("COLUMNS")
        .ok()
        .and_then(|columns| columns.trim().parse::<u16>().ok())
        .filter(|columns| *columns >= 20)
        .unwrap_or(DEFAULT_WIDTH)
}

/// Whether stdout may carry colours: a terminal, and NO_COLOR unset or
/// empty (no-color.org).
pub fn colours() -> bool {
    static COLOURS: OnceLock<bool> = OnceLock::new();
    *COLOURS.get_or_init(|| {
        std::io::stdout().is_terminal()
            && std::env::var_os("NO_COLOR").is_none_or(|value| value.is_empty())
    })
}

/// A state, coloured when colours are on: running green, paused and the
/// transitions yellow, error red.
fn state_cell(state: VmState) -> Cell {
    let cell = Cell::new(state);
    if !colours() {
        return cell;
    }
    match state {
        VmState::Running => cell.fg(Color::Green),
        VmState::Paused
        | VmState::Starting
        | VmState::Stopping
        | VmState::Saving
        | VmState::Restoring => cell.fg(Color::Yellow),
        VmState::Saved => cell.fg(Color::Blue),
        VmState::Error => cell.fg(Color::Red),
        VmState::Stopped => cell,
    }
}

pub fn opt<T: ToString>(value: &Option<T>) -> String {
    value
        .as_ref()
        .map_or_else(|| "-".to_owned(), ToString::to_string)
}

/// The width tables fit: the terminal's, else COLUMNS, else 80.
pub fn output_width() -> usize {
    let terminal = std::io::stdout()
        .is_terminal()
        .then(|| Table::new().width())
        .flatten()
        .filter(|w| *w >= 20);
    usize::from(terminal.unwrap_or_else(fallback_width))
}

/// The ANSI colour of a state, when colours are on.
pub fn state_colour(state: VmState) -> Option<&'static str> {
    if !colours() {
        return None;
    }
    match state {
        VmState::Running => Some("32"),
        VmState::Paused
        | VmState::Starting
        | VmState::Stopping
        | VmState::Saving
        | VmState::Restoring => Some("33"),
        VmState::Saved => Some("34"),
        VmState::Error => Some("31"),
        VmState::Stopped => None,
    }
}

pub fn vm_show(vm: &VmInfo) {
    let mut t = table(&[]);
    t.add_row(vec![Cell::new("id:"), Cell::new(vm.id)]);
    t.add_row(vec![Cell::new("name:"), text_cell(&vm.name)]);
    t.add_row(vec![Cell::new("status:"), state_cell(vm.status)]);
    let rows: Vec<(&str, String)> = vec![
        ("last error", opt(&vm.last_error)),
        ("node", vm.node.clone()),
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
        ("hotplug slots", vm.hotplug_slots.to_string()),
        ("ha", if vm.ha { "yes" } else { "no" }.to_owned()),
        ("kernel", opt(&vm.kernel)),
        ("initrd", opt(&vm.initrd)),
        ("cmdline", opt(&vm.cmdline)),
        ("agent", vm.agent.to_string()),
        (
            "cloud-init",
            vm.cloud_init.as_ref().map_or_else(
                || "-".to_owned(),
                |c| {
                    format!(
                        "user {}, hostname {}, {} key(s), {}",
                        c.user,
                        c.hostname,
                        c.ssh_keys.len(),
                        c.instance_id
                    )
                },
            ),
        ),
        ("created", vm.created_at.clone()),
        ("updated", vm.updated_at.clone()),
    ];
    for (key, value) in rows {
        t.add_row(vec![Cell::new(format!("{key}:")), text_cell(&value)]);
    }
    print(t, &[0]);

    println!("\nDrives:");
    if vm.drives.is_empty() {
        println!("  none");
    } else {
        let mut t = table(&["ID", "INTERFACE", "MEDIA", "FORMAT", "OPTIONS", "FILE"]);
        for d in &vm.drives {
            let mut options = Vec::new();
            if let Some(disk) = d.disk_id {
                options.push(format!("disk={disk}"));
            }
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
                Cell::new(d.id),
                Cell::new(d.interface),
                Cell::new(d.media),
                Cell::new(d.format),
                Cell::new(options),
                text_cell(&d.file_path),
            ]);
        }
        print(t, &[0, 1, 2, 3, 4]);
    }

    println!("\nNetwork interfaces:");
    if vm.network_interfaces.is_empty() {
        println!("  none");
    } else {
        let mut t = table(&["ID", "TYPE", "MAC", "HOST DEVICE", "FORWARDS"]);
        for n in &vm.network_interfaces {
            let forwards: Vec<String> = n.forwards.iter().map(|f| f.to_string()).collect();
            t.add_row(vec![
                Cell::new(n.id),
                Cell::new(n.nic_type),
                text_cell(&n.mac_address),
                text_cell(&match n.network_id {
                    Some(network) => {
                        let mut text = format!("network {network}");
                        if let Some(ip) = &n.ip_address {
                            text.push_str(&format!(", static {ip}"));
                        }
                        match &n.lease_address {
                            Some(ip) => text.push_str(&format!(", leased {ip}")),
                            None => text.push_str(", no lease yet"),
                        }
                        text
                    }
                    None => opt(&n.host_device),
                }),
                text_cell(&if forwards.is_empty() {
                    "-".to_owned()
                } else {
                    forwards.join(" ")
                }),
            ]);
        }
        print(t, &[0, 1, 2]);
    }

    println!("\nShared directories:");
    if vm.shared_dirs.is_empty() {
        println!("  none");
    } else {
        let mut t = table(&["ID", "TAG", "CACHE", "MODE", "VIRTIOFSD", "PATH"]);
        for s in &vm.shared_dirs {
            let mode = if s.read_only { "ro" } else { "rw" };
            t.add_row(vec![
                Cell::new(s.id),
                text_cell(&s.tag),
                Cell::new(s.cache),
                Cell::new(mode),
                Cell::new(opt(&s.pid)),
                text_cell(&s.path),
            ]);
        }
        print(t, &[0, 1, 2, 3, 4]);
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
        t.add_row(vec![Cell::new(format!("{key}:")), text_cell(value)]);
    }
    print(t, &[0]);
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
        ("node", status.node.clone()),
        (
            "persistence backlog",
            status.persistence_backlog.to_string(),
        ),
        ("database error", opt(&status.database_error)),
        ("acceleration", status.accel.clone()),
        ("socket", status.socket.clone()),
        ("tcp", opt(&status.tcp)),
        ("tls", opt(&status.tls)),
        ("you", format!("{} ({})", status.client, status.role)),
    ];
    for (key, value) in rows {
        t.add_row(vec![Cell::new(format!("{key}:")), text_cell(&value)]);
    }
    print(t, &[0]);
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
    let line = format!(
        "#{} {} {} ({}) {} by {}{}",
        event.seq,
        event.at,
        event.vm_name,
        event.vm_id,
        event.change(),
        event.cause.describe(),
        reason
    );
    safe(&line).into_owned()
}

pub fn history(events: &[VmEvent]) {
    if events.is_empty() {
        println!("No events recorded.");
        return;
    }
    let mut t = table(&["SEQ", "AT", "FROM", "TO", "CAUSE", "REASON"]);
    for e in events {
        t.add_row(vec![
            Cell::new(e.seq),
            text_cell(&e.at),
            state_cell(e.from),
            state_cell(e.to),
            text_cell(&e.cause.describe()),
            text_cell(&e.reason),
        ]);
    }
    print(t, &[0, 1, 2, 3]);
}
