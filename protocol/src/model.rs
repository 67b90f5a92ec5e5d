//! VM definitions as clients send them and as the daemon reports them.
//!
//! Field names equal the storage columns (DESIGN §7) because `crv --json`
//! prints these structs as they are.

use crate::cloud::{CloudInitInfo, CloudInitSpec, Forward};
use crate::enums::{
    AgentStatus, CacheMode, DisplayKind, DriveFormat, DriveInterface, DriveMedia, NicType,
    RestartPolicy, ShareCache, VmState,
};
use serde::{Deserialize, Serialize};
use std::fmt;

/// A VM named by the user: a numeric id or a name (names are never all digits).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum VmRef {
    Id(i64),
    Name(String),
}

impl VmRef {
    /// Reads what a user typed: all digits is an id, anything else a name.
    pub fn parse(text: &str) -> VmRef {
        match text.parse::<i64>() {
            Ok(id) if text.bytes().all(|b| b.is_ascii_digit()) => VmRef::Id(id),
            _ => VmRef::Name(text.to_owned()),
        }
    }
}

impl fmt::Display for VmRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VmRef::Id(id) => write!(f, "{id}"),
            VmRef::Name(name) => f.write_str(name),
        }
    }
}

/// Everything `crv vm create` can say about a new VM.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VmSpec {
    pub name: String,
    pub cpu_count: u32,
    pub ram_mb: u64,
    pub description: Option<String>,
    pub display: DisplayKind,
    pub cpu_model: Option<String>,
    pub stop_timeout_secs: Option<u32>,
    pub restart_policy: RestartPolicy,
    pub max_restarts: Option<u32>,
    pub restart_window_secs: Option<u32>,
    pub autostart: bool,
    pub kernel: Option<String>,
    pub initrd: Option<String>,
    pub cmdline: Option<String>,
    /// The guest agent's port; `None` is on with cloud-init, else off.
    pub guest_agent: Option<bool>,
    pub cloud_init: Option<CloudInitSpec>,
    /// Forwards for a user NIC added with the VM (`--forward`).
    pub forwards: Vec<Forward>,
    /// Empty PCIe root ports for devices added while the VM runs; `None`
    /// is [`DEFAULT_HOTPLUG_SLOTS`].
    #[serde(default)]
    pub hotplug_slots: Option<u32>,
    /// The node to define the VM on (issue 19); `None` places it on the
    /// live node with the most free RAM.
    #[serde(default)]
    pub node: Option<String>,
    /// Highly available (issue 19): started on a surviving node when its
    /// node is lost. Needs restart policy on-failure or always and every
    /// file on shared storage.
    #[serde(default)]
    pub ha: bool,
}

/// Hotplug slots a VM gets unless told otherwise (`--hotplug-slots`).
pub const DEFAULT_HOTPLUG_SLOTS: u32 = 4;

/// A partial update from `crv vm edit`: `None` keeps the current value.
/// For the optional text fields, `Some("")` clears the value.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VmChanges {
    pub cpu_count: Option<u32>,
    pub ram_mb: Option<u64>,
    pub description: Option<String>,
    pub display: Option<DisplayKind>,
    pub cpu_model: Option<String>,
    pub stop_timeout_secs: Option<u32>,
    pub restart_policy: Option<RestartPolicy>,
    pub max_restarts: Option<u32>,
    pub restart_window_secs: Option<u32>,
    pub autostart: Option<bool>,
    pub kernel: Option<String>,
    pub initrd: Option<String>,
    pub cmdline: Option<String>,
    pub guest_agent: Option<bool>,
    #[serde(default)]
    pub hotplug_slots: Option<u32>,
    /// `--ha true|false` (issue 19).
    #[serde(default)]
    pub ha: Option<bool>,
}

