//! VM events: one per state change or definition change, with its cause.

use crate::enums::{EventKind, VmState};
use crate::model::VmRef;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VmEvent {
    /// Increases by one for every event the daemon emits, across restarts.
    pub seq: u64,
    /// RFC 3339 UTC time of the change.
    pub at: String,
    pub vm_id: i64,
    pub vm_name: String,
    pub from: VmState,
    pub to: VmState,
    pub reason: String,
    pub cause: EventCause,
    /// A state change, or the VM defined, edited or deleted (then `from`
    /// and `to` are its unchanged state).
    #[serde(default)]
    pub kind: EventKind,
}

impl VmEvent {
    /// What happened, in a few words: `stopped -> starting`, `defined`.
    pub fn change(&self) -> String {
        match self.kind {
            EventKind::State => format!("{} -> {}", self.from, self.to),
            EventKind::Defined | EventKind::Edited | EventKind::Deleted => {
                self.kind.as_str().to_owned()
            }
        }
    }
}

/// Who or what caused a state change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventCause {
    /// A client command, with the connection that sent it and the client's
    /// identity: its certificate's name, `unix:UID` on the Unix socket.
    Operator {
        connection: u64,
        command: String,
        /// Empty in events stored before identities were recorded.
        #[serde(default)]
        client: String,
    },
    /// The guest itself: an ACPI poweroff, a panic.
    Guest,
    /// A QMP event that nobody in Corvus asked for (e.g. `stop` typed in the monitor).
    QemuEvent { event: String },
    /// QEMU exited on its own.
    QemuExit {
        code: Option<i32>,
        signal: Option<i32>,
    },
    /// The restart policy restarted the VM.
    RestartPolicy { attempt: u32 },
    /// A stop that ran out of time and was escalated to signals.
    TimeoutEscalation,
    /// The daemon found the VM's QEMU at startup (or found it gone).
    Readoption,
    /// The VM's autostart flag at daemon start.
    Autostart,
    /// The daemon itself: its supervisor or its shutdown.
    Daemon,
    /// Failover (issue 19): `node` was lost (its VMs marked, an HA VM
    /// taken over by a survivor), or this node fenced itself.
    Node { node: String },
}

impl EventCause {
    /// A short human phrase for one-line output.
    pub fn describe(&self) -> String {
        match self {
            EventCause::Operator {
                connection,
                command,
                client,
            } if client.is_empty() => format!("operator `{command}` (connection {connection})"),
            EventCause::Operator {
                connection,
                command,
                client,
            } => format!("operator `{command}` by {client} (connection {connection})"),
            EventCause::Guest => "guest".to_owned(),
            EventCause::QemuEvent { event } => format!("QEMU event {event}"),
            EventCause::QemuExit { code, signal } => match (code, signal) {
                (_, Some(signal)) => format!("QEMU killed by signal {signal}"),
                (Some(code), None) => format!("QEMU exited with status {code}"),
                (None, None) => "QEMU exited".to_owned(),
            },
            EventCause::RestartPolicy { attempt } => format!("restart policy (attempt {attempt})"),
            EventCause::TimeoutEscalation => "stop timeout escalation".to_owned(),
            EventCause::Readoption => "daemon re-adoption".to_owned(),
            EventCause::Autostart => "autostart".to_owned(),
            EventCause::Daemon => "daemon".to_owned(),
            EventCause::Node { node } => format!("node '{node}'"),
        }
    }
}

/// Which events a subscriber wants.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscribeFilter {
    /// Only these VMs; empty means all.
    pub vms: Vec<VmRef>,
    /// Replay stored events with a larger `seq` first, then continue live.
    pub since: Option<u64>,
}
