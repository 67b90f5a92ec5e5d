//! The command line of cloud guests: the cloud-init options of `vm create`
//! and `vm cloud-init set`, `--forward`, and `vm cloud-init`.

use clap::{Args, Subcommand};
use corvus_protocol::Forward;
use std::path::PathBuf;

/// cloud-init (NoCloud) options; any of them gives the VM a seed volume.
#[derive(Debug, Args, Default)]
pub struct CloudOptions {
    /// The account cloud-init creates, with passwordless sudo and the keys [default: your user name]
    #[arg(long, value_name = "NAME")]
    pub user: Option<String>,
    /// An OpenSSH public key: a .pub file, or the key itself ('ssh-ed25519 AAAA…'); repeatable
    #[arg(long = "ssh-key", value_name = "FILE|KEY")]
    pub ssh_keys: Vec<String>,
    /// The guest's hostname [default: the VM's name]
    #[arg(long, value_name = "NAME")]
    pub hostname: Option<String>,
    /// Your own user-data (#cloud-config, a script or MIME multipart), merged with Corvus's
    #[arg(long, value_name = "FILE")]
    pub user_data: Option<PathBuf>,
    /// A network-config (version 1 or 2 YAML) [default: DHCP on the first NIC]
    #[arg(long, value_name = "FILE")]
    pub network_config: Option<PathBuf>,
}

impl CloudOptions {
    pub fn any(&self) -> bool {
        self.user.is_some()
            || !self.ssh_keys.is_empty()
            || self.hostname.is_some()
            || self.user_data.is_some()
            || self.network_config.is_some()
    }
}

/// What `vm create` adds for cloud guests.
#[derive(Debug, Args, Default)]
pub struct CreateCloudArgs {
    #[command(flatten)]
    pub cloud: CloudOptions,
    /// Forward a host port to the guest on a new user NIC: [tcp|udp:][HOSTADDR:]HOSTPORT:GUESTPORT; repeatable
    #[arg(long = "forward", value_name = "SPEC", value_parser = forward)]
    pub forwards: Vec<Forward>,
}

pub fn forward(spec: &str) -> Result<Forward, String> {
    spec.parse::<Forward>().map_err(|err| err.to_string())
}

#[derive(Debug, Subcommand)]
pub enum CloudInitCommand {
    /// Print a VM's cloud-init configuration and instance-id
    Show(super::Target),
    /// Change a stopped VM's configuration (creating one if it has none)
    ///
    /// Only the options given change; --ssh-key replaces the whole list;
    /// '' removes --hostname, --user-data or --network-config. Any change
    /// makes a new instance-id, so cloud-init applies it at the next boot.
    Set(CloudInitSetArgs),
    /// Remove a stopped VM's configuration: it boots without a seed
    Clear(super::Target),
}

#[derive(Debug, Args)]
pub struct CloudInitSetArgs {
    /// VM name or id
    pub vm: String,
    #[command(flatten)]
    pub cloud: CloudOptions,
}

#[derive(Debug, Args)]
pub struct ExecArgs {
    /// VM name or id
    pub vm: String,
    /// Seconds for the agent to answer and the command to finish [default: 10]
    #[arg(long, value_name = "S", value_parser = clap::value_parser!(u32).range(1..=86400))]
    pub timeout: Option<u32>,
    /// The program (found on the guest's PATH) and its arguments, after `--`
    #[arg(last = true, required = true, value_name = "CMD")]
    pub command: Vec<String>,
}

#[derive(Debug, Args)]
pub struct IpArgs {
    /// VM name or id
    pub vm: String,
    /// Seconds for the agent to answer [default: 10]
    #[arg(long, value_name = "S", value_parser = clap::value_parser!(u32).range(1..=3600))]
    pub timeout: Option<u32>,
}

#[derive(Debug, Args)]
pub struct SshArgs {
    /// VM name or id
    pub vm: String,
    /// An identity (private key) file for ssh, as ssh -i
    #[arg(short = 'i', long, value_name = "FILE")]
    pub identity: Option<PathBuf>,
    /// More for ssh after `--`: a remote command, or ssh options (-L 8080:localhost:80)
    #[arg(last = true, value_name = "ARGS")]
    pub args: Vec<String>,
}
