//! Rows to protocol types. Enum columns are text; a value that does not
//! parse means someone edited the database by hand, and says so.

use crate::entity::{
    cloud_init, deleted_vm_event, drive, network_interface, shared_dir, vm, vm_event,
};
use crate::error::StorageError;
use chrono::{DateTime, SecondsFormat, Utc};
use corvus_protocol::{
    AgentStatus, CloudInitInfo, DriveInfo, EventCause, EventKind, NicInfo, RuntimePaths, ShareInfo,
    VmEvent, VmInfo, VmState,
};
use std::str::FromStr;

/// A VM row with its child rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredVm {
    pub vm: vm::Model,
    pub drives: Vec<drive::Model>,
    pub nics: Vec<network_interface::Model>,
    pub shares: Vec<shared_dir::Model>,
    pub cloud_init: Option<cloud_init::Model>,
}

pub fn timestamp(at: &DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn parse<T: FromStr>(column: &'static str, value: &str) -> Result<T, StorageError> {
    value.parse().map_err(|_| StorageError::Corrupt {
        column,
        value: value.to_owned(),
    })
}

fn parse_opt<T: FromStr>(
    column: &'static str,
    value: Option<&str>,
) -> Result<Option<T>, StorageError> {
    value.map(|v| parse(column, v)).transpose()
}

fn unsigned<T: TryFrom<i64>>(column: &'static str, value: i64) -> Result<T, StorageError> {
    T::try_from(value).map_err(|_| StorageError::Corrupt {
        column,
        value: value.to_string(),
    })
}

impl StoredVm {
    pub fn into_info(self, runtime: RuntimePaths) -> Result<VmInfo, StorageError> {
        let vm = self.vm;
        Ok(VmInfo {
            id: vm.id,
            created_at: timestamp(&vm.created_at),
            updated_at: timestamp(&vm.updated_at),
            status: parse("vm.status", &vm.status)?,
            cpu_count: unsigned("vm.cpu_count", vm.cpu_count.into())?,
            ram_mb: unsigned("vm.ram_mb", vm.ram_mb)?,
            description: vm.description,
            pid: vm.pid.map(|p| unsigned("vm.pid", p.into())).transpose()?,
            restart_policy: parse("vm.restart_policy", &vm.restart_policy)?,
            max_restarts: unsigned("vm.max_restarts", vm.max_restarts.into())?,
            restart_window_secs: unsigned("vm.restart_window_secs", vm.restart_window_secs.into())?,
            stop_timeout_secs: vm
                .stop_timeout_secs
                .map(|s| unsigned("vm.stop_timeout_secs", s.into()))
                .transpose()?,
            autostart: vm.autostart,
            display: parse("vm.display", &vm.display)?,
            cpu_model: vm.cpu_model,
            kernel: vm.kernel,
            initrd: vm.initrd,
            cmdline: vm.cmdline,
            last_error: vm.last_error,
            guest_agent: vm.guest_agent,
            hotplug_slots: unsigned("vm.hotplug_slots", vm.hotplug_slots.into())?,
            agent: if vm.guest_agent {
                AgentStatus::NotResponding
            } else {
                AgentStatus::Off
            },
            ip_addresses: Vec::new(),
            cloud_init: self.cloud_init.map(cloud_init_info).transpose()?,
            name: vm.name,
            drives: self
                .drives
                .into_iter()
                .map(drive_info)
                .collect::<Result<_, _>>()?,
            network_interfaces: self
                .nics
                .into_iter()
                .map(nic_info)
                .collect::<Result<_, _>>()?,
            shared_dirs: self
                .shares
                .into_iter()
                .map(share_info)
                .collect::<Result<_, _>>()?,
            runtime,
            node: vm.node.unwrap_or_default(),
            ha: vm.ha,
        })
    }
}

pub fn drive_info(row: drive::Model) -> Result<DriveInfo, StorageError> {
    Ok(DriveInfo {
        id: row.id,
        interface: parse("drive.interface", &row.interface)?,
        format: parse("drive.format", &row.format)?,
        media: parse("drive.media", &row.media)?,
        read_only: row.read_only,
        cache: parse_opt("drive.cache", row.cache.as_deref())?,
        discard: row.discard,
        file_path: row.file_path,
        disk_id: row.disk_id,
    })
}

pub fn nic_info(row: network_interface::Model) -> Result<NicInfo, StorageError> {
    Ok(NicInfo {
        id: row.id,
        nic_type: parse("network_interface.type", &row.nic_type)?,
        host_device: row.host_device,
        mac_address: row.mac_address,
        forwards: serde_json::from_str(&row.forwards).map_err(|_| StorageError::Corrupt {
            column: "network_interface.forwards",
            value: row.forwards.clone(),
        })?,
        network_id: row.network_id,
        ip_address: row.ip_address,
        lease_address: None,
    })
}

pub fn cloud_init_info(row: cloud_init::Model) -> Result<CloudInitInfo, StorageError> {
    Ok(CloudInitInfo {
        ssh_keys: serde_json::from_str(&row.ssh_keys).map_err(|_| StorageError::Corrupt {
            column: "cloud_init.ssh_keys",
            value: row.ssh_keys.clone(),
        })?,
        user: row.user_name,
        hostname: row.hostname,
        user_data: row.user_data,
        network_config: row.network_config,
        instance_id: row.instance_id,
    })
}

pub fn share_info(row: shared_dir::Model) -> Result<ShareInfo, StorageError> {
    Ok(ShareInfo {
        id: row.id,
        cache: parse("shared_dir.cache", &row.cache)?,
        read_only: row.read_only,
        pid: row
            .pid
            .map(|p| unsigned("shared_dir.pid", p.into()))
            .transpose()?,
        path: row.path,
        tag: row.tag,
    })
}

fn cause(column: &'static str, json: &str) -> Result<EventCause, StorageError> {
    serde_json::from_str(json).map_err(|_| StorageError::Corrupt {
        column,
        value: json.to_owned(),
    })
}

pub fn event_from_row(row: vm_event::Model, vm_name: String) -> Result<VmEvent, StorageError> {
    Ok(VmEvent {
        seq: unsigned("vm_event.seq", row.seq)?,
        at: timestamp(&row.at),
        vm_id: row.vm_id,
        vm_name,
        from: parse::<VmState>("vm_event.from_status", &row.from_status)?,
        to: parse::<VmState>("vm_event.to_status", &row.to_status)?,
        cause: cause("vm_event.cause", &row.cause)?,
        reason: row.reason,
        kind: parse::<EventKind>("vm_event.kind", &row.kind)?,
    })
}

pub fn event_of_deleted_vm(row: deleted_vm_event::Model) -> Result<VmEvent, StorageError> {
    Ok(VmEvent {
        seq: unsigned("deleted_vm_event.seq", row.seq)?,
        at: timestamp(&row.at),
        vm_id: row.vm_id,
        vm_name: row.vm_name,
        from: parse::<VmState>("deleted_vm_event.from_status", &row.from_status)?,
        to: parse::<VmState>("deleted_vm_event.to_status", &row.to_status)?,
        cause: cause("deleted_vm_event.cause", &row.cause)?,
        reason: row.reason,
        kind: parse::<EventKind>("deleted_vm_event.kind", &row.kind)?,
    })
}
