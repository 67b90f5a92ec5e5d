//! The daemon's command line and the defaults it resolves (DESIGN §5, §7).

pub use crate::nodes::config::NodeConfig;
pub use crate::tls::args::{Command, TlsCommand};
use anyhow::{Context as _, bail};
use clap::Parser;
use corvus_qemu::AccelChoice;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Corvus: a lightweight QEMU/KVM virtual machine manager daemon.
///
/// Without a command it runs the daemon; `corvus tls …` manages the
/// certificates of remote access (--listen).
#[derive(Debug, Parser)]
#[command(name = "corvus", version)]
pub struct Args {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Unix socket to serve clients on, with every right (mode 0600)
    /// [default: $XDG_RUNTIME_DIR/corvus/corvus.sock, or /run/corvus/corvus.sock for root]
    #[arg(long, global = true, env = "CORVUS_SOCKET", value_name = "PATH")]
    pub socket: Option<PathBuf>,
    /// Serve remote clients over mutual TLS on HOST:PORT (see `corvus tls init`)
    #[arg(long, value_name = "HOST:PORT")]
    pub listen: Option<String>,
    /// Also serve clients over plain TCP, without authentication: only on a
    /// loopback --host, and only with --insecure-tcp
    #[arg(long, requires = "insecure_tcp")]
    pub tcp: bool,
    /// Allow --tcp, knowing that every local user then has every right
    #[arg(long, requires = "tcp")]
    pub insecure_tcp: bool,
    /// Address for --tcp: a loopback address
    #[arg(long, default_value = "127.0.0.1", value_name = "H")]
    pub host: String,
    /// Port for --tcp
    #[arg(long, default_value_t = 9876, value_name = "P")]
    pub port: u16,
    /// A second Unix socket, read-only (the viewer role), for the members of --socket-group
    #[arg(long, value_name = "PATH", requires = "socket_group")]
    pub viewer_socket: Option<PathBuf>,
    /// The group given read-only access through --viewer-socket (a name or a gid)
    #[arg(long, value_name = "GROUP", requires = "viewer_socket")]
    pub socket_group: Option<String>,
    /// Where the TLS CA and certificates live [default: $XDG_CONFIG_HOME/corvus,
    /// or /etc/corvus for root]
    #[arg(long, global = true, env = "CORVUS_CONFIG_DIR", value_name = "DIR")]
    pub config_dir: Option<PathBuf>,
    /// Where Corvus keeps its files: disk images, the state journal, known
    /// hosts [default: $XDG_DATA_HOME/corvus, or /var/lib/corvus for root]
    #[arg(long, global = true, env = "CORVUS_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Database URL: sqlite://PATH or postgresql://USER@HOST/DB
    /// [default: sqlite://DATA_DIR/corvus.db]
    #[arg(long, global = true, env = "CORVUS_DATABASE", value_name = "URL")]
    pub database: Option<String>,
    /// Where VM sockets and logs live [default: the socket's directory]
    #[arg(long, value_name = "DIR")]
    pub runtime_dir: Option<PathBuf>,
    /// Acceleration: kvm when /dev/kvm is usable (auto), or forced kvm or tcg
    #[arg(long, default_value = "auto", value_name = "auto|kvm|tcg")]
    pub accel: AccelChoice,
    /// Log filter, e.g. info, debug, corvus_daemon=trace (RUST_LOG wins when set)
    #[arg(long, default_value = "info", value_name = "FILTER")]
    pub log_level: String,
    /// The QEMU binary
    #[arg(
        long,
        env = "CORVUS_QEMU",
        default_value = "qemu-system-x86_64",
        value_name = "PATH"
    )]
    pub qemu: PathBuf,
    /// The dnsmasq that serves DHCP and DNS on managed networks (searched
    /// on PATH, then in /usr/sbin and /sbin)
    #[arg(
        long,
        env = "CORVUS_DNSMASQ",
        default_value = "dnsmasq",
        value_name = "PATH"
    )]
    pub dnsmasq: PathBuf,
    /// Stop running VMs gracefully when the daemon exits (default: leave them running)
    #[arg(long)]
    pub stop_vms_on_exit: bool,
    /// Most client connections served at once; past it a client is told so
    #[arg(long, default_value_t = 1024, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub max_connections: u64,
    /// Memory that frames still being received may hold, all connections together
    #[arg(long, default_value_t = 256, value_name = "MIB", value_parser = clap::value_parser!(u64).range(16..))]
    pub frame_budget: u64,
    /// Most connections one client (a certificate, a user on the viewer
    /// socket) may hold at once
    #[arg(long, default_value_t = 64, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub max_connections_per_client: u64,
    /// Close a connection that sends nothing for this long (event streams and
    /// consoles are never idle); 0 never closes
    #[arg(long, default_value_t = 300, value_name = "SECS")]
    pub idle_timeout: u64,
    /// Close a TLS connection whose handshake is not done after this long
    #[arg(long, default_value_t = 10, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..))]
    pub handshake_timeout: u64,
    /// Close a connection whose frame is still incomplete this long after it began
    #[arg(long, default_value_t = 30, value_name = "SECS", hide = true, value_parser = clap::value_parser!(u64).range(1..))]
    pub frame_timeout: u64,
    /// Keep this many newest events per VM in the history; 0 keeps everything
    #[arg(long, default_value_t = 10_000, value_name = "N")]
    pub event_retention: u64,
    /// How often the stats collector reads every running VM (CPU, memory,
    /// disk and network figures; rates are over this interval)
    #[arg(long, default_value_t = 5, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub stats_interval: u64,
    /// Serve Prometheus metrics at http://HOST:PORT/metrics (a port alone
    /// means 127.0.0.1:PORT; unauthenticated: keep it on loopback) [default: off]
    #[arg(long, value_name = "HOST:PORT")]
    pub metrics: Option<String>,
    /// Serve the web console on HOST:PORT: plain HTTP on a loopback address
    /// (log in with `crv web`), HTTPS with the `corvus tls init`
    /// certificates on any other [default: off]
    #[arg(long, value_name = "HOST:PORT")]
    pub http: Option<String>,
    /// How often old events are pruned
    #[arg(long, default_value_t = 600, value_name = "SECS", hide = true, value_parser = clap::value_parser!(u64).range(1..))]
    pub event_prune_interval: u64,
    #[command(flatten)]
    pub node: crate::nodes::config::NodeArgs,
}

