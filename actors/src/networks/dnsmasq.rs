//! A network's dnsmasq: its command line, how it starts, how a running one
//! left by an earlier daemon is recognised, and its lease file.
//!
//! Static leases and VM names are `--dhcp-host` arguments rather than a
//! hosts file read on SIGHUP: dnsmasq drops to `nobody` and reads such a
//! file afterwards, and the daemon's data directory is private (0700). So a
//! change of hosts restarts dnsmasq (leases live in the lease file, which
//! dnsmasq opens before dropping privileges, and survive the restart).

use super::Network;
use corvus_protocol::NetworkMode;
use corvus_qemu::process::{ProcessHandle, Signal};
use std::collections::HashMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A lease dnsmasq is told about: a MAC, its static address if any, and
/// the name it answers in DNS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    pub mac: String,
    pub ip: Option<String>,
    pub name: Option<String>,
}

/// The NICs on a network as dnsmasq hosts: each VM's name goes to its
/// first NIC there, and only when it is a valid DNS label.
pub fn hosts(nics: &[corvus_storage::NetworkNicRow]) -> Vec<Host> {
    let mut named = std::collections::HashSet::new();
    nics.iter()
        .map(|nic| {
            let name = (is_dns_label(&nic.vm_name) && named.insert(nic.vm_name.to_lowercase()))
                .then(|| nic.vm_name.clone());
            Host {
                mac: nic.mac_address.to_lowercase(),
                ip: nic.ip_address.clone(),
                name,
            }
        })
        .collect()
}

fn is_dns_label(name: &str) -> bool {
    (1..=63).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-')
}

/// Where one network's dnsmasq keeps its files.
#[derive(Debug, Clone)]
pub struct Files {
    pub dir: PathBuf,
}

impl Files {
    pub fn new(networks_dir: &Path, network_id: i64) -> Files {
        Files {
            dir: networks_dir.join(network_id.to_string()),
        }
    }

    pub fn pid(&self) -> PathBuf {
        self.dir.join("dnsmasq.pid")
    }

    pub fn leases(&self) -> PathBuf {
        self.dir.join("leases")
    }

    pub fn log(&self) -> PathBuf {
        self.dir.join("dnsmasq.log")
    }
}

/// The arguments after the binary. Deterministic: a running dnsmasq with
/// exactly these arguments is the one this daemon would start now.
pub fn args(network: &Network, files: &Files, hosts: &[Host]) -> Vec<OsString> {
    let subnet = network.subnet;
    let netmask = std::net::Ipv4Addr::from(u32::MAX << (32 - u32::from(subnet.prefix)));
    let mut args: Vec<String> = vec![
        "--keep-in-foreground".into(),
        "--conf-file=/dev/null".into(),
        format!("--pid-file={}", files.pid().display()),
        "--log-facility=-".into(),
        format!("--interface={}", network.bridge),
        // Each network's dnsmasq keeps to its bridge: without this, every
        // one would also claim loopback and the second would fail to start.
        "--except-interface=lo".into(),
        "--bind-interfaces".into(),
        format!(
            "--dhcp-range={},{},{netmask},1h",
            network.dhcp_start, network.dhcp_end
        ),
        format!("--dhcp-leasefile={}", files.leases().display()),
        "--dhcp-authoritative".into(),
        "--domain-needed".into(),
        "--bogus-priv".into(),
    ];
    if network.mode == NetworkMode::Isolated {
        // No default route and no upstream resolver: nothing leaves.
        args.push("--dhcp-option=option:router".into());
        args.push("--no-resolv".into());
    }
    if let Some(domain) = &network.dns_domain {
        args.push(format!("--domain={domain}"));
        args.push(format!("--local=/{domain}/"));
        args.push("--expand-hosts".into());
    }
    for host in hosts {
        let mut entry = host.mac.clone();
        for part in [&host.ip, &host.name].into_iter().flatten() {
            entry.push(',');
            entry.push_str(part);
        }
        args.push(format!("--dhcp-host={entry}"));
    }
    args.into_iter().map(OsString::from).collect()
}