impl VmChanges {
    pub fn is_empty(&self) -> bool {
        *self == VmChanges::default()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DriveSpec {
    pub file_path: String,
    pub interface: DriveInterface,
    pub format: DriveFormat,
    pub media: DriveMedia,
    pub read_only: bool,
    pub cache: Option<CacheMode>,
    pub discard: bool,
    /// A Corvus disk instead of a plain file: `file_path` and `format`
    /// are then the disk's, whatever the client sent.
    pub disk: Option<VmRef>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NicSpec {
    pub nic_type: NicType,
    pub host_device: Option<String>,
    pub mac_address: Option<String>,
    /// Host ports forwarded to the guest (user NICs only).
    #[serde(default)]
    pub forwards: Vec<Forward>,
    /// The managed network of a `network` NIC, by name.
    #[serde(default)]
    pub network: Option<String>,
    /// A static lease on that network (`--ip`).
    #[serde(default)]
    pub ip_address: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShareSpec {
    pub path: String,
    pub tag: String,
    pub cache: ShareCache,
    pub read_only: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DriveInfo {
    pub id: i64,
    pub interface: DriveInterface,
    pub file_path: String,
    pub format: DriveFormat,
    pub media: DriveMedia,
    pub read_only: bool,
    pub cache: Option<CacheMode>,
    pub discard: bool,
    /// The Corvus disk this drive uses; `None` for a plain file.
    pub disk_id: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NicInfo {
    pub id: i64,
    #[serde(rename = "type")]
    pub nic_type: NicType,
    pub host_device: Option<String>,
    pub mac_address: String,
    #[serde(default)]
    pub forwards: Vec<Forward>,
    /// The managed network of a `network` NIC.
    #[serde(default)]
    pub network_id: Option<i64>,
    /// Its static lease, when it has one.
    #[serde(default)]
    pub ip_address: Option<String>,
    /// The address its network's dnsmasq leased to it (filled by `vm show`).
    #[serde(default)]
    pub lease_address: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShareInfo {
    pub id: i64,
    pub path: String,
    pub tag: String,
    pub cache: ShareCache,
    pub read_only: bool,
    /// The virtiofsd serving this share, while the VM runs.
    pub pid: Option<u32>,
}

/// Where a VM's sockets and logs live while it runs (DESIGN §5).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuntimePaths {
    pub dir: String,
    pub qmp: String,
    pub monitor: String,
    pub spice: String,
    pub serial: String,
    pub serial_log: String,
}

/// A VM as the daemon knows it: definition plus runtime state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VmInfo {
    pub id: i64,
    pub name: String,
    pub created_at: String,
    pub updated_at: String,
    pub status: VmState,
    pub cpu_count: u32,
    pub ram_mb: u64,
    pub description: Option<String>,
    pub pid: Option<u32>,
    pub restart_policy: RestartPolicy,
    pub max_restarts: u32,
    pub restart_window_secs: u32,
    pub stop_timeout_secs: Option<u32>,
    pub autostart: bool,
    pub display: DisplayKind,
    pub cpu_model: Option<String>,
    pub kernel: Option<String>,
    pub initrd: Option<String>,
    pub cmdline: Option<String>,
    pub last_error: Option<String>,
    pub drives: Vec<DriveInfo>,
    pub network_interfaces: Vec<NicInfo>,
    pub shared_dirs: Vec<ShareInfo>,
    pub runtime: RuntimePaths,
    /// The QEMU guest agent's port is part of the VM.
    pub guest_agent: bool,
    pub agent: AgentStatus,
    /// The guest's addresses as its agent last reported them (no loopback).
    pub ip_addresses: Vec<String>,
    pub cloud_init: Option<CloudInitInfo>,
    /// Empty PCIe root ports QEMU gets at boot, for devices added live.
    #[serde(default)]
    pub hotplug_slots: u32,
    /// The node that owns the VM: the only one that runs it (issue 19).
    #[serde(default)]
    pub node: String,
    /// Started on a surviving node when its node is lost (issue 19).
    #[serde(default)]
    pub ha: bool,
}

#[cfg(test)]
mod tests {
    use super::VmRef;

    #[test]
    fn digits_are_ids_and_everything_else_is_a_name() {
        assert_eq!(VmRef::parse("42"), VmRef::Id(42));
        assert_eq!(VmRef::parse("web-1"), VmRef::Name("web-1".into()));
        assert_eq!(VmRef::parse("+42"), VmRef::Name("+42".into()));
        assert_eq!(
            VmRef::parse("99999999999999999999"),
            VmRef::Name("99999999999999999999".into())
        );
    }
}
