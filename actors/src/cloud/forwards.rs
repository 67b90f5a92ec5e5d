//! Port forwards of user NICs: checked when defined (ports, protocol,
//! duplicates within the VM), and probed at each start, so that a host
//! port someone already holds fails the start with its number and, when it
//! is another VM's forward, that VM's name — QEMU itself would only say
//! "could not set up host forwarding rule".

use super::CloudError;
use corvus_protocol::{Forward, ForwardProtocol, NicSpec, NicType, VmInfo};
use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};

/// Forwards come only with user NICs, never port 0, each host port once.
pub fn check_nic(nic: &NicSpec) -> Result<(), CloudError> {
    if nic.forwards.is_empty() {
        return Ok(());
    }
    if nic.nic_type != NicType::User {
        return Err(CloudError::ForwardNotUser(nic.nic_type.to_string()));
    }
    check_all(&nic.forwards)
}

pub fn check_all<'a>(forwards: impl IntoIterator<Item = &'a Forward>) -> Result<(), CloudError> {
    let mut seen = HashSet::new();
    for forward in forwards {
        check(forward)?;
        if !seen.insert((
            forward.protocol,
            forward.host_address.clone(),
            forward.host_port,
        )) {
            return Err(CloudError::DuplicateHostPort {
                protocol: forward.protocol.to_string(),
                address: forward.host_address.clone(),
                port: forward.host_port,
            });
        }
    }
    Ok(())
}

fn check(forward: &Forward) -> Result<(), CloudError> {
    let bad = |reason: &str| CloudError::ForwardSpec {
        spec: forward.to_string(),
        reason: reason.to_owned(),
    };
    if forward.host_port == 0 || forward.guest_port == 0 {
        return Err(bad("port 0 is not a port"));
    }
    // QEMU 7.2's hostfwd binds IPv4 host addresses only.
    match forward.host_address.parse::<IpAddr>() {
        Ok(IpAddr::V4(_)) => Ok(()),
        Ok(IpAddr::V6(_)) => Err(bad("QEMU forwards from IPv4 host addresses only")),
        Err(_) => Err(bad("the host address must be an IPv4 address")),
    }
}

/// Every forward of the VM's user NICs.
pub fn of_vm(vm: &VmInfo) -> impl Iterator<Item = &Forward> {
    vm.network_interfaces
        .iter()
        .filter(|nic| nic.nic_type == NicType::User)
        .flat_map(|nic| nic.forwards.iter())
}

/// Whether two forwards would bind the same host socket.
fn collide(a: &Forward, b: &Forward) -> bool {
    let wildcard = |f: &Forward| f.host_address == "0.0.0.0";
    a.protocol == b.protocol
        && a.host_port == b.host_port
        && (a.host_address == b.host_address || wildcard(a) || wildcard(b))
}

/// The host ports this VM would bind that are taken: by another VM's
/// running QEMU (named), or by any other process (found by binding).
/// Binding and closing at once leaves a short window before QEMU binds;
/// QEMU's own error still covers a port taken inside it.
pub async fn taken(vm: &VmInfo, others: &[std::sync::Arc<VmInfo>]) -> Result<(), String> {
    for forward in of_vm(vm) {
        let holder = others.iter().find(|other| {
            other.id != vm.id
                && other.status.has_process()
                && of_vm(other).any(|theirs| collide(forward, theirs))
        });
        if let Some(holder) = holder {
            return Err(format!(
                "Host port {} ({}) is already forwarded by VM '{}', which is {}; stop it, or pick another port (`crv vm net remove` and `crv vm net add --forward`)",
                forward.host_port, forward, holder.name, holder.status
            ));
        }
        let Ok(ip) = forward.host_address.parse::<IpAddr>() else {
            continue;
        };
        let address = SocketAddr::new(ip, forward.host_port);
        let bound = match forward.protocol {
            ForwardProtocol::Tcp => tokio::net::TcpListener::bind(address).await.map(drop),
            ForwardProtocol::Udp => tokio::net::UdpSocket::bind(address).await.map(drop),
        };
        if let Err(err) = bound {
            return Err(format!(
                "Host port {} ({forward}) is in use by another process ({err}); free it, or pick another port (`crv vm net remove` and `crv vm net add --forward`)",
                forward.host_port
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn forward(spec: &str) -> Forward {
        spec.parse().expect("a forward")
    }

    #[test]
    fn port_zero_ipv6_and_duplicates_are_refused() {
        assert!(check_all([&forward("tcp:2222:22")]).is_ok());
        let zero = Forward {
            host_port: 0,
            ..forward("2222:22")
        };
        assert!(
            check_all([&zero])
                .unwrap_err()
                .to_string()
                .contains("port 0")
        );
        let twice = [forward("2222:22"), forward("127.0.0.1:2222:80")];
        assert!(matches!(
            check_all(&twice),
            Err(CloudError::DuplicateHostPort { port: 2222, .. })
        ));
        // The same port over UDP is another socket.
        assert!(check_all(&[forward("2222:22"), forward("udp:2222:22")]).is_ok());
    }

    #[test]
    fn a_wildcard_collides_with_every_address_of_its_port() {
        assert!(collide(
            &forward("0.0.0.0:80:80"),
            &forward("127.0.0.1:80:8080")
        ));
        assert!(!collide(
            &forward("127.0.0.2:80:80"),
            &forward("127.0.0.1:80:80")
        ));
        assert!(!collide(&forward("tcp:80:80"), &forward("udp:80:80")));
    }
}
