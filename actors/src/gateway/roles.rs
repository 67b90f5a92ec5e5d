//! Who may do what: the least role each request needs, in one table, and
//! the one check every request passes before it is dispatched. A new kind
//! of request does not compile until it has a row here.

use super::peer::{Peer, Via};
use corvus_protocol::{Channel, ErrorKind, Request, Role, SnapshotAction, WireError};
use tracing::info;

/// viewer: look (ping, status, list, show, history, events, stats, disks);
/// operator: also run VMs and use their consoles (start, stop, pause,
/// reset, serial console, display);
/// admin: also change definitions, disks and the daemon itself, and the
/// QEMU monitor: HMP can run host commands as the daemon's user (`migrate
/// "exec:…"`), so whoever holds it holds the host, as libvirt's
/// `qemu-monitor-command` needs full access too.
pub fn needed(request: &Request) -> Role {
    match request {
        Request::Ping
        | Request::Status
        | Request::ListVms
        | Request::ShowVm { .. }
        | Request::History { .. }
        | Request::Subscribe { .. }
        | Request::ListDisks
        | Request::ShowDisk { .. }
        | Request::VmStats { .. }
        | Request::AllStats
        | Request::WebLogin
        | Request::GuestInterfaces { .. }
        | Request::ListNetworks
        | Request::ShowNetwork { .. }
        | Request::ListNodes
        | Request::ShowNode { .. } => Role::Viewer,
        Request::VmSnapshot(spec) if spec.action == SnapshotAction::List => Role::Viewer,
        // Like a save: it changes what the VM runs, not what it is.
        Request::VmSnapshot(_) => Role::Operator,
        Request::StartVm { .. }
        | Request::StopVm { .. }
        | Request::PauseVm { .. }
        | Request::ResetVm { .. }
        | Request::SaveVm { .. }
        | Request::Attach {
            channel: Channel::Serial,
            ..
        }
        | Request::SpiceUri { .. } => Role::Operator,
        Request::Attach {
            channel: Channel::Monitor,
            ..
        }
        | Request::CreateDisk { .. }
        | Request::ImportDisk { .. }
        | Request::RegisterDisk { .. }
        | Request::OverlayDisk { .. }
        | Request::CloneDisk { .. }
        | Request::ResizeDisk { .. }
        | Request::DiskSnapshot { .. }
        | Request::DeleteDisk { .. }
        | Request::CreateVmFromImage { .. }
        | Request::SetCloudInit { .. }
        | Request::ClearCloudInit { .. }
        | Request::GuestExec { .. }
        | Request::DeleteVmWithDisks { .. }
        | Request::Shutdown
        | Request::CreateVm { .. }
        | Request::EditVm { .. }
        | Request::DeleteVm { .. }
        | Request::AddDrive { .. }
        | Request::RemoveDrive { .. }
        | Request::AddNic { .. }
        | Request::RemoveNic { .. }
        | Request::AddShare { .. }
        | Request::RemoveShare { .. }
        | Request::ReloadRevocations
        | Request::CreateNetwork { .. }
        | Request::DeleteNetwork { .. }
        | Request::CordonNode { .. }
        | Request::MoveVm { .. }
        | Request::DrainNode { .. } => Role::Admin,
        // The request inside is checked against the role it carries.
        Request::Forwarded { .. } => Role::Node,
    }
}

/// Whether `role` may send what needs `needed`. A node certificate is no
/// super-admin: it forwards and does nothing else, and nobody else forwards.
fn allows(role: Role, needed: Role) -> bool {
    match (role, needed) {
        (Role::Node, Role::Node) => true,
        (Role::Node, Role::Viewer | Role::Operator | Role::Admin)
        | (Role::Viewer | Role::Operator | Role::Admin, Role::Node) => false,
        (role, needed) => role >= needed,
    }
}

/// Lets the request through, or says which role it needs. Every request
/// beyond looking is logged with the client it came from (the audit trail).
pub fn authorize(connection: u64, peer: &Peer, request: &Request) -> Result<(), WireError> {
    let needed = needed(request);
    let verb = request.verb();
    if !allows(peer.role, needed) {
        info!(connection, client = %peer.name, role = %peer.role, request = verb, %needed, "request refused: the client's role does not allow it");
        return Err(denied(peer, verb, needed));
    }
    if needed > Role::Viewer {
        info!(connection, client = %peer.name, role = %peer.role, request = verb, "request");
    }
    Ok(())
}

