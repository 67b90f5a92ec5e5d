//! `crv ssh VM [-- ARGS…]`: becomes `ssh` (exec, so the terminal, signals
//! and exit status are ssh's own) to the VM's cloud-init user, through the
//! user NIC's forward of guest port 22, or the address a managed network
//! leased to it, or else the address the guest agent reports. Host keys are pinned per VM in a known_hosts file
//! of crv's data directory, started afresh when the instance-id changes
//! (cloud-init then makes new host keys).

use super::Ctx;
use super::daemon::unexpected;
use super::definition::fetch_vm;
use crate::args::SshArgs;
use crate::client::one_shot;
use crate::error::CliError;
use corvus_protocol::{ForwardProtocol, NicType, Request, Response, VmInfo, VmRef};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::Command;

/// Where ssh connects: an address and a port.
struct Route {
    host: String,
    port: u16,
}

pub async fn ssh(ctx: &Ctx, args: SshArgs) -> Result<(), CliError> {
    let vm = fetch_vm(ctx, VmRef::parse(&args.vm)).await?;
    if !vm.status.has_process() {
        return Err(CliError::Failed(format!(
            "VM '{name}' is {status}; start it first (`crv vm start {name} --wait`)",
            name = vm.name,
            status = vm.status
        )));
    }
    let route = match forwarded(&vm).or_else(|| leased(&vm)) {
        Some(route) => route,
        None => agent_route(ctx, &vm).await?,
    };
    let known_hosts = known_hosts(&vm)?;
    let mut command = Command::new("ssh");
    command
        .args(["-p", &route.port.to_string()])
        .args(["-o", "StrictHostKeyChecking=accept-new"])
        .arg("-o")
        .arg(format!("UserKnownHostsFile={}", known_hosts.display()))
        // One entry per VM, whichever port or address reaches it.
        .arg("-o")
        .arg(format!("HostKeyAlias=corvus-{}-{}", vm.name, vm.id));
    if let Some(identity) = &args.identity {
        command.arg("-i").arg(identity);
    }
    if let Some(config) = &vm.cloud_init {
        command.args(["-l", &config.user]);
    }
    command.arg(&route.host).args(&args.args);
    let err = command.exec();
    Err(CliError::Failed(format!(
        "cannot run ssh: {err} (install openssh-client)"
    )))
}

/// A TCP forward of guest port 22 on a user NIC.
fn forwarded(vm: &VmInfo) -> Option<Route> {
    vm.network_interfaces
        .iter()
        .filter(|nic| nic.nic_type == NicType::User)
        .flat_map(|nic| &nic.forwards)
        .find(|f| f.guest_port == 22 && f.protocol == ForwardProtocol::Tcp)
        .map(|f| Route {
            host: f.reachable_address().to_owned(),
            port: f.host_port,
        })
}

/// The address a managed network leased to the VM (or its static one).
fn leased(vm: &VmInfo) -> Option<Route> {
    vm.network_interfaces
        .iter()
        .filter(|nic| nic.nic_type == NicType::Network)
        .find_map(|nic| nic.lease_address.clone().or_else(|| nic.ip_address.clone()))
        .map(|host| Route { host, port: 22 })
}

/// The guest's own address, for bridged and tap NICs, from its agent.
async fn agent_route(ctx: &Ctx, vm: &VmInfo) -> Result<Route, CliError> {
    let no_route = || {
        CliError::Failed(format!(
            "VM '{name}' has no route to its port 22: forward one (`crv vm net add {name} --type user --forward tcp:2222:22` while it is stopped) or give it a bridged NIC and the guest agent",
            name = vm.name
        ))
    };
    let bridged = vm
        .network_interfaces
        .iter()
        .any(|nic| nic.nic_type != NicType::User);
    if !bridged || !vm.guest_agent {
        return Err(no_route());
    }
    let request = Request::GuestInterfaces {
        vm: VmRef::Id(vm.id),
        timeout_secs: None,
    };
    let interfaces = match one_shot(&ctx.endpoint, request).await? {
        Response::GuestInterfaces(interfaces) => interfaces,
        other => return Err(unexpected(other)),
    };
    interfaces
        .iter()
        .flat_map(|interface| &interface.addresses)
        .filter_map(|address| address.split('/').next())
        .find(|address| address.contains('.') && !address.starts_with("10.0.2."))
        .map(|host| Route {
            host: host.to_owned(),
            port: 22,
        })
        .ok_or_else(no_route)
}

/// `$XDG_DATA_HOME/corvus/known_hosts/NAME-ID`; its first line records the
/// instance-id whose host keys it holds.
fn known_hosts(vm: &VmInfo) -> Result<PathBuf, CliError> {
    let from = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    let data = from("XDG_DATA_HOME")
        .map(PathBuf::from)
        .or_else(|| from("HOME").map(|home| PathBuf::from(home).join(".local/share")))
        .ok_or_else(|| {
            CliError::Usage(
                "neither XDG_DATA_HOME nor HOME is set: crv cannot keep host keys".into(),
            )
        })?;
    let dir = data.join("corvus/known_hosts");
    let failed = |err: std::io::Error| {
        CliError::Failed(format!("cannot keep host keys in {}: {err}", dir.display()))
    };
    std::fs::create_dir_all(&dir).map_err(failed)?;
    let path = dir.join(format!("{}-{}", vm.name, vm.id));
    let instance = vm
        .cloud_init
        .as_ref()
        .map_or("none", |config| config.instance_id.as_str());
    let header = format!("# corvus instance-id {instance}\n");
    let current = std::fs::read_to_string(&path).unwrap_or_default();
    if !current.starts_with(&header) {
        // A new instance has new host keys: forget the old ones.
        std::fs::write(&path, &header).map_err(failed)?;
    }
    Ok(path)
}