/// What the gateway allows its clients (issue 12, defect 7; issue 18).
#[derive(Debug, Clone)]
pub struct ConnectionLimits {
    pub max_connections: u64,
    /// Per client identity (certificate, viewer-socket user).
    pub max_per_client: u64,
    pub handshake_timeout: Duration,
    /// Bytes.
    pub frame_budget: u64,
    pub frame_timeout: Duration,
    /// `None`: idle connections stay open.
    pub idle_timeout: Option<Duration>,
}

/// How much event history is kept.
#[derive(Debug, Clone)]
pub struct Retention {
    /// Newest events kept per VM; `None` keeps everything.
    pub keep: Option<u64>,
    pub interval: Duration,
}

/// A second, read-only Unix socket for a group.
#[derive(Debug, Clone)]
pub struct ViewerSocket {
    pub path: PathBuf,
    pub group: nix::unistd::Gid,
    pub group_name: String,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub socket: PathBuf,
    /// Plain TCP, loopback only (`--tcp --insecure-tcp`).
    pub tcp: Option<String>,
    /// Mutual TLS (`--listen`).
    pub listen: Option<String>,
    pub viewer_socket: Option<ViewerSocket>,
    pub config_dir: PathBuf,
    pub database: String,
    pub data_dir: PathBuf,
    pub runtime_dir: PathBuf,
    pub accel: AccelChoice,
    pub qemu: PathBuf,
    pub dnsmasq: PathBuf,
    pub stop_vms_on_exit: bool,
    pub limits: ConnectionLimits,
    pub retention: Retention,
    pub stats_interval: Duration,
    /// Where `/metrics` is served; `None` when off.
    pub metrics: Option<String>,
    /// Where the web console is served; `None` when off.
    pub http: Option<String>,
    pub node: NodeConfig,
}

