//! QMP events, decoded loosely: only the fields Corvus acts on are read, and
//! any event name is accepted, so a newer (or older) QEMU cannot break the
//! stream the way qapi's generated event enum does on unknown events.

use serde_json::Value;
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::RecvError;

/// Events buffered for a slow reader before the oldest are dropped.
pub const EVENT_BUFFER: usize = 256;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QmpEvent {
    /// The VM paused (QMP `stop`, HMP `stop`, an I/O error policy...).
    Stop,
    Resume,
    /// QEMU is shutting down; `guest` is true when the guest asked (poweroff,
    /// or a reboot with `-no-reboot`). `reason` is QEMU's word, such as
    /// `guest-shutdown`, `host-signal`, `host-qmp-quit`.
    Shutdown {
        guest: bool,
        reason: String,
    },
    /// An ACPI power button press was delivered (`system_powerdown`).
    Powerdown,
    Reset {
        guest: bool,
    },
    /// `action` is what QEMU does about it: `pause`, `poweroff` or `run`.
    GuestPanicked {
        action: String,
    },
    /// A device left the machine (an unplug the guest agreed to); `device`
    /// is its id, empty for devices without one.
    DeviceDeleted {
        device: String,
    },
    /// Any other event, by name.
    Other {
        name: String,
    },
    /// The reader fell behind and this many events were dropped (the oldest
    /// first); the state must be re-read with `query-status`.
    Lagged {
        missed: u64,
    },
}

impl QmpEvent {
    /// Decodes `{"event": NAME, "data": {...}}`; absent fields take neutral
    /// values rather than failing.
    pub(crate) fn from_json(name: &str, data: Option<&Value>) -> QmpEvent {
        let flag = |key| {
            data.and_then(|d| d.get(key))
                .and_then(Value::as_bool)
                .unwrap_or(false)
        };
        let text = |key| {
            data.and_then(|d| d.get(key))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        match name {
            "STOP" => QmpEvent::Stop,
            "RESUME" => QmpEvent::Resume,
            "SHUTDOWN" => QmpEvent::Shutdown {
                guest: flag("guest"),
                reason: text("reason"),
            },
            "POWERDOWN" => QmpEvent::Powerdown,
            "RESET" => QmpEvent::Reset {
                guest: flag("guest"),
            },
            "GUEST_PANICKED" => QmpEvent::GuestPanicked {
                action: text("action"),
            },
            "DEVICE_DELETED" => QmpEvent::DeviceDeleted {
                device: text("device"),
            },
            other => QmpEvent::Other {
                name: other.to_owned(),
            },
        }
    }
}

/// The event half of a session. Events are buffered from the moment the
/// session starts, whether or not anyone is reading; the buffer keeps the
/// newest [`EVENT_BUFFER`] and reports drops as [`QmpEvent::Lagged`].
#[derive(Debug)]
pub struct QmpEvents {
    receiver: broadcast::Receiver<QmpEvent>,
}

impl QmpEvents {
    pub(crate) fn new(receiver: broadcast::Receiver<QmpEvent>) -> QmpEvents {
        QmpEvents { receiver }
    }

    /// The next event; `None` once the connection has closed and every
    /// buffered event was read.
    pub async fn next(&mut self) -> Option<QmpEvent> {
        match self.receiver.recv().await {
            Ok(event) => Some(event),
            Err(RecvError::Lagged(missed)) => Some(QmpEvent::Lagged { missed }),
            Err(RecvError::Closed) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn known_events_keep_their_fields() {
        let shutdown = json!({"guest": false, "reason": "host-signal"});
        assert_eq!(
            QmpEvent::from_json("SHUTDOWN", Some(&shutdown)),
            QmpEvent::Shutdown {
                guest: false,
                reason: "host-signal".into()
            }
        );
        let reset = json!({"guest": true, "reason": "guest-reset"});
        assert_eq!(
            QmpEvent::from_json("RESET", Some(&reset)),
            QmpEvent::Reset { guest: true }
        );
        let panic = json!({"action": "pause", "info": {"type": "hyper-v"}});
        assert_eq!(
            QmpEvent::from_json("GUEST_PANICKED", Some(&panic)),
            QmpEvent::GuestPanicked {
                action: "pause".into()
            }
        );
        assert_eq!(QmpEvent::from_json("STOP", None), QmpEvent::Stop);
        assert_eq!(QmpEvent::from_json("RESUME", None), QmpEvent::Resume);
        assert_eq!(QmpEvent::from_json("POWERDOWN", None), QmpEvent::Powerdown);
    }

    #[test]
    fn unknown_events_and_missing_fields_do_not_fail() {
        assert_eq!(
            QmpEvent::from_json("RDMA_GID_STATUS_CHANGED", Some(&json!({"netdev": "x"}))),
            QmpEvent::Other {
                name: "RDMA_GID_STATUS_CHANGED".into()
            }
        );
        assert_eq!(
            QmpEvent::from_json("SHUTDOWN", Some(&json!("garbage"))),
            QmpEvent::Shutdown {
                guest: false,
                reason: String::new()
            }
        );
    }

    #[tokio::test]
    async fn a_reader_that_falls_behind_is_told_how_much_it_missed() {
        let (sender, receiver) = broadcast::channel(2);
        let mut events = QmpEvents::new(receiver);
        for _ in 0..3 {
            let _ = sender.send(QmpEvent::Stop);
        }
        let _ = sender.send(QmpEvent::Resume);
        drop(sender);
        assert_eq!(events.next().await, Some(QmpEvent::Lagged { missed: 2 }));
        assert_eq!(events.next().await, Some(QmpEvent::Stop));
        assert_eq!(events.next().await, Some(QmpEvent::Resume));
        assert_eq!(events.next().await, None);
    }
}
