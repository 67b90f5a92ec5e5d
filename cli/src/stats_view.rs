//! VM figures as people read them: `crv vm stats` as a block of lines, and
//! the rows of `crv top` (shared by its live screen and `--once`), with
//! their sort orders. Pure, except for the two printers.

use crate::columns::{Cell, Columns};
use crate::output::{humanize_secs, safe};
use clap::ValueEnum;
use corvus_protocol::{Figure, VmState, VmStats};
use std::cmp::Ordering;

/// What `crv top` sorts by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SortKey {
    Cpu,
    Memory,
    Disk,
    Net,
    Name,
    Id,
    State,
    Uptime,
}

impl SortKey {
    /// The key that selects it on the live screen.
    pub const KEYS: [(char, SortKey); 8] = [
        ('c', SortKey::Cpu),
        ('m', SortKey::Memory),
        ('d', SortKey::Disk),
        ('n', SortKey::Net),
        ('a', SortKey::Name),
        ('i', SortKey::Id),
        ('s', SortKey::State),
        ('u', SortKey::Uptime),
    ];

    pub fn of_key(key: char) -> Option<SortKey> {
        SortKey::KEYS
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, sort)| *sort)
    }

    pub fn label(self) -> &'static str {
        match self {
            SortKey::Cpu => "CPU",
            SortKey::Memory => "memory",
            SortKey::Disk => "disk I/O",
            SortKey::Net => "network I/O",
            SortKey::Name => "name",
            SortKey::Id => "id",
            SortKey::State => "state",
            SortKey::Uptime => "uptime",
        }
    }
}

pub const TOP_HEADER: [&str; 11] = [
    "ID", "NAME", "STATE", "CPU%", "RSS", "DISK R/s", "DISK W/s", "NET RX/s", "NET TX/s", "UPTIME",
    "RESTARTS",
];

/// One line of `crv top`.
#[derive(Debug, Clone, PartialEq)]
pub struct TopRow {
    pub id: i64,
    pub name: String,
    pub state: VmState,
    pub cpu_percent: Option<f64>,
    pub rss_bytes: Option<u64>,
    pub disk_read: Option<f64>,
    pub disk_write: Option<f64>,
    pub net_rx: Option<f64>,
    pub net_tx: Option<f64>,
    pub uptime_secs: Option<u64>,
    pub restarts: u64,
}

/// The sum of the rates that are known, `None` when none is.
fn total(rates: impl Iterator<Item = Option<Figure>>) -> Option<f64> {
    rates.flatten().map(|f| f.0).reduce(|a, b| a + b)
}

impl TopRow {
    pub fn of(stats: &VmStats) -> TopRow {
        let drives = &stats.block.drives;
        let nics = || stats.net.iter().filter_map(|nic| nic.counters.as_ref());
        TopRow {
            id: stats.vm_id,
            name: stats.vm_name.clone(),
            state: stats.status,
            cpu_percent: stats.cpu.as_ref().and_then(|c| c.percent).map(|f| f.0),
            rss_bytes: stats.memory.as_ref().map(|m| m.rss_bytes),
            disk_read: total(drives.iter().map(|d| d.rd_bytes_per_sec)),
            disk_write: total(drives.iter().map(|d| d.wr_bytes_per_sec)),
            net_rx: total(nics().map(|c| c.rx_bytes_per_sec)),
            net_tx: total(nics().map(|c| c.tx_bytes_per_sec)),
            uptime_secs: stats.uptime_secs,
            restarts: stats.restarts,
        }
    }

    pub fn cells(&self) -> [String; 11] {
        [
            self.id.to_string(),
            safe(&self.name).into_owned(),
            self.state.to_string(),
            self.cpu_percent.map_or_else(dash, |p| format!("{p:.1}")),
            self.rss_bytes.map_or_else(dash, bytes),
            rate(self.disk_read),
            rate(self.disk_write),
            rate(self.net_rx),
            rate(self.net_tx),
            self.uptime_secs.map_or_else(dash, humanize_secs),
            self.restarts.to_string(),
        ]
    }
}

/// Biggest first for figures (unknown ones last), A to Z for words.
pub fn sort(rows: &mut [TopRow], key: SortKey, reverse: bool) {
    let figure = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) => b.total_cmp(&a),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    };
    let sum = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (None, None) => None,
        (a, b) => Some(a.unwrap_or(0.0) + b.unwrap_or(0.0)),
    };
    rows.sort_by(|a, b| {
        let order = match key {
            SortKey::Cpu => figure(a.cpu_percent, b.cpu_percent),
            SortKey::Memory => figure(a.rss_bytes.map(|v| v as f64), b.rss_bytes.map(|v| v as f64)),
            SortKey::Disk => figure(
                sum(a.disk_read, a.disk_write),
                sum(b.disk_read, b.disk_write),
            ),
            SortKey::Net => figure(sum(a.net_rx, a.net_tx), sum(b.net_rx, b.net_tx)),
            SortKey::Uptime => figure(
                a.uptime_secs.map(|v| v as f64),
                b.uptime_secs.map(|v| v as f64),
            ),
            SortKey::Name => a.name.cmp(&b.name),
            SortKey::Id => a.id.cmp(&b.id),
            SortKey::State => a.state.cmp(&b.state),
        };
        let order = order.then(a.id.cmp(&b.id));
        if reverse { order.reverse() } else { order }
    });
}

fn dash() -> String {
    "-".to_owned()
}

/// `312.4 MiB`.
pub fn bytes(value: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut scaled = value as f64;
    let mut unit = 0;
    while scaled >= 1024.0 && unit + 1 < UNITS.len() {
        scaled /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{value} B")
    } else {
        format!("{scaled:.1} {}", UNITS[unit])
    }
}

