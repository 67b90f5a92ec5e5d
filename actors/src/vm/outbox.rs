//! The replies one transition owes, held until its state change is safe.

use super::{Reply, VmReply};
use corvus_protocol::WireError;
use std::time::Duration;
use tokio::sync::oneshot;
use tracing::{Instrument, warn};

/// How long a reply waits for its state change to be safe before it goes
/// anyway (the database and the journal both refusing writes).
pub(crate) const SAFE_WAIT: Duration = Duration::from_secs(15);

/// The replies one transition owes. A client hears that its command took
/// effect only once the state change is committed or journaled, so that an
/// acknowledged change survives even a SIGKILL of the daemon right after.
#[derive(Default)]
pub struct Outbox(Vec<(Reply, Result<VmReply, WireError>)>);

impl Outbox {
    pub fn push(&mut self, reply: Reply, answer: Result<VmReply, WireError>) {
        self.0.push((reply, answer));
    }

    pub fn send_once_safe(self, safe: Option<oneshot::Receiver<()>>) {
        if self.0.is_empty() {
            return;
        }
        let Some(safe) = safe else {
            return self.send();
        };
        tokio::spawn(
            async move {
                if tokio::time::timeout(SAFE_WAIT, safe).await.is_err() {
                    warn!("answering before the state change is safe: neither the database nor the journal took it within {} s", SAFE_WAIT.as_secs());
                }
                self.send();
            }
            .in_current_span(),
        );
    }

    fn send(self) {
        for (reply, answer) in self.0 {
            let _ = reply.send(answer);
        }
    }
}