fn env_path(name: &str) -> Option<PathBuf> {
    std::env::var_os(name)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// `$XDG_RUNTIME_DIR/corvus`, or `/run/corvus` for root without it.
pub fn default_runtime_root() -> anyhow::Result<PathBuf> {
    if let Some(dir) = env_path("XDG_RUNTIME_DIR") {
        return Ok(dir.join("corvus"));
    }
    if is_root() {
        return Ok(PathBuf::from("/run/corvus"));
    }
    bail!("XDG_RUNTIME_DIR is not set; pass --socket PATH (and --runtime-dir DIR)")
}

/// `$XDG_CONFIG_HOME/corvus` (`~/.config/corvus`), or `/etc/corvus` for
/// root without XDG_CONFIG_HOME.
pub fn default_config_dir() -> anyhow::Result<PathBuf> {
    if let Some(dir) = env_path("XDG_CONFIG_HOME") {
        return Ok(dir.join("corvus"));
    }
    if is_root() {
        return Ok(PathBuf::from("/etc/corvus"));
    }
    env_path("HOME")
        .map(|home| home.join(".config/corvus"))
        .context("neither XDG_CONFIG_HOME nor HOME is set; pass --config-dir DIR")
}

/// `$XDG_DATA_HOME/corvus` (`~/.local/share/corvus`), or `/var/lib/corvus`
/// for root without XDG_DATA_HOME, as libvirt and Incus keep theirs.
pub fn default_data_dir() -> anyhow::Result<PathBuf> {
    if let Some(dir) = env_path("XDG_DATA_HOME") {
        return Ok(dir.join("corvus"));
    }
    if is_root() {
        return Ok(PathBuf::from("/var/lib/corvus"));
    }
    env_path("HOME")
        .map(|home| home.join(".local/share/corvus"))
        .context("neither XDG_DATA_HOME nor HOME is set; pass --data-dir DIR")
}

/// The places both the daemon and `corvus tls` use.
#[derive(Debug, Clone)]
pub struct Places {
    pub socket: PathBuf,
    pub config_dir: PathBuf,
    pub data_dir: PathBuf,
    pub database: String,
}

impl Places {
    pub fn from_args(args: &Args) -> anyhow::Result<Places> {
        let socket = match &args.socket {
            Some(path) => path.clone(),
            None => default_runtime_root()?.join("corvus.sock"),
        };
        let config_dir = match &args.config_dir {
            Some(dir) => dir.clone(),
            None => default_config_dir()?,
        };
        let data_dir = match &args.data_dir {
            Some(dir) => dir.clone(),
            None => default_data_dir()?,
        };
        let database = match &args.database {
            Some(url) => url.clone(),
            None => format!("sqlite://{}", data_dir.join("corvus.db").display()),
        };
        Ok(Places {
            socket,
            config_dir,
            data_dir,
            database,
        })
    }
}

/// `--tcp` serves everyone who can connect with every right, so only a
/// loopback address is allowed.
fn insecure_tcp(args: &Args) -> anyhow::Result<Option<String>> {
    if !args.tcp {
        return Ok(None);
    }
    let loopback = args.host == "localhost"
        || args
            .host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if !loopback {
        bail!(
            "--tcp serves clients without authentication, so only on a loopback address, not {}; for remote access use --listen HOST:PORT (mutual TLS, see `corvus tls init`)",
            args.host
        );
    }
    if args.host.contains(':') {
        return Ok(Some(format!("[{}]:{}", args.host, args.port)));
    }
    Ok(Some(format!("{}:{}", args.host, args.port)))
}

/// `HOST:PORT`, or `HOST` with the default TLS port.
fn listen_address(listen: &str) -> String {
    let has_port = match listen.rsplit_once(':') {
        Some((host, port)) => {
            port.parse::<u16>().is_ok() && (!host.contains(':') || host.ends_with(']'))
        }
        None => false,
    };
    if has_port {
        listen.to_owned()
    } else {
        format!("{listen}:{}", corvus_protocol::tls::DEFAULT_TLS_PORT)
    }
}

fn viewer_socket(args: &Args) -> anyhow::Result<Option<ViewerSocket>> {
    let (Some(path), Some(group)) = (&args.viewer_socket, &args.socket_group) else {
        return Ok(None);
    };
    let gid = match group.parse::<u32>() {
        Ok(gid) => nix::unistd::Gid::from_raw(gid),
        Err(_) => {
            nix::unistd::Group::from_name(group)
                .with_context(|| format!("cannot look up the group '{group}'"))?
                .with_context(|| format!("there is no group '{group}' (--socket-group)"))?
                .gid
        }
    };
    Ok(Some(ViewerSocket {
        path: path.clone(),
        group: gid,
        group_name: group.clone(),
    }))
}

impl Config {
    pub fn from_args(args: &Args) -> anyhow::Result<Config> {
        let Places {
            socket,
            config_dir,
            data_dir,
            database,
        } = Places::from_args(args)?;
        let runtime_dir = match &args.runtime_dir {
            Some(dir) => dir.clone(),
            None => socket
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_else(|| PathBuf::from(".")),
        };
        let node = args.node.resolve(&config_dir)?;
        Ok(Config {
            socket,
            tcp: insecure_tcp(args)?,
            listen: args.listen.as_deref().map(listen_address),
            viewer_socket: viewer_socket(args)?,
            config_dir,
            database,
            data_dir,
            runtime_dir,
            accel: args.accel,
            qemu: args.qemu.clone(),
            dnsmasq: args.dnsmasq.clone(),
            stop_vms_on_exit: args.stop_vms_on_exit,
            limits: ConnectionLimits {
                max_connections: args.max_connections,
                max_per_client: args.max_connections_per_client,
                handshake_timeout: Duration::from_secs(args.handshake_timeout),
                frame_budget: args.frame_budget * 1024 * 1024,
                frame_timeout: Duration::from_secs(args.frame_timeout),
                idle_timeout: (args.idle_timeout > 0)
                    .then(|| Duration::from_secs(args.idle_timeout)),
            },
            retention: Retention {
                keep: (args.event_retention > 0).then_some(args.event_retention),
                interval: Duration::from_secs(args.event_prune_interval),
            },
            stats_interval: Duration::from_secs(args.stats_interval),
            metrics: args.metrics.as_deref().map(metrics_address),
            http: args.http.clone(),
            node,
        })
    }
}

/// `--metrics PORT` is loopback; `HOST:PORT` (`[::1]:PORT`) is as given.
fn metrics_address(given: &str) -> String {
    if !given.is_empty() && given.bytes().all(|b| b.is_ascii_digit()) {
        format!("127.0.0.1:{given}")
    } else {
        given.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_are_off_by_default_and_a_bare_port_is_loopback() {
        let off = Config::from_args(&Args::parse_from(["corvus", "--socket", "/s"])).unwrap();
        assert_eq!(off.metrics, None);
        assert_eq!(off.stats_interval, Duration::from_secs(5));
        let port = Args::parse_from(["corvus", "--socket", "/s", "--metrics", "9187"]);
        assert_eq!(
            Config::from_args(&port).unwrap().metrics.as_deref(),
            Some("127.0.0.1:9187")
        );
        assert_eq!(metrics_address("0.0.0.0:9187"), "0.0.0.0:9187");
        assert!(Args::try_parse_from(["corvus", "--stats-interval", "0"]).is_err());
    }

    #[test]
    fn connection_limits_and_retention_default_to_the_documented_figures() {
        let args = Args::parse_from(["corvus"]);
        assert_eq!(
            (args.max_connections, args.frame_budget, args.idle_timeout),
            (1024, 256, 300)
        );
        assert_eq!((args.frame_timeout, args.event_retention), (30, 10_000));
        let keep_all =
            Args::parse_from(["corvus", "--event-retention", "0", "--idle-timeout", "0"]);
        assert_eq!(keep_all.event_retention, 0);
        assert!(Args::try_parse_from(["corvus", "--frame-budget", "8"]).is_err());
        assert_eq!(
            (args.max_connections_per_client, args.handshake_timeout),
            (64, 10)
        );
    }

    #[test]
    fn plain_tcp_needs_insecure_tcp_and_a_loopback_address() {
        assert!(Args::try_parse_from(["corvus", "--tcp"]).is_err());
        let loopback = Args::parse_from(["corvus", "--tcp", "--insecure-tcp", "--host", "::1"]);
        assert_eq!(
            insecure_tcp(&loopback).unwrap().as_deref(),
            Some("[::1]:9876")
        );
        let open = Args::parse_from(["corvus", "--tcp", "--insecure-tcp", "--host", "0.0.0.0"]);
        let err = insecure_tcp(&open).unwrap_err().to_string();
        assert!(err.contains("--listen"), "{err}");
    }

    #[test]
    fn listen_takes_a_port_or_the_default_one() {
        assert_eq!(listen_address("0.0.0.0:9000"), "0.0.0.0:9000");
        assert_eq!(listen_address("example.org"), "example.org:9877");
        assert_eq!(listen_address("[::]:9000"), "[::]:9000");
        assert_eq!(listen_address("[::]"), "[::]:9877");
    }
}
