//! Printing disks: a table for `list`, key-value lines for `show`.

use crate::columns::{Cell, Columns};
use crate::output;
use corvus_protocol::{DiskInfo, DiskSnapshotInfo};
use std::collections::BTreeSet;

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
    columns(disks).print(output::output_width(), 6);
}

/// The table; a NODE column when the disks are on several nodes.
fn columns(disks: &[DiskInfo]) -> Columns {
    let nodes: BTreeSet<&str> = disks.iter().filter_map(|d| d.node.as_deref()).collect();
    let several_nodes = nodes.len() > 1;
    let mut header = vec!["ID", "NAME"];
    if several_nodes {
        header.push("NODE");
    }
    header.extend(["FORMAT", "SIZE", "ALLOCATED", "BACKING", "USED BY", "KIND"]);
    let mut columns = Columns::new(header);
    for disk in disks {
        let allocated = match (disk.actual_size, &disk.problem) {
            (Some(bytes), None) => size(bytes),
            // Another node's disk that node did not list: unknown here.
            (None, Some(problem)) if problem.starts_with("node '") => "?".into(),
            _ => "MISSING".into(),
        };
        let mut row = vec![
            Cell::plain(disk.id.to_string()),
            Cell::plain(disk.name.as_str()),
        ];
        if several_nodes {
            row.push(Cell::plain(disk.node.as_deref().unwrap_or("-")));
        }
        row.extend([
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
        columns.row(row);
    }
    columns
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
        ("node", disk.node.clone().unwrap_or_else(|| "-".into())),
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

#[cfg(test)]
mod tests {
    use super::*;
    use corvus_protocol::DiskFormat;

    fn disk(id: i64, node: &str, problem: Option<&str>) -> DiskInfo {
        DiskInfo {
            id,
            name: format!("d{id}"),
            path: format!("/d/{id}.qcow2"),
            format: DiskFormat::Qcow2,
            virtual_size: 1 << 30,
            actual_size: problem.is_none().then_some(1 << 20),
            managed: true,
            backing_disk_id: None,
            backing_chain: Vec::new(),
            created_at: String::new(),
            snapshots: Vec::new(),
            used_by: Vec::new(),
            problem: problem.map(str::to_owned),
            node: Some(node.to_owned()),
        }
    }

    fn render(disks: &[DiskInfo]) -> String {
        let mut out = Vec::new();
        columns(disks).write(&mut out, 200, 6).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn disks_of_several_nodes_show_a_node_column_and_unknown_sizes() {
        let one = render(&[disk(1, "a", None), disk(2, "a", None)]);
        assert!(!one.contains("NODE"), "{one}");
        let text = render(&[
            disk(1, "a", None),
            disk(
                2,
                "b",
                Some("node 'b' did not list it (dead); shown as stored"),
            ),
            disk(3, "b", Some("the file /d/3.qcow2 is missing")),
        ]);
        let lines: Vec<Vec<&str>> = text
            .lines()
            .map(|line| line.split_whitespace().collect())
            .collect();
        assert_eq!(lines[0][..4], ["ID", "NAME", "NODE", "FORMAT"], "{text}");
        assert_eq!(lines[1][..3], ["1", "d1", "a"], "{text}");
        assert_eq!(lines[2][6], "?", "{text}");
        assert_eq!(lines[3][6], "MISSING", "{text}");
    }
}
