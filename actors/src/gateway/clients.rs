//! The clients connected right now: how many connections each identity
//! holds (`--max-connections-per-client`), and a way to close those of a
//! certificate when it is revoked.

use super::peer::Peer;
use crate::client_name::ClientName;
use crate::tls::server::Revoked;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use tokio_util::sync::CancellationToken;

pub struct Clients {
    max_per_client: u64,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    per_client: HashMap<ClientName, u64>,
    /// Connections with a certificate, by connection id.
    certified: HashMap<u64, Certified>,
}

struct Certified {
    serial: String,
    close: CancellationToken,
}

/// One admitted connection; dropping it gives its place back.
pub struct Lease {
    clients: Arc<Clients>,
    connection: u64,
    counted: Option<ClientName>,
    close: CancellationToken,
}

impl Clients {
    pub fn new(max_per_client: u64) -> Clients {
        Clients {
            max_per_client,
            inner: Mutex::default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Admits a connection of `peer`, or returns the per-client limit it
    /// would exceed.
    pub fn admit(self: &Arc<Self>, connection: u64, peer: &Peer) -> Result<Lease, u64> {
        let mut inner = self.lock();
        let counted = if peer.capped() {
            let held = inner.per_client.entry(peer.name).or_default();
            if *held >= self.max_per_client {
                return Err(self.max_per_client);
            }
            *held += 1;
            Some(peer.name)
        } else {
            None
        };
        let close = CancellationToken::new();
        if let Some(serial) = &peer.certificate {
            inner.certified.insert(
                connection,
                Certified {
                    serial: serial.clone(),
                    close: close.clone(),
                },
            );
        }
        Ok(Lease {
            clients: self.clone(),
            connection,
            counted,
            close,
        })
    }

    /// Closes every connection whose certificate is revoked; returns how many.
    pub fn close_revoked(&self, revoked: &Revoked) -> u64 {
        let inner = self.lock();
        let mut closed = 0;
        for certified in inner.certified.values() {
            if revoked.contains(&certified.serial) && !certified.close.is_cancelled() {
                certified.close.cancel();
                closed += 1;
            }
        }
        closed
    }
}

impl Lease {
    /// Resolves when the daemon wants this connection closed.
    pub async fn closed(&self) {
        self.close.cancelled().await
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        let mut inner = self.clients.lock();
        inner.certified.remove(&self.connection);
        if let Some(name) = self.counted
            && let Some(held) = inner.per_client.get_mut(&name)
        {
            *held -= 1;
            if *held == 0 {
                inner.per_client.remove(&name);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gateway::peer::Via;
    use corvus_protocol::Role;

    fn peer(name: &'static str, via: Via, serial: Option<&str>) -> Peer {
        Peer {
            name: ClientName::from_static(name),
            role: Role::Viewer,
            via,
            certificate: serial.map(str::to_owned),
        }
    }

    #[test]
    fn each_client_holds_at_most_its_share_and_gets_it_back() {
        let clients = Arc::new(Clients::new(2));
        let alice = peer("alice", Via::Tls, Some("01"));
        let first = clients.admit(1, &alice).unwrap();
        let _second = clients.admit(2, &alice).unwrap();
        assert_eq!(clients.admit(3, &alice).err(), Some(2));
        assert!(clients.admit(4, &peer("bob", Via::Tls, Some("02"))).is_ok());
        let owner = peer("unix:0", Via::AdminSocket, None);
        let held: Vec<_> = (10..20)
            .map(|id| clients.admit(id, &owner).unwrap())
            .collect();
        assert_eq!(held.len(), 10, "the daemon's own user is not capped");
        drop(first);
        assert!(clients.admit(5, &alice).is_ok());
    }

    #[test]
    fn revoking_a_certificate_closes_its_connections_only() {
        let clients = Arc::new(Clients::new(8));
        let alice = clients
            .admit(1, &peer("alice", Via::Tls, Some("0a")))
            .unwrap();
        let bob = clients
            .admit(2, &peer("bob", Via::Tls, Some("0b")))
            .unwrap();
        let revoked = Revoked::default();
        revoked.insert("0a".into());
        assert_eq!(clients.close_revoked(&revoked), 1);
        assert!(alice.close.is_cancelled() && !bob.close.is_cancelled());
        assert_eq!(clients.close_revoked(&revoked), 0, "closed once");
        drop(alice);
        assert_eq!(clients.lock().certified.len(), 1);
    }
}
