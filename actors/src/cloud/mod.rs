//! Cloud guests (issue 15): the cloud-init NoCloud configuration a VM keeps
//! (`config`), the user-data Corvus writes or checks (`userdata`), the seed
//! volume written into the runtime directory at each start (`seed`), and
//! the host ports user NICs forward (`forwards`). Pure functions, except
//! the seed's file and the port probe, which run off the actor.

pub mod config;
pub mod forwards;
pub mod seed;
pub mod userdata;

use corvus_protocol::WireError;

/// What is wrong with a cloud-init configuration or a forward; every
/// variant is the client's to fix, so all reach it as `InvalidArgument`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CloudError {
    #[error(
        "Invalid user name '{0}': use 1-32 lower-case letters, digits, '-' or '_', starting with a letter or '_'"
    )]
    UserName(String),
    #[error(
        "Invalid hostname '{0}': use 1-63 letters, digits and '-' (dots between labels), not starting or ending with '-'"
    )]
    Hostname(String),
    #[error(
        "That is a private key; give the public one (the .pub file): Corvus never copies private keys"
    )]
    PrivateKey,
    #[error(
        "SSH key {index} is not an OpenSSH public key line ('ssh-ed25519 AAAA… comment'): {reason}"
    )]
    PublicKey { index: usize, reason: String },
    #[error("{what} is not valid YAML: {message} at line {line}, column {column}")]
    Yaml {
        what: &'static str,
        message: String,
        line: usize,
        column: usize,
    },
    #[error("{what} must be a YAML mapping (key: value lines), not {found}")]
    NotMapping {
        what: &'static str,
        found: &'static str,
    },
    #[error(
        "user-data must start with '#cloud-config', '#!' (a script), '#include', '#cloud-boothook' or a MIME multipart 'Content-Type:' header"
    )]
    UserDataKind,
    #[error("{what} is {size} bytes; at most {limit} fit the seed")]
    TooLarge {
        what: &'static str,
        size: usize,
        limit: usize,
    },
    #[error(
        "Invalid forward '{spec}': {reason}; the form is [tcp|udp:][HOSTADDR:]HOSTPORT:GUESTPORT, e.g. tcp:2222:22"
    )]
    ForwardSpec { spec: String, reason: String },
    #[error("Forwards need a user network; this NIC is {0}")]
    ForwardNotUser(String),
    #[error("Host port {protocol}:{address}:{port} is forwarded twice in this VM")]
    DuplicateHostPort {
        protocol: String,
        address: String,
        port: u16,
    },
    #[error(
        "Nothing to change: pass at least one cloud-init option (see `crv vm cloud-init set --help`)"
    )]
    NothingToChange,
}

impl From<CloudError> for WireError {
    fn from(err: CloudError) -> WireError {
        WireError::invalid(err.to_string())
    }
}