fn denied(peer: &Peer, verb: &str, needed: Role) -> WireError {
    let way_out = match (peer.role, needed) {
        (Role::Node, _) => {
            Some("a node certificate only passes on requests of the node's own clients".to_owned())
        }
        (_, Role::Node) => Some("only another node of this database forwards requests".to_owned()),
        _ => None,
    };
    let way_out = way_out.unwrap_or_else(|| match peer.via {
        Via::ViewerSocket => {
            "the viewer socket is read-only: use the daemon's main socket".to_owned()
        }
        Via::Web => format!(
            "log in with `crv web` as a client with that role (a certificate from `corvus tls issue NAME --role {needed}`, or the daemon's own socket)"
        ),
        Via::Tls | Via::AdminSocket | Via::Tcp | Via::Node => format!(
            "ask the daemon's administrator for a certificate with that role (`corvus tls issue NAME --role {needed}`)"
        ),
    });
    WireError::new(
        ErrorKind::PermissionDenied { needed },
        format!(
            "permission denied: `{verb}` needs the {needed} role, and {} has the {} role; {way_out}",
            peer.name, peer.role
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client_name::ClientName;
    use corvus_protocol::{SubscribeFilter, VmRef};

    fn vm() -> VmRef {
        VmRef::Name("web".into())
    }

    #[test]
    fn each_role_may_do_what_the_issue_lists() {
        let viewer = [
            Request::Ping,
            Request::Status,
            Request::ListVms,
            Request::ShowVm { vm: vm() },
            Request::History {
                vm: vm(),
                limit: None,
            },
            Request::Subscribe {
                filter: SubscribeFilter::default(),
            },
        ];
        let operator = [
            Request::StartVm { vm: vm() },
            Request::StopVm {
                vm: vm(),
                timeout_secs: None,
            },
            Request::PauseVm { vm: vm() },
            Request::ResetVm { vm: vm() },
            Request::Attach {
                vm: vm(),
                channel: Channel::Serial,
            },
        ];
        let admin = [
            Request::Attach {
                vm: vm(),
                channel: Channel::Monitor,
            },
            Request::Shutdown,
            Request::DeleteVm { vm: vm() },
            Request::RemoveDrive {
                vm: vm(),
                drive_id: 1,
                timeout_secs: None,
            },
            Request::ReloadRevocations,
        ];
        for (requests, role) in [
            (&viewer[..], Role::Viewer),
            (&operator[..], Role::Operator),
            (&admin[..], Role::Admin),
        ] {
            for request in requests {
                assert_eq!(needed(request), role, "{request:?}");
            }
        }
    }

    #[test]
    fn a_refusal_names_the_role_needed_and_the_way_out() {
        let peer = Peer {
            name: ClientName::from_static("alice"),
            role: Role::Viewer,
            via: Via::Tls,
            certificate: None,
        };
        let err = authorize(1, &peer, &Request::StartVm { vm: vm() }).unwrap_err();
        assert_eq!(
            err.kind,
            ErrorKind::PermissionDenied {
                needed: Role::Operator
            }
        );
        assert!(
            err.message
                .contains("`vm start` needs the operator role, and alice has the viewer role"),
            "{}",
            err.message
        );
        assert!(authorize(1, &peer, &Request::ListVms).is_ok());
    }

    #[test]
    fn a_node_only_forwards_and_only_a_node_forwards() {
        let as_role = |role| Peer {
            name: ClientName::from_static("b"),
            role,
            via: Via::Tls,
            certificate: None,
        };
        let forwarded = Request::Forwarded {
            client: "alice".into(),
            role: Role::Operator,
            request: Box::new(Request::StartVm { vm: vm() }),
        };
        assert!(authorize(1, &as_role(Role::Node), &forwarded).is_ok());
        for request in [
            Request::ListVms,
            Request::StartVm { vm: vm() },
            Request::Shutdown,
        ] {
            let err = authorize(1, &as_role(Role::Node), &request).unwrap_err();
            assert!(err.message.contains("only passes on"), "{err}");
        }
        let err = authorize(1, &as_role(Role::Admin), &forwarded).unwrap_err();
        assert!(err.message.contains("only another node"), "{err}");
    }
}
