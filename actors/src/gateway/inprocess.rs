//! The web console's way in (issue 21): a connection served exactly like a
//! socket client's — the handshake, the role check of `roles.rs`, the
//! dispatch of `dispatch.rs`, streams with their Busy rule and replay —
//! over an in-process pipe instead of a socket. The web front is then just
//! another client, and holds no VM logic of its own.

use super::peer::{Peer, Via};
use super::{Services, connection};
use crate::client_name::ClientName;
use corvus_protocol::{
    ClientMessage, Connection, ErrorKind, PROTOCOL_VERSION, Role, ServerMessage, WireError,
};
use corvus_storage::Store;
use std::sync::Arc;
use tokio::io::DuplexStream;

/// The client side of an in-process connection.
pub type InProcess = Connection<DuplexStream, ServerMessage, ClientMessage>;

/// Room in each direction of the pipe; a console's output frames are at
/// most 16 KiB, so a few fit before the relay waits for the page.
const PIPE_BYTES: usize = 256 * 1024;

/// What the web front may use of the gateway: connections, the database
/// (for its sessions) and the revoked certificates.
#[derive(Clone)]
pub struct Door {
    services: Arc<Services>,
}

impl Door {
    pub(super) fn new(services: Arc<Services>) -> Door {
        Door { services }
    }

    pub fn store(&self) -> &Store {
        &self.services.ctx.store
    }

    pub fn is_revoked(&self, serial: &str) -> bool {
        self.services.revoked.contains(serial)
    }

    /// A connection for `client` with `role`, counted under
    /// `--max-connections` like any other and already past the handshake.
    pub async fn connect(
        &self,
        client: &str,
        role: Role,
        certificate: Option<String>,
    ) -> Result<InProcess, WireError> {
        let Some(slot) = self.services.open() else {
            let limit = self.services.limits.max_connections;
            return Err(WireError::new(
                ErrorKind::TooManyConnections { limit },
                format!(
                    "the daemon already serves {limit} connections, its maximum (--max-connections): close other pages or clients, then reload"
                ),
            ));
        };
        let peer = Peer {
            name: ClientName::intern(client),
            role,
            via: Via::Web,
            certificate,
        };
        let (ours, theirs) = tokio::io::duplex(PIPE_BYTES);
        tokio::spawn(async move {
            connection::serve(theirs, slot.id, &peer, &slot.services).await;
            drop(slot);
        });
        let mut conn = InProcess::new(ours);
        conn.send(ClientMessage::Hello {
            protocol_version: PROTOCOL_VERSION,
            client: "corvus-web".to_owned(),
        })
        .await
        .map_err(|err| WireError::internal(format!("the in-process connection broke: {err}")))?;
        match conn.recv().await {
            Ok(Some(ServerMessage::Welcome { .. })) => Ok(conn),
            Ok(Some(ServerMessage::Reply(Err(err)))) => Err(err),
            Ok(other) => Err(WireError::internal(format!(
                "the in-process handshake answered {other:?}"
            ))),
            Err(err) => Err(WireError::internal(format!(
                "the in-process connection broke: {err}"
            ))),
        }
    }
}
