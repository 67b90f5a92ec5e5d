//! Who sent a command to a VM, carried to the events it causes.

use crate::client_name::ClientName;
use corvus_protocol::EventCause;

/// Who sent a command, for the events it causes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Origin {
    pub connection: u64,
    pub client: ClientName,
}

impl Origin {
    /// The cause of a state change this client's `command` brought about.
    pub fn cause(self, command: impl Into<String>) -> EventCause {
        EventCause::Operator {
            connection: self.connection,
            command: command.into(),
            client: self.client.to_string(),
        }
    }
}
