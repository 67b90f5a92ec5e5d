//! The options that say which daemon crv talks to, and `crv remote`.

use clap::{Args, Subcommand};
use std::path::PathBuf;

#[derive(Debug, Clone, Args)]
pub struct ConnectionArgs {
    /// The daemon's Unix socket [default: $XDG_RUNTIME_DIR/corvus/corvus.sock]
    #[arg(long, global = true, env = "CORVUS_SOCKET", value_name = "PATH")]
    pub socket: Option<PathBuf>,
    /// A daemon added with `crv remote add`, reached over mutual TLS
    /// [default: the one `crv remote default` set, else the Unix socket]
    #[arg(long, global = true, env = "CORVUS_REMOTE", value_name = "NAME")]
    pub remote: Option<String>,
    /// Connect over plain TCP (a daemon started with --tcp --insecure-tcp)
    #[arg(long, global = true)]
    pub tcp: bool,
    /// Host for --tcp
    #[arg(long, global = true, default_value = "127.0.0.1", value_name = "H")]
    pub host: String,
    /// Port for --tcp
    #[arg(long, global = true, default_value_t = 9876, value_name = "P")]
    pub port: u16,
    /// Which of --socket and --remote were typed, rather than taken from
    /// the environment: typed ones win.
    #[arg(skip)]
    pub typed: Typed,
}

#[derive(Debug, Clone, Copy, Default)]
pub struct Typed {
    pub socket: bool,
    pub remote: bool,
}

#[derive(Debug, Subcommand)]
pub enum RemoteCommand {
    /// Add a daemon that serves `corvus --listen`, with the three files
    /// `corvus tls issue` wrote (copied into crv's configuration)
    Add(RemoteAddArgs),
    /// List the remotes
    List,
    /// Forget a remote and its certificate
    Remove { name: String },
    /// Show the remote crv uses by default, or set it ('local': the Unix socket)
    Default { name: Option<String> },
}

#[derive(Debug, Args)]
pub struct RemoteAddArgs {
    /// A name for the remote: letters, digits, '-', '_', '.'
    pub name: String,
    /// Where the daemon listens, HOST[:PORT] [default port: 9877]
    pub address: String,
    /// The client certificate (NAME.crt from `corvus tls issue`)
    #[arg(long, value_name = "FILE")]
    pub cert: PathBuf,
    /// The client key (NAME.key)
    #[arg(long, value_name = "FILE")]
    pub key: PathBuf,
    /// The daemon's CA certificate (ca.crt)
    #[arg(long, value_name = "FILE")]
    pub ca: PathBuf,
}
