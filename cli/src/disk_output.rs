//! Printing disks: a table for `list`, key-value lines for `show`.

use crate::columns::{Cell, Columns};
use crate::output;
use corvus_protocol::{DiskInfo, DiskSnapshotInfo};

/// `20.0 GiB`: binary units, as sizes are typed.
pub fn size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

fn users(disk: &DiskInfo) -> String {
    if disk.used_by.is_empty() {
        return "-".into();
    }
    disk.used_by
        .iter()
        .map(|u| {
            if u.direct {
                u.vm_name.clone()
            } else {
                format!("{} (overlay)", u.vm_name)
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

pub fn list(disks: &[DiskInfo]) {
    if disks.is_empty() {
        println!(
            "No disks. Create one with `crv disk create NAME --size 20G` or `crv disk import NAME URL`."
        );
        return;
    }
    let mut columns = Columns::new(vec![
        "ID",
        "NAME",
        "FORMAT",
        "SIZE",
        "ALLOCATED",
        "BACKING",
        "USED BY",
        "KIND",
    ]);
    for disk in disks {
        let allocated = match (disk.actual_size, &disk.problem) {
            (Some(bytes), None) => size(bytes),
            _ => "MISSING".into(),
        };
        columns.row(vec![
            Cell::plain(disk.id.to_string()),
            Cell::plain(disk.name.as_str()),
            Cell::plain(disk.format.as_str()),
            Cell::plain(size(disk.virtual_size)),
            Cell::plain(allocated),
            Cell::plain(
                disk.backing_chain
                    .first()
                    .cloned()
                    .unwrap_or_else(|| "-".into()),
            ),
            Cell::plain(users(disk)),
            Cell::plain(if disk.managed {
                "managed"
            } else {
                "registered"
            }),
        ]);
    }
    columns.print(output::output_width(), 6);
}

pub fn show(disk: &DiskInfo) {
    let chain = if disk.backing_chain.is_empty() {
        "-".to_owned()
    } else {
        disk.backing_chain.join(" <- ")
    };
    let rows = [
        ("id", disk.id.to_string()),
        ("name", disk.name.clone()),
        (
            "problem",
            disk.problem.clone().unwrap_or_else(|| "-".into()),
        ),
        ("format", disk.format.to_string()),
        (
            "size",
            format!("{} ({} bytes)", size(disk.virtual_size), disk.virtual_size),
        ),
        (
            "allocated",
            disk.actual_size.map_or_else(|| "-".into(), size),
        ),
        (
            "kind",
            (if disk.managed {
                "managed (Corvus deletes the file with the disk)"
            } else {
                "registered (Corvus never deletes the file)"
            })
            .into(),
        ),
        ("backing chain", chain),
        ("used by", users(disk)),
        ("path", disk.path.clone()),
        ("created", disk.created_at.clone()),
    ];
    for (key, value) in rows {
        println!("{:<15}{value}", format!("{key}:"));
    }
    println!();
    snapshots(&disk.name, &disk.snapshots);
}

pub fn snapshots(disk: &str, snapshots: &[DiskSnapshotInfo]) {
    if snapshots.is_empty() {
        println!("No snapshots of disk '{disk}'.");
        return;
    }
    let mut columns = Columns::new(vec!["ID", "SNAPSHOT", "TAKEN"]);
    for snapshot in snapshots {
        columns.row(vec![
            Cell::plain(snapshot.id.as_str()),
            Cell::plain(snapshot.name.as_str()),
            Cell::plain(snapshot.created_at.as_str()),
        ]);
    }
    columns.print(output::output_width(), 1);
}
