//! Cloud guests on the wire: the cloud-init (NoCloud) configuration kept per
//! VM, port forwards of user-mode NICs, and what the QEMU guest agent
//! reports (`vm exec`, `vm ip`).

use crate::enums::ForwardProtocol;
use serde::{Deserialize, Serialize};
use std::fmt;

/// What `crv vm create … --user --ssh-key --hostname --user-data
/// --network-config` (or `crv vm cloud-init set`) gives the guest.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CloudInitSpec {
    /// The account cloud-init creates, with sudo and the keys.
    pub user: Option<String>,
    /// Public keys, one OpenSSH line each (`ssh-ed25519 AAAA… comment`).
    pub ssh_keys: Vec<String>,
    pub hostname: Option<String>,
    /// Raw user-data: `#cloud-config`, a script, or MIME multipart.
    pub user_data: Option<String>,
    /// Raw network-config (version 1 or 2 YAML).
    pub network_config: Option<String>,
}

/// A change from `crv vm cloud-init set`: `None` keeps the current value;
/// for the text fields `Some("")` removes it, and `ssh_keys` replaces the
/// whole list when given.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CloudInitChanges {
    pub user: Option<String>,
    pub ssh_keys: Option<Vec<String>>,
    pub hostname: Option<String>,
    pub user_data: Option<String>,
    pub network_config: Option<String>,
}

impl CloudInitChanges {
    pub fn is_empty(&self) -> bool {
        *self == CloudInitChanges::default()
    }
}

/// The stored configuration, as `vm show` and `vm cloud-init show` print it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CloudInitInfo {
    pub user: String,
    pub ssh_keys: Vec<String>,
    pub hostname: String,
    pub user_data: Option<String>,
    pub network_config: Option<String>,
    /// Stays the same until the configuration changes; cloud-init runs its
    /// once-per-instance steps (users, keys, new host keys) when it does.
    pub instance_id: String,
}

/// One host port forwarded to the guest by a user-mode NIC (QEMU `hostfwd`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Forward {
    pub protocol: ForwardProtocol,
    pub host_address: String,
    pub host_port: u16,
    pub guest_port: u16,
}

impl Forward {
    /// The address crv connects to: a wildcard listens on loopback too.
    pub fn reachable_address(&self) -> &str {
        match self.host_address.as_str() {
            "0.0.0.0" | "" => "127.0.0.1",
            "::" => "::1",
            other => other,
        }
    }
}

impl fmt::Display for Forward {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let address = if self.host_address.contains(':') {
            format!("[{}]", self.host_address)
        } else {
            self.host_address.clone()
        };
        write!(
            f,
            "{}:{address}:{}:{}",
            self.protocol, self.host_port, self.guest_port
        )
    }
}

/// `crv vm exec`: a command run by the guest agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecSpec {
    /// The program and its arguments (found on the guest's PATH).
    pub command: Vec<String>,
    /// Given to the command's stdin (crv's stdin when it is not a terminal).
    pub input: Option<Vec<u8>>,
    /// Seconds for the agent to answer and the command to finish [default: 10].
    pub timeout_secs: Option<u32>,
}

/// What a command run by the guest agent did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecOutput {
    /// The exit status; 128 + N for a command killed by signal N, as shells say it.
    pub exit_code: i32,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// The output was cut by the agent (it keeps 16 MiB at most).
    pub truncated: bool,
}

/// One guest network interface, as the agent lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuestInterface {
    pub name: String,
    pub mac_address: Option<String>,
    /// `ADDRESS/PREFIX`, IPv4 and IPv6.
    pub addresses: Vec<String>,
}

/// Why a `--forward` spec does not read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid forward '{spec}': {reason}; the form is [tcp|udp:][HOSTADDR:]HOSTPORT:GUESTPORT, e.g. tcp:2222:22"
)]
pub struct ParseForwardError {
    pub spec: String,
    pub reason: String,
}

impl std::str::FromStr for Forward {
    type Err = ParseForwardError;

    /// `[tcp|udp:][HOSTADDR:]HOSTPORT:GUESTPORT`; the host address defaults
    /// to 127.0.0.1, so a forward is not open to the network unless asked.
    fn from_str(spec: &str) -> Result<Forward, ParseForwardError> {
        let fail = |reason: String| ParseForwardError {
            spec: spec.to_owned(),
            reason,
        };
        let parts: Vec<&str> = spec.split(':').collect();
        let (protocol, address, ports) = match parts.as_slice() {
            [host, guest] => (None, None, [*host, *guest]),
            [first, host, guest] if first.parse::<ForwardProtocol>().is_ok() => {
                (Some(*first), None, [*host, *guest])
            }
            [first, host, guest] if first.chars().all(|c| c.is_ascii_alphabetic()) => {
                return Err(fail(format!("unknown protocol '{first}' (tcp or udp)")));
            }
            [address, host, guest] => (None, Some(*address), [*host, *guest]),
            [protocol, address, host, guest] => (Some(*protocol), Some(*address), [*host, *guest]),
            _ => return Err(fail("expected two to four fields separated by ':'".into())),
        };
        let protocol = match protocol {
            None => ForwardProtocol::Tcp,
            Some(word) => word
                .parse()
                .map_err(|_| fail(format!("unknown protocol '{word}' (tcp or udp)")))?,
        };
        let port = |what: &str, text: &str| -> Result<u16, ParseForwardError> {
            match text.parse::<u32>() {
                Ok(0) => Err(fail(format!("the {what} port is 0"))),
                Ok(port) => u16::try_from(port)
                    .map_err(|_| fail(format!("the {what} port {port} is over 65535"))),
                Err(_) => Err(fail(format!("the {what} port '{text}' is not a number"))),
            }
        };
        let address = match address {
            None | Some("") => "127.0.0.1".to_owned(),
            Some(address) => address.to_owned(),
        };
        Ok(Forward {
            protocol,
            host_address: address,
            host_port: port("host", ports[0])?,
            guest_port: port("guest", ports[1])?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(spec: &str) -> Result<Forward, String> {
        spec.parse::<Forward>().map_err(|err| err.to_string())
    }

    #[test]
    fn every_form_of_a_forward_reads() {
        let tcp = |address: &str, host, guest| Forward {
            protocol: ForwardProtocol::Tcp,
            host_address: address.into(),
            host_port: host,
            guest_port: guest,
        };
        assert_eq!(parse("2222:22"), Ok(tcp("127.0.0.1", 2222, 22)));
        assert_eq!(parse("tcp:2222:22"), Ok(tcp("127.0.0.1", 2222, 22)));
        assert_eq!(parse("0.0.0.0:8080:80"), Ok(tcp("0.0.0.0", 8080, 80)));
        let udp = parse("udp:10.1.2.3:53:5353").expect("udp");
        assert_eq!(
            (udp.protocol, udp.host_address.as_str(), udp.host_port),
            (ForwardProtocol::Udp, "10.1.2.3", 53)
        );
        assert_eq!(udp.to_string(), "udp:10.1.2.3:53:5353");
    }

    #[test]
    fn bad_forwards_say_what_is_wrong() {
        assert!(parse("tcp:0:22").unwrap_err().contains("host port is 0"));
        assert!(parse("2222:70000").unwrap_err().contains("over 65535"));
        assert!(
            parse("sctp:2222:22")
                .unwrap_err()
                .contains("unknown protocol 'sctp'")
        );
        assert!(parse("22").unwrap_err().contains("two to four fields"));
        assert!(parse("x:y:z:w:v").is_err());
        assert!(
            parse("tcp:ssh:22")
                .unwrap_err()
                .contains("'ssh' is not a number")
        );
    }
}
