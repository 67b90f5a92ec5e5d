//! `--node`, `--advertise`, `--node-timeout`, `--fence-timeout`,
//! `--shared-storage` and `--node-ram`: who this daemon is among the
//! daemons sharing its database (issue 19).

use anyhow::Context as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The daemon's node options (flattened into `corvus`'s own).
#[derive(Debug, Clone, clap::Args)]
pub struct NodeArgs {
    /// This daemon's node name: on PostgreSQL one daemon per node name, and
    /// VMs belong to a node (letters, digits, '.', '-', '_'; at most 63)
    /// [default: the host name]
    #[arg(long, value_name = "NAME", value_parser = node_name)]
    pub node: Option<String>,
    /// HOST:PORT where the other nodes reach this one (stored with the node)
    #[arg(long, value_name = "HOST:PORT")]
    pub advertise: Option<String>,
    /// A node whose lock is free or whose heartbeat is older than this is
    /// dead (PostgreSQL)
    #[arg(long, default_value_t = 30, value_name = "SECS", value_parser = clap::value_parser!(u64).range(2..=3600))]
    pub node_timeout: u64,
    /// A node that cannot prove its lock for this long (its database
    /// session lost) kills its HA VMs' QEMUs, before the other nodes may
    /// start them; must be below --node-timeout
    #[arg(long, default_value_t = 15, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..=3599))]
    pub fence_timeout: u64,
    /// Where this node's certificate is (`corvus tls issue NODE --role node
    /// --out DIR`): with it, requests for another node's VMs are forwarded
    /// to that node [default: CONFIG_DIR/node]
    #[arg(long, value_name = "DIR")]
    pub node_cert_dir: Option<PathBuf>,
    /// A directory every node sees at the same path (NFS, Ceph, a SAN
    /// mount); repeat for several. A VM may fail over or move to another
    /// node only when all its disks and shared dirs are under one of these
    #[arg(long = "shared-storage", value_name = "PATH", value_parser = absolute_dir)]
    pub shared_storage: Vec<PathBuf>,
    /// RAM (MiB) this node offers to VMs, leaving the rest to the host:
    /// placement and failover count running VMs' RAM against it
    /// [default: all of the host's RAM]
    #[arg(long, value_name = "MIB", value_parser = clap::value_parser!(u64).range(16..=i64::MAX as u64))]
    pub node_ram: Option<u64>,
}

impl NodeArgs {
    pub fn resolve(&self, config_dir: &Path) -> anyhow::Result<NodeConfig> {
        if self.fence_timeout >= self.node_timeout {
            anyhow::bail!(
                "--fence-timeout {} must be below --node-timeout {}: a node must kill its HA VMs before the other nodes may start them; lower --fence-timeout or raise --node-timeout",
                self.fence_timeout,
                self.node_timeout
            );
        }
        Ok(NodeConfig {
            name: match &self.node {
                Some(name) => name.clone(),
                None => default_node_name()?,
            },
            advertise: self.advertise.clone(),
            timeout: Duration::from_secs(self.node_timeout),
            fence_timeout: Duration::from_secs(self.fence_timeout),
            cert_dir: self
                .node_cert_dir
                .clone()
                .unwrap_or_else(|| config_dir.join("node")),
            shared_storage: self.shared_storage.clone(),
            ram_mib: self.node_ram,
        })
    }
}

/// Node names end up in lock rows, logs and tables: a conservative alphabet.
pub fn node_name(given: &str) -> Result<String, String> {
    let fits = !given.is_empty()
        && given.len() <= 63
        && given
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'));
    if fits {
        Ok(given.to_owned())
    } else {
        Err("a node name is 1 to 63 letters, digits, '.', '-' or '_'".to_owned())
    }
}

/// A shared-storage prefix is compared as written against the paths of
/// disks, so it must be absolute and free of `.`/`..` components.
fn absolute_dir(given: &str) -> Result<PathBuf, String> {
    let path = PathBuf::from(given);
    let plain = path.components().all(|part| {
        matches!(
            part,
            std::path::Component::RootDir | std::path::Component::Normal(_)
        )
    });
    if path.is_absolute() && plain {
        Ok(path)
    } else {
        Err("a shared-storage path is absolute, without '.' or '..' (e.g. /srv/vmstore)".to_owned())
    }
}

