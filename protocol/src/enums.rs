//! Closed sets of values. On the wire they are postcard variants; in the
//! database and in JSON they are the lower-case words listed here.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A word that is not one of an enum's values; the message lists the valid ones.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {what} '{given}': expected one of {}", valid.join(", "))]
pub struct ParseEnumError {
    pub what: &'static str,
    pub given: String,
    pub valid: &'static [&'static str],
}

/// An enum spelled as one of a closed set of words (every `text_enum!`),
/// so that parsers elsewhere (crv's options) can list and read them.
pub trait TextEnum: FromStr<Err = ParseEnumError> + Copy + Send + Sync + 'static {
    const NAMES: &'static [&'static str];
}

macro_rules! text_enum {
    ($(#[$meta:meta])* $name:ident ($what:literal) { $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $text)] $variant),+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            pub const NAMES: &'static [&'static str] = &[$($text),+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }
        }

        impl TextEnum for $name {
            const NAMES: &'static [&'static str] = &[$($text),+];
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = ParseEnumError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok($name::$variant),)+
                    _ => Err(ParseEnumError { what: $what, given: s.to_owned(), valid: Self::NAMES }),
                }
            }
        }
    };
}

text_enum! {
    /// The lifecycle state of a VM (DESIGN §3).
    VmState ("state") {
        Stopped = "stopped",
        Starting = "starting",
        Running = "running",
        Paused = "paused",
        Stopping = "stopping",
        Error = "error",
        /// RAM and device state are being written to the VM's save file.
        Saving = "saving",
        /// QEMU is gone; the save file holds the guest (`crv vm start` restores it).
        Saved = "saved",
        /// QEMU is reading the save file back.
        Restoring = "restoring",
    }
}

impl VmState {
    /// States in which a QEMU process may exist.
    pub fn has_process(self) -> bool {
        matches!(
            self,
            VmState::Starting
                | VmState::Running
                | VmState::Paused
                | VmState::Stopping
                | VmState::Saving
                | VmState::Restoring
        )
    }
}

text_enum! {
    /// Whether a node runs (issue 19): live while its daemon holds the
    /// node's database lock and its heartbeat is within the node timeout.
    NodeState ("node state") {
        Live = "live",
        Dead = "dead",
    }
}

text_enum! {
    /// What an event records: a state change, or a change of the VM's
    /// definition (which leaves its state alone: `from` and `to` are the
    /// state it was in, always `stopped` today). Events stored or journaled
    /// before kinds existed were state changes, hence the default.
    #[derive(Default)]
    EventKind ("event kind") {
        #[default]
        State = "state",
        /// The VM was created.
        Defined = "defined",
        /// Its definition changed: an edit, a drive, NIC or share added or
        /// removed, its cloud-init configuration set or cleared.
        Edited = "edited",
        /// The VM was deleted; no event of it follows.
        Deleted = "deleted",
    }
}

text_enum! {
    /// What happens when QEMU exits without an operator asking for it.
    RestartPolicy ("restart policy") {
        Never = "never",
        OnFailure = "on-failure",
        Always = "always",
    }
}

text_enum! {
    DisplayKind ("display") {
        Spice = "spice",
        None = "none",
    }
}

text_enum! {
    DriveInterface ("drive interface") {
        Virtio = "virtio",
        Ide = "ide",
        Sata = "sata",
        Scsi = "scsi",
        Nvme = "nvme",
        Pflash = "pflash",
    }
}

text_enum! {
    DriveFormat ("drive format") {
        Qcow2 = "qcow2",
        Raw = "raw",
        Vmdk = "vmdk",
        Vdi = "vdi",
    }
}

text_enum! {
    DriveMedia ("drive media") {
        Disk = "disk",
        Cdrom = "cdrom",
    }
}

text_enum! {
    /// QEMU's block cache modes.
    CacheMode ("cache mode") {
        None = "none",
        Writeback = "writeback",
        Writethrough = "writethrough",
        Directsync = "directsync",
        Unsafe = "unsafe",
    }
}

text_enum! {
    NicType ("network type") {
        User = "user",
        Tap = "tap",
        Bridge = "bridge",
        Vde = "vde",
        /// A managed network of the daemon's (`vm net add --network`).
        Network = "network",
    }
}

text_enum! {
    /// virtiofsd's cache modes.
    ShareCache ("share cache mode") {
        Auto = "auto",
        Always = "always",
        Never = "never",
    }
}

text_enum! {
    /// What a client may do, each role including the ones before it: a
    /// viewer reads, an operator also runs VMs and uses their consoles, an
    /// admin also changes definitions and the daemon. Declared in that
    /// order, so `Viewer < Operator < Admin`. `Node` is another daemon of
    /// the same database (issue 19): it may only pass on requests its own
    /// clients were allowed to make (`Request::Forwarded`), nothing else.
    Role ("role") {
        Viewer = "viewer",
        Operator = "operator",
        Admin = "admin",
        Node = "node",
    }
}

text_enum! {
    /// A byte stream of a running VM that a client can attach to.
    Channel ("channel") {
        Monitor = "monitor",
        Serial = "serial",
    }
}

text_enum! {
    /// The formats a Corvus disk is stored in.
    DiskFormat ("disk format") {
        Qcow2 = "qcow2",
        Raw = "raw",
    }
}

impl From<DiskFormat> for DriveFormat {
    fn from(format: DiskFormat) -> DriveFormat {
        match format {
            DiskFormat::Qcow2 => DriveFormat::Qcow2,
            DiskFormat::Raw => DriveFormat::Raw,
        }
    }
}

text_enum! {
    /// How a managed network reaches the outside: `nat` masquerades its
    /// traffic through the host, `isolated` reaches only the host and
    /// its own VMs.
    NetworkMode ("network mode") {
        Nat = "nat",
        Isolated = "isolated",
    }
}

text_enum! {
    /// Whether a managed network's bridge is there: `up` once the daemon
    /// made it (or found its own again after a restart), `error` when it
    /// cannot (with the reason), `starting` meanwhile.
    NetworkState ("network state") {
        Starting = "starting",
        Up = "up",
        Error = "error",
    }
}

text_enum! {
    /// What `crv disk snapshot` does with a qcow2 internal snapshot.
    SnapshotAction ("snapshot action") {
        Create = "create",
        List = "list",
        Delete = "delete",
        Revert = "revert",
    }
}

text_enum! {
    /// The transport of a port forward.
    ForwardProtocol ("forward protocol") {
        Tcp = "tcp",
        Udp = "udp",
    }
}

text_enum! {
    /// The QEMU guest agent of a VM: `off` without the agent's port,
    /// `connected` while it answers, `not responding` otherwise (the guest
    /// is booting, has no agent running, or the VM is stopped).
    AgentStatus ("agent status") {
        Connected = "connected",
        NotResponding = "not responding",
        Off = "off",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_parses_back_to_its_variant() {
        for state in VmState::ALL {
            assert_eq!(state.as_str().parse::<VmState>(), Ok(*state));
        }
        for policy in RestartPolicy::ALL {
            assert_eq!(policy.to_string().parse::<RestartPolicy>(), Ok(*policy));
        }
    }

    #[test]
    fn each_role_includes_the_ones_before_it() {
        assert!(Role::Viewer < Role::Operator && Role::Operator < Role::Admin);
        assert!(
            Role::Admin < Role::Node,
            "node is checked apart, never by rank"
        );
    }

    #[test]
    fn an_unknown_word_lists_the_valid_ones() {
        let err = "floppy".parse::<DriveInterface>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid drive interface 'floppy': expected one of virtio, ide, sata, scsi, nvme, pflash"
        );
    }
}