/// `1.2 MiB/s`, or `-` when there is no rate yet.
pub fn rate(value: Option<f64>) -> String {
    value.map_or_else(dash, |v| format!("{}/s", bytes(v.max(0.0).round() as u64)))
}

fn figure_rate(value: Option<Figure>) -> String {
    rate(value.map(|f| f.0))
}

/// `crv top --once`: the table, printed once.
pub fn print_top(rows: &[TopRow], width: usize) {
    let mut columns = Columns::new(TOP_HEADER.to_vec());
    for row in rows {
        columns.row(row.cells().into_iter().map(Cell::plain).collect());
    }
    columns.print(width, 1);
}

/// `crv vm stats`: everything about one VM, a line per part.
pub fn print_vm(stats: &VmStats) {
    println!(
        "{} (id {}): {}{}, restarts {}",
        safe(&stats.vm_name),
        stats.vm_id,
        stats.status,
        stats
            .pid
            .map_or_else(String::new, |pid| format!(", pid {pid}")),
        stats.restarts
    );
    let Some(cpu) = &stats.cpu else {
        println!("no figures: the VM has no QEMU running");
        return;
    };
    if let Some(uptime) = stats.uptime_secs {
        println!("uptime:    {}", humanize_secs(uptime));
    }
    let over = stats.interval_secs.map_or_else(
        || "no rates yet: the collector has not read this QEMU before".to_owned(),
        |s| format!("rates over the last {:.1} s", s.0),
    );
    println!(
        "sampled:   {} ({over})",
        stats.sampled_at.as_deref().unwrap_or("-")
    );
    let percent = |p: Option<Figure>| p.map_or_else(dash, |p| format!("{:.1} %", p.0));
    println!(
        "cpu:       {} ({:.2} s: user {:.2} s, system {:.2} s)",
        percent(cpu.percent),
        cpu.seconds.0,
        cpu.user_seconds.0,
        cpu.system_seconds.0
    );
    for vcpu in &cpu.vcpus {
        println!(
            "  vcpu {}:  {} ({:.2} s, thread {})",
            vcpu.index,
            percent(vcpu.percent),
            vcpu.seconds.0,
            vcpu.thread_id
        );
    }
    if let Some(reason) = &cpu.vcpus_unavailable {
        println!("  vcpus:   unavailable: {}", safe(reason));
    }
    if let Some(memory) = &stats.memory {
        let balloon = memory
            .balloon_bytes
            .map_or_else(String::new, |b| format!(", balloon {}", bytes(b)));
        println!("memory:    rss {}{balloon}", bytes(memory.rss_bytes));
    }
    if let Some(reason) = &stats.block.unavailable {
        println!("block:     unavailable: {}", safe(reason));
    }
    for drive in &stats.block.drives {
        let id = drive
            .drive_id
            .map_or_else(|| drive.device.clone(), |id| format!("drive {id}"));
        println!(
            "{id}:   read {} ({}, {} ops), written {} ({}, {} ops), {} flushes",
            bytes(drive.rd_bytes),
            figure_rate(drive.rd_bytes_per_sec),
            drive.rd_operations,
            bytes(drive.wr_bytes),
            figure_rate(drive.wr_bytes_per_sec),
            drive.wr_operations,
            drive.flush_operations
        );
    }
    for nic in &stats.net {
        let on = nic
            .ifname
            .as_deref()
            .map_or_else(String::new, |name| format!(" on {}", safe(name)));
        let head = format!("nic {} ({}{on})", nic.nic_id, nic.nic_type);
        match (&nic.counters, &nic.unavailable) {
            (Some(c), _) => println!(
                "{head}: received {} ({}, {} packets), sent {} ({}, {} packets)",
                bytes(c.rx_bytes),
                figure_rate(c.rx_bytes_per_sec),
                c.rx_packets,
                bytes(c.tx_bytes),
                figure_rate(c.tx_bytes_per_sec),
                c.tx_packets
            ),
            (None, reason) => println!(
                "{head}: no counters: {}",
                safe(reason.as_deref().unwrap_or("unknown"))
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: i64, name: &str, cpu: Option<f64>) -> TopRow {
        let stats = VmStats::idle(id, name.into(), VmState::Running, 0);
        TopRow {
            cpu_percent: cpu,
            ..TopRow::of(&stats)
        }
    }

    #[test]
    fn figures_sort_biggest_first_with_unknown_last_and_words_a_to_z() {
        let mut rows = vec![
            row(1, "b", Some(5.0)),
            row(2, "c", None),
            row(3, "a", Some(50.0)),
        ];
        sort(&mut rows, SortKey::Cpu, false);
        assert_eq!(rows.iter().map(|r| r.id).collect::<Vec<_>>(), [3, 1, 2]);
        sort(&mut rows, SortKey::Name, false);
        assert_eq!(rows.iter().map(|r| r.id).collect::<Vec<_>>(), [3, 1, 2]);
        sort(&mut rows, SortKey::Id, true);
        assert_eq!(rows.iter().map(|r| r.id).collect::<Vec<_>>(), [3, 2, 1]);
        assert_eq!(SortKey::of_key('m'), Some(SortKey::Memory));
        assert_eq!(SortKey::of_key('q'), None);
    }

    #[test]
    fn sizes_and_rates_read_in_binary_units() {
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(3 * 1024 * 1024 / 2), "1.5 MiB");
        assert_eq!(rate(Some(2048.0)), "2.0 KiB/s");
        assert_eq!(rate(None), "-");
        let idle = row(1, "x", None).cells();
        assert_eq!(idle[3], "-");
        assert_eq!(idle[2], "running");
    }
}