/// The host name, as the default node name; a name that does not fit
/// `node_name` (or none at all) is refused with what to do.
pub fn default_node_name() -> anyhow::Result<String> {
    let host = nix::unistd::gethostname()
        .context("cannot read the host name; pass --node NAME")?
        .to_string_lossy()
        .into_owned();
    node_name(&host).map_err(|why| {
        anyhow::anyhow!("the host name '{host}' is no node name ({why}); pass --node NAME")
    })
}

/// Who this daemon is among the daemons sharing its database (issue 19).
#[derive(Debug, Clone)]
pub struct NodeConfig {
    pub name: String,
    pub advertise: Option<String>,
    pub timeout: Duration,
    /// `--fence-timeout`: how long this node runs its HA VMs without proof
    /// that it holds its lock.
    pub fence_timeout: Duration,
    /// This node's certificate for forwarding (`--node-cert-dir`).
    pub cert_dir: PathBuf,
    /// `--shared-storage`: prefixes every node sees at the same path.
    pub shared_storage: Vec<PathBuf>,
    /// `--node-ram`: the RAM offered to VMs, when not all of the host's.
    pub ram_mib: Option<u64>,
}

impl NodeConfig {
    /// How often the node's heartbeat is written: several times per
    /// timeout, so that one slow write does not make a live node dead, and
    /// several times per fence timeout, so that a live session always
    /// proves itself before this node fences its VMs.
    pub fn heartbeat(&self) -> Duration {
        (self.timeout / 4)
            .min(self.fence_timeout / 3)
            .clamp(Duration::from_millis(300), Duration::from_secs(5))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn node_names_are_checked_and_default_to_the_host_name() {
        let named =
            crate::config::Args::parse_from(["corvus", "--socket", "/s", "--node", "a-1.x_y"]);
        let config = crate::config::Config::from_args(&named).unwrap();
        assert_eq!(config.node.name, "a-1.x_y");
        assert_eq!(config.node.timeout, Duration::from_secs(30));
        assert_eq!(config.node.heartbeat(), Duration::from_secs(5));
        for bad in ["", "a b", "a/b", &"n".repeat(64)] {
            assert!(
                crate::config::Args::try_parse_from(["corvus", "--node", bad]).is_err(),
                "{bad:?}"
            );
        }
        let host = nix::unistd::gethostname().unwrap();
        let unnamed = crate::config::Config::from_args(&crate::config::Args::parse_from([
            "corvus", "--socket", "/s",
        ]))
        .unwrap();
        assert_eq!(unnamed.node.name, host.to_string_lossy());
        let quick = crate::config::Args::parse_from(["corvus", "--node-timeout", "2"]);
        assert_eq!(quick.node.node_timeout, 2);
        assert!(
            crate::config::Config::from_args(&quick).is_err(),
            "fence 15 >= node 2"
        );
        let fenced = crate::config::Args::parse_from([
            "corvus",
            "--socket",
            "/s",
            "--node-timeout",
            "6",
            "--fence-timeout",
            "3",
        ]);
        let fenced = crate::config::Config::from_args(&fenced).unwrap();
        assert_eq!(fenced.node.fence_timeout, Duration::from_secs(3));
        assert_eq!(fenced.node.heartbeat(), Duration::from_secs(1));
        assert!(crate::config::Args::try_parse_from(["corvus", "--node-timeout", "1"]).is_err());
        assert_eq!(fenced.node.ram_mib, None, "all of the host's RAM");
        let offering =
            crate::config::Args::parse_from(["corvus", "--socket", "/s", "--node-ram", "2048"]);
        let offering = crate::config::Config::from_args(&offering).unwrap();
        assert_eq!(offering.node.ram_mib, Some(2048));
        assert!(crate::config::Args::try_parse_from(["corvus", "--node-ram", "15"]).is_err());
    }
}
