//! The command line of `corvus tls`: the certificate authority's verbs.

use clap::Subcommand;
use corvus_protocol::Role;
use std::path::PathBuf;

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Manage the certificates of remote access: a CA of the daemon's own,
    /// its server certificate, and client certificates with roles
    #[command(subcommand)]
    Tls(TlsCommand),
}

#[derive(Debug, Subcommand)]
pub enum TlsCommand {
    /// Create the CA (once) and the daemon's server certificate, valid for
    /// this host's names and addresses and every --san
    Init {
        /// Another name or address clients use to reach this host; repeat for several
        #[arg(long, value_name = "NAME")]
        san: Vec<String>,
    },
    /// Issue a client certificate: writes NAME.crt, NAME.key and ca.crt to --out
    Issue {
        /// The client's name, as events and logs show it
        name: String,
        /// What the client may do: viewer (read), operator (also run VMs and
        /// their consoles), admin (everything); node: another daemon of the
        /// same database, NAME being its --node (it only forwards requests)
        #[arg(long, value_parser = role)]
        role: Role,
        /// How long the certificate is valid
        #[arg(long, default_value_t = 365, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=36500))]
        days: u32,
        /// The directory to write the three files to (created 0700)
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// Start of the validity window, RFC 3339 (tests: a certificate not yet valid)
        #[arg(long, hide = true, value_name = "TIME")]
        not_before: Option<String>,
        /// End of the validity window, RFC 3339 (tests: an expired certificate)
        #[arg(long, hide = true, value_name = "TIME")]
        not_after: Option<String>,
    },
    /// List the client certificates issued, with their role and state
    List,
    /// Revoke every certificate issued under NAME: refused from now on, and
    /// their open connections closed
    Revoke { name: String },
}

fn role(word: &str) -> Result<Role, String> {
    word.parse::<Role>().map_err(|err| err.to_string())
}
