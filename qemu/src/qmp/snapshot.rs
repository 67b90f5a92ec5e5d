//! The QMP side of internal snapshots on a running QEMU: the
//! `snapshot-save`/`snapshot-load`/`snapshot-delete` jobs (QEMU ≥ 6.0),
//! followed through `query-jobs`; a disk-only snapshot of several drives
//! at one instant (`transaction` of `blockdev-snapshot-internal-sync`);
//! and the snapshots each block node holds (`query-named-block-nodes`).

use super::commands::QmpCommands;
use super::error::QmpError;
use crate::img::SnapshotInfo;
use serde::Deserialize;
use serde_json::{Value, json};
use std::time::Duration;
use tokio::time::Instant;

/// How often a job is asked about: each poll's wait adds to the latency.
const POLL: Duration = Duration::from_millis(20);

/// One of the snapshot jobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SnapshotJob<'a> {
    /// RAM and device state into `vmstate`, disk state into every node.
    Save {
        vmstate: &'a str,
    },
    /// The reverse of `Save`; QEMU resumes the guest if it ran before.
    Load {
        vmstate: &'a str,
    },
    Delete,
}

impl SnapshotJob<'_> {
    fn command(&self) -> &'static str {
        match self {
            SnapshotJob::Save { .. } => "snapshot-save",
            SnapshotJob::Load { .. } => "snapshot-load",
            SnapshotJob::Delete => "snapshot-delete",
        }
    }
}

/// A block node and the internal snapshots its image holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeSnapshots {
    pub node_name: String,
    /// The image's format driver (`qcow2`, `raw`, ...).
    pub format: String,
    pub snapshots: Vec<SnapshotInfo>,
}

#[derive(Deserialize)]
struct NamedNode {
    #[serde(rename = "node-name", default)]
    node_name: String,
    #[serde(default)]
    drv: String,
    image: Option<NodeImage>,
}

#[derive(Deserialize)]
struct NodeImage {
    #[serde(default)]
    snapshots: Vec<SnapshotInfo>,
}

#[derive(Deserialize)]
struct JobInfo {
    id: String,
    status: String,
    #[serde(default)]
    error: Option<String>,
}

impl QmpCommands {
    /// Runs a snapshot job named `job_id` over `devices` (block node
    /// names) to its end: `Ok` once it concluded without error, QEMU's
    /// reason otherwise. The job is dismissed either way.
    pub async fn snapshot_job(
        &self,
        job: SnapshotJob<'_>,
        job_id: &str,
        tag: &str,
        devices: &[String],
        deadline: Duration,
    ) -> Result<(), QmpError> {
        // A job of ours that outlived its deadline earlier is dismissed once
        // it has concluded; one still running is QEMU's to finish first.
        if let Some(earlier) = self.job(job_id).await? {
            if earlier.status != "concluded" {
                return Err(QmpError::Refused {
                    class: "GenericError".into(),
                    desc: format!(
                        "an earlier snapshot job ({job_id}) is still {} in QEMU; retry once it is done",
                        earlier.status
                    ),
                });
            }
            self.execute_value("job-dismiss", json!({ "id": job_id }))
                .await?;
        }
        let mut arguments = json!({ "job-id": job_id, "tag": tag, "devices": devices });
        if let SnapshotJob::Save { vmstate } | SnapshotJob::Load { vmstate } = job {
            arguments["vmstate"] = Value::from(vmstate);
        }
        self.execute_value(job.command(), arguments).await?;
        let until = Instant::now() + deadline;
        loop {
            let Some(ours) = self.job(job_id).await? else {
                return Err(QmpError::Protocol(format!(
                    "{} job {job_id} vanished before it concluded",
                    job.command()
                )));
            };
            if ours.status == "concluded" {
                self.execute_value("job-dismiss", json!({ "id": job_id }))
                    .await?;
                return match ours.error {
                    None => Ok(()),
                    Some(reason) => Err(QmpError::Refused {
                        class: "GenericError".into(),
                        desc: reason,
                    }),
                };
            }
            if Instant::now() >= until {
                // A job that runs on past its deadline cannot be cancelled
                // (snapshot jobs ignore job-cancel); it is left to finish.
                return Err(QmpError::Timeout);
            }
            tokio::time::sleep(POLL).await;
        }
    }

    async fn job(&self, job_id: &str) -> Result<Option<JobInfo>, QmpError> {
        let jobs: Vec<JobInfo> = serde_json::from_value(
            self.execute_value("query-jobs", json!({})).await?,
        )
        .map_err(|err| QmpError::Protocol(format!("unexpected reply to query-jobs: {err}")))?;
        Ok(jobs.into_iter().find(|info| info.id == job_id))
    }

    /// A disk-only snapshot named `tag` of every node in `devices`, taken
    /// at one instant (one transaction: all or none).
    pub async fn internal_snapshot(&self, tag: &str, devices: &[String]) -> Result<(), QmpError> {
        let actions: Vec<Value> = devices
            .iter()
            .map(|device| {
                json!({
                    "type": "blockdev-snapshot-internal-sync",
                    "data": { "device": device, "name": tag },
                })
            })
            .collect();
        self.execute_value("transaction", json!({ "actions": actions }))
            .await
            .map(drop)
    }

    /// Every named block node with its format and internal snapshots.
    pub async fn node_snapshots(&self) -> Result<Vec<NodeSnapshots>, QmpError> {
        let value = self
            .execute_value("query-named-block-nodes", json!({ "flat": true }))
            .await?;
        let nodes: Vec<NamedNode> = serde_json::from_value(value).map_err(|err| {
            QmpError::Protocol(format!(
                "unexpected reply to query-named-block-nodes: {err}"
            ))
        })?;
        Ok(nodes
            .into_iter()
            .map(|node| NodeSnapshots {
                node_name: node.node_name,
                format: node.drv,
                snapshots: node.image.map(|image| image.snapshots).unwrap_or_default(),
            })
            .collect())
    }
}