/// Starts dnsmasq; stderr (its log, `--log-facility=-`) goes to the
/// network's log file.
pub fn spawn(binary: &Path, args: &[OsString], files: &Files) -> std::io::Result<ProcessHandle> {
    ProcessHandle::spawn(binary, args, &files.log())
}

/// The dnsmasq an earlier daemon left for this network, when its pid file
/// names a live process whose arguments are exactly `args`. One with other
/// arguments (hosts changed meanwhile) is stopped, so the caller can start
/// the right one on the interface it held.
pub async fn adopt(files: &Files, args: &[OsString]) -> Option<ProcessHandle> {
    let text = tokio::fs::read_to_string(files.pid()).await.ok()?;
    let pid: u32 = text.trim().parse().ok()?;
    let marker = files.pid().display().to_string();
    let handle = ProcessHandle::adopt(pid, &marker).ok()?;
    let cmdline = tokio::fs::read(format!("/proc/{pid}/cmdline")).await.ok()?;
    let found: Vec<&[u8]> = cmdline
        .split(|&byte| byte == 0)
        .filter(|arg| !arg.is_empty())
        .skip(1)
        .collect();
    let wanted: Vec<&[u8]> = args.iter().map(|arg| arg.as_encoded_bytes()).collect();
    if found == wanted {
        return Some(handle);
    }
    tracing::info!(pid, "stopping a dnsmasq with outdated arguments");
    stop(handle).await;
    None
}

/// SIGTERM, then SIGKILL after 5 s; returns once the process is gone.
pub async fn stop(handle: ProcessHandle) {
    let Ok(exited) = handle.exit_watcher() else {
        let _ = handle.signal(Signal::SIGKILL);
        return;
    };
    let _ = handle.signal(Signal::SIGTERM);
    let mut exited = std::pin::pin!(exited);
    if tokio::time::timeout(Duration::from_secs(5), &mut exited)
        .await
        .is_err()
    {
        let _ = handle.signal(Signal::SIGKILL);
        exited.await;
    }
}

/// A lease file's addresses by MAC (lower case). A missing or unreadable
/// file has no leases.
pub async fn leases(path: &Path) -> HashMap<String, String> {
    let text = tokio::fs::read_to_string(path).await.unwrap_or_default();
    parse_leases(&text)
}

/// Lines are `EXPIRY MAC IP HOSTNAME CLIENT-ID` (dnsmasq's format).
fn parse_leases(text: &str) -> HashMap<String, String> {
    text.lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let _expiry = fields.next()?;
            let mac = fields.next()?;
            let ip = fields.next()?;
            ip.parse::<std::net::Ipv4Addr>().ok()?;
            Some((mac.to_lowercase(), ip.to_owned()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lease_lines_give_addresses_by_mac() {
        let text = "1765090000 52:54:00:AA:00:01 10.77.0.23 web 01:52:54:00:aa:00:01\n\
                    garbage\n\
                    1765090001 52:54:00:aa:00:02 fe80::1 * *\n";
        let leases = parse_leases(text);
        assert_eq!(leases.len(), 1);
        assert_eq!(leases["52:54:00:aa:00:01"], "10.77.0.23");
    }

    #[test]
    fn only_valid_labels_become_names_and_once_per_vm() {
        let nic = |id, vm: &str| corvus_storage::NetworkNicRow {
            nic_id: id,
            vm_id: id,
            vm_name: vm.into(),
            mac_address: format!("52:54:00:00:00:0{id}"),
            ip_address: None,
        };
        let hosts = hosts(&[nic(1, "web"), nic(2, "web"), nic(3, "db_1"), nic(4, "a.b")]);
        let names: Vec<_> = hosts.iter().map(|h| h.name.as_deref()).collect();
        assert_eq!(names, [Some("web"), None, None, None]);
    }
}
