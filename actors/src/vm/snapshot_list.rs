//! `crv vm snapshot list`: the recorded snapshots reconciled with what the
//! images hold. A row whose snapshot is on no drive any more is dropped; a
//! snapshot on every drive without a row (taken by hand with qemu-img, or
//! whose row a failed write lost) is recorded; one on some drives only is
//! listed with the drives that lack it.

use super::snapshot::{Target, Work, targets};
use super::{Reply, VmActorRef, VmActorState, VmMsg, VmReply};
use crate::wire::db;
use chrono::{DateTime, SecondsFormat, Utc};
use corvus_protocol::{DriveFormat, Response, VmSnapshotInfo, WireError};
use corvus_storage::SnapshotRow;
use tracing::{Instrument, info};

/// What the images say about the rows.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Reconciled {
    pub added: Vec<SnapshotRow>,
    pub removed: Vec<String>,
    pub listing: Vec<VmSnapshotInfo>,
}

impl VmActorState {
    /// Lists as a task; other snapshot work waits for it, as it may write.
    pub(super) fn list_snapshots(&mut self, myself: &VmActorRef, reply: Reply) {
        self.snapshotting = true;
        let work = self.snapshot_work();
        let me = myself.clone();
        tokio::spawn(
            async move {
                let result = list(&work).await.map(|snapshots| Response::VmSnapshots {
                    vm: work.vm.name.clone(),
                    snapshots,
                });
                let _ = me.cast(VmMsg::SnapshotsListed { result, reply });
            }
            .in_current_span(),
        );
    }

    pub(super) fn snapshots_listed(
        &mut self,
        myself: &VmActorRef,
        result: Result<Response, WireError>,
        reply: Reply,
    ) {
        self.snapshotting = false;
        let _ = reply.send(result.map(VmReply::Response));
        self.replay_deferred(myself);
    }
}

async fn list(work: &Work) -> Result<Vec<VmSnapshotInfo>, WireError> {
    let rows = db(work.store.vm_snapshots(work.vm.id)).await?;
    let targets = targets(work).await?;
    let qcow2: Vec<&Target> = targets
        .iter()
        .filter(|t| t.drive.format == DriveFormat::Qcow2)
        .collect();
    let reconciled = reconcile(&rows, &qcow2);
    if !reconciled.added.is_empty() || !reconciled.removed.is_empty() {
        info!(
            added = ?reconciled.added.iter().map(|r| &r.name).collect::<Vec<_>>(),
            removed = ?reconciled.removed,
            "snapshot records reconciled with the images"
        );
        db(work
            .store
            .change_vm_snapshots(work.vm.id, &reconciled.added, &reconciled.removed))
        .await?;
    }
    Ok(reconciled.listing)
}

fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Compares the rows with the snapshots of the qcow2 drives.
pub(super) fn reconcile(rows: &[SnapshotRow], targets: &[&Target]) -> Reconciled {
    let mut out = Reconciled::default();
    let lacking = |name: &str| -> Vec<String> {
        targets
            .iter()
            .filter(|t| t.find(name).is_none())
            .map(|t| t.describe())
            .collect()
    };
    let problem = |lacking: Vec<String>| {
        (!lacking.is_empty()).then(|| format!("missing from {}", lacking.join(", ")))
    };
    let mut entries: Vec<(DateTime<Utc>, VmSnapshotInfo)> = Vec::new();
    for row in rows {
        let missing = lacking(&row.name);
        if !targets.is_empty() && missing.len() == targets.len() {
            out.removed.push(row.name.clone());
            continue;
        }
        let problem = match targets.is_empty() {
            true => Some("no qcow2 drive holds it".to_owned()),
            false => problem(missing),
        };
        entries.push((
            row.created_at,
            VmSnapshotInfo {
                name: row.name.clone(),
                created_at: rfc3339(row.created_at),
                with_ram: row.with_ram,
                size: row.size_bytes,
                problem,
            },
        ));
    }
    let mut seen: Vec<&str> = rows.iter().map(|r| r.name.as_str()).collect();
    for target in targets {
        for snapshot in &target.snapshots {
            if seen.contains(&snapshot.name.as_str()) {
                continue;
            }
            seen.push(&snapshot.name);
            let holders: Vec<_> = targets
                .iter()
                .filter_map(|t| t.find(&snapshot.name))
                .collect();
            let created_at = DateTime::from_timestamp(snapshot.date_sec, 0).unwrap_or_default();
            let size = holders.iter().map(|s| s.vm_state_size).max().unwrap_or(0);
            let missing = lacking(&snapshot.name);
            let complete = missing.is_empty();
            if complete {
                out.added.push(SnapshotRow {
                    name: snapshot.name.clone(),
                    created_at,
                    with_ram: size > 0,
                    size_bytes: size,
                });
            }
            entries.push((
                created_at,
                VmSnapshotInfo {
                    name: snapshot.name.clone(),
                    created_at: rfc3339(created_at),
                    with_ram: size > 0,
                    size,
                    problem: problem(missing),
                },
            ));
        }
    }
    entries.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.name.cmp(&b.1.name)));
    out.listing = entries.into_iter().map(|(_, info)| info).collect();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use corvus_protocol::{DriveInfo, DriveInterface, DriveMedia};
    use corvus_qemu::img::SnapshotInfo;

    fn target(id: i64, names: &[(&str, u64)]) -> Target {
        Target {
            drive: DriveInfo {
                id,
                interface: DriveInterface::Virtio,
                file_path: format!("/img/{id}.qcow2"),
                format: DriveFormat::Qcow2,
                media: DriveMedia::Disk,
                read_only: false,
                cache: None,
                discard: false,
                disk_id: None,
            },
            snapshots: names
                .iter()
                .enumerate()
                .map(|(i, (name, size))| SnapshotInfo {
                    id: (i + 1).to_string(),
                    name: (*name).to_owned(),
                    date_sec: 1_800_000_000 + i as i64,
                    vm_state_size: *size,
                })
                .collect(),
        }
    }

    fn row(name: &str) -> SnapshotRow {
        SnapshotRow {
            name: name.into(),
            created_at: DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
            with_ram: true,
            size_bytes: 7,
        }
    }

    #[test]
    fn rows_follow_the_images() {
        let a = target(1, &[("kept", 7), ("by-hand", 0), ("half", 0)]);
        let b = target(2, &[("kept", 0), ("by-hand", 0)]);
        let rows = [row("kept"), row("vanished")];
        let out = reconcile(&rows, &[&a, &b]);
        assert_eq!(out.removed, vec!["vanished".to_owned()]);
        assert_eq!(out.added.len(), 1);
        assert_eq!(out.added[0].name, "by-hand");
        assert!(!out.added[0].with_ram);
        let names: Vec<_> = out.listing.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["kept", "by-hand", "half"]);
        assert_eq!(out.listing[0].problem, None);
        assert_eq!(
            out.listing[2].problem.as_deref(),
            Some("missing from drive 2 (/img/2.qcow2)")
        );
    }

    #[test]
    fn without_qcow2_drives_rows_stay_with_a_problem() {
        let out = reconcile(&[row("kept")], &[]);
        assert!(out.removed.is_empty());
        assert_eq!(
            out.listing[0].problem.as_deref(),
            Some("no qcow2 drive holds it")
        );
    }
}
