//! The `crv network` command line. Doc comments are the help text.

use crate::words::words;
use clap::{Args, Subcommand};
use corvus_protocol::NetworkMode;

#[derive(Debug, Subcommand)]
pub enum NetworkCommand {
    /// Define a managed network: a subnet with its gateway, DHCP range and DNS domain
    Create(NetworkCreateArgs),
    /// List managed networks
    List,
    /// Show one network and the VM NICs on it
    Show(NetworkTarget),
    /// Delete a network no VM NIC is on
    Delete(NetworkTarget),
}

/// A network, by name or numeric id.
#[derive(Debug, Args)]
pub struct NetworkTarget {
    /// Network name or id
    pub network: String,
}

#[derive(Debug, Args)]
pub struct NetworkCreateArgs {
    /// Lower-case letters, digits, '-' and '_' (up to 32)
    pub name: String,
    /// IPv4 subnet, /8 to /30; the gateway is its first address (e.g. 10.77.0.0/24)
    #[arg(long, value_name = "CIDR")]
    pub subnet: String,
    /// nat: reaches the outside through the host; isolated: the host and its VMs only
    #[arg(long, value_parser = words::<NetworkMode>(), default_value = "nat")]
    pub mode: NetworkMode,
    /// Addresses DHCP hands out, FIRST-LAST [default: every address after the gateway]
    #[arg(long, value_name = "A-B")]
    pub dhcp_range: Option<String>,
    /// VMs are also NAME.DOMAIN in DNS
    #[arg(long, value_name = "D")]
    pub dns_domain: Option<String>,
}
