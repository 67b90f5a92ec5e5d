//! Disks as clients send and see them, and the progress frames of long
//! disk jobs (imports, clones).
//!
//! Field names equal the `disk` table's columns, because `crv --json`
//! prints these structs as they are.

use crate::enums::{DiskFormat, SnapshotAction};
use crate::model::{VmRef, VmSpec};
use serde::{Deserialize, Serialize};

/// A disk named by the user: a numeric id or a name, read like a VM's.
pub type DiskRef = VmRef;

/// A disk as the daemon knows it: its row, plus what qemu-img and the VM
/// definitions say about it now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiskInfo {
    pub id: i64,
    pub name: String,
    pub path: String,
    pub format: DiskFormat,
    /// The size the guest sees, in bytes.
    pub virtual_size: u64,
    /// The bytes the file occupies on the host; `None` when it is missing.
    pub actual_size: Option<u64>,
    /// Corvus created the file in its disk directory and may delete it;
    /// `false` for a registered file, which Corvus never deletes.
    pub managed: bool,
    pub backing_disk_id: Option<i64>,
    /// The names of the disks below this one, nearest first.
    pub backing_chain: Vec<String>,
    pub created_at: String,
    /// Internal snapshots (qcow2), filled by `show`.
    pub snapshots: Vec<DiskSnapshotInfo>,
    /// The VMs whose drives use this disk, directly or through an overlay.
    pub used_by: Vec<DiskUser>,
    /// What is wrong with the file, when something is (it is missing, say).
    pub problem: Option<String>,
    /// The node whose host holds the file (issue 19); it alone manages
    /// the disk, and requests for it through other nodes go there.
    pub node: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiskSnapshotInfo {
    pub id: String,
    pub name: String,
    /// RFC 3339 UTC time the snapshot was taken.
    pub created_at: String,
    pub vm_state_size: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiskUser {
    pub vm_id: i64,
    pub vm_name: String,
    /// False when the VM uses an overlay on this disk rather than the disk.
    pub direct: bool,
}

/// `crv disk import`: where the image comes from and how to keep it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportSpec {
    pub name: String,
    /// An absolute local path or an `http://` / `https://` URL.
    pub source: String,
    pub format: DiskFormat,
    /// The lower-case hex SHA-256 of the source as fetched.
    pub sha256: Option<String>,
    /// Accept a qcow2 whose header names a backing file, and copy the
    /// data of its whole chain into the new disk.
    pub flatten: bool,
}

/// `crv vm create NAME --image BASE`: a VM whose first drive is a new
/// overlay `NAME-root` on BASE.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageVmSpec {
    pub spec: VmSpec,
    pub image: DiskRef,
    /// Grow the overlay to this many bytes (never below BASE's size).
    pub disk_size: Option<u64>,
}

/// One `crv disk snapshot` operation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotSpec {
    pub disk: DiskRef,
    pub action: SnapshotAction,
    /// Required for create, delete and revert.
    pub snapshot: Option<String>,
}

/// Progress of a long job, sent on the connection that asked for it
/// between the request and its final `Reply`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobProgress {
    /// The daemon's number for the job, as in its log.
    pub job: u64,
    /// What the job is doing now: `fetching`, `converting`, `verifying`.
    pub phase: String,
    /// Bytes of the source done in this phase (while converting, qemu-img's
    /// percentage applied to the source's size).
    pub done: u64,
    /// The phase's total, when known (a download without Content-Length has none).
    pub total: Option<u64>,
}
