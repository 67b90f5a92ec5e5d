//! The one nftables table of Corvus's (`ip corvus`): masquerade for `nat`
//! networks, and no forwarding in or out of `isolated` ones. It is written
//! whole, in one `nft -f` transaction, from the networks the service has,
//! and deleted with the last network; IPv4 forwarding is turned on while a
//! `nat` network exists (it is left on afterwards: something else may
//! rely on it by then).

use super::plan::Subnet;
use corvus_protocol::NetworkMode;
use std::process::Stdio;
use tokio::io::AsyncWriteExt;

pub const TABLE: &str = "corvus";
const FORWARDING: &str = "/proc/sys/net/ipv4/ip_forward";

/// What the table needs of a network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub bridge: String,
    pub subnet: Subnet,
    pub mode: NetworkMode,
}

#[derive(Debug, thiserror::Error)]
pub enum NatError {
    #[error("cannot run nft (Debian's nftables package)")]
    Spawn(#[source] std::io::Error),
    #[error("nft refused the Corvus table: {0}")]
    Refused(String),
    #[error("cannot turn on IPv4 forwarding ({FORWARDING})")]
    Forwarding(#[source] std::io::Error),
}

/// The whole table, re-created atomically: declaring it first makes the
/// delete succeed whether or not it was there.
pub fn ruleset(rules: &[Rule]) -> String {
    let mut masquerade = String::new();
    let mut forward = String::new();
    for rule in rules {
        let (bridge, subnet) = (&rule.bridge, rule.subnet);
        match rule.mode {
            NetworkMode::Nat => {
                masquerade.push_str(&format!(
                    "    ip saddr {subnet} ip daddr != {subnet} masquerade\n"
                ));
                forward.push_str(&format!(
                    "    iifname \"{bridge}\" accept\n    oifname \"{bridge}\" ct state established,related accept\n    oifname \"{bridge}\" drop\n"
                ));
            }
            NetworkMode::Isolated => forward.push_str(&format!(
                "    iifname \"{bridge}\" drop\n    oifname \"{bridge}\" drop\n"
            )),
        }
    }
    format!(
        "table ip {TABLE} {{}}\ndelete table ip {TABLE}\ntable ip {TABLE} {{\n  chain postrouting {{\n    type nat hook postrouting priority srcnat; policy accept;\n{masquerade}  }}\n  chain forward {{\n    type filter hook forward priority filter; policy accept;\n{forward}  }}\n}}\n"
    )
}

/// Makes the table say `rules`, or removes it when there are none.
pub async fn apply(rules: Vec<Rule>) -> Result<(), NatError> {
    let script = if rules.is_empty() {
        format!("table ip {TABLE} {{}}\ndelete table ip {TABLE}\n")
    } else {
        ruleset(&rules)
    };
    nft(&script).await?;
    if rules.iter().any(|r| r.mode == NetworkMode::Nat) {
        tokio::fs::write(FORWARDING, "1\n")
            .await
            .map_err(NatError::Forwarding)?;
    }
    Ok(())
}

async fn nft(script: &str) -> Result<(), NatError> {
    let mut child = tokio::process::Command::new("nft")
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(NatError::Spawn)?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(script.as_bytes())
            .await
            .map_err(NatError::Spawn)?;
    }
    let output = child.wait_with_output().await.map_err(NatError::Spawn)?;
    if output.status.success() {
        return Ok(());
    }
    Err(NatError::Refused(
        String::from_utf8_lossy(&output.stderr).trim().to_owned(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nat_networks_masquerade_and_isolated_ones_do_not_forward() {
        let rules = [
            Rule {
                bridge: "crvbr0".into(),
                subnet: Subnet::parse("10.77.0.0/24").unwrap(),
                mode: NetworkMode::Nat,
            },
            Rule {
                bridge: "crvbr1".into(),
                subnet: Subnet::parse("10.78.0.0/24").unwrap(),
                mode: NetworkMode::Isolated,
            },
        ];
        let text = ruleset(&rules);
        assert!(text.starts_with("table ip corvus {}\ndelete table ip corvus\n"));
        assert!(text.contains("ip saddr 10.77.0.0/24 ip daddr != 10.77.0.0/24 masquerade"));
        assert!(!text.contains("10.78.0.0/24"));
        assert!(text.contains("iifname \"crvbr1\" drop"));
        assert!(text.contains("iifname \"crvbr0\" accept"));
    }
}
