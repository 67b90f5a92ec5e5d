//! `crv vm snapshot`: internal snapshots of a whole VM (every qcow2 drive
//! at one instant, and with `--with-ram` its RAM and device state).

use crate::enums::SnapshotAction;
use crate::model::VmRef;
use serde::{Deserialize, Serialize};

/// One `crv vm snapshot` operation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VmSnapshotSpec {
    pub vm: VmRef,
    pub action: SnapshotAction,
    /// Required for create, delete and revert.
    pub name: Option<String>,
    /// Create only: the RAM and device state too (the VM must run).
    pub with_ram: bool,
}

/// A VM snapshot as recorded, reconciled with what the images hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VmSnapshotInfo {
    pub name: String,
    /// RFC 3339 UTC time the snapshot was taken.
    pub created_at: String,
    pub with_ram: bool,
    /// The bytes of RAM and device state it holds (0 without RAM).
    pub size: u64,
    /// What is wrong with it, e.g. a drive that lacks it.
    pub problem: Option<String>,
}
