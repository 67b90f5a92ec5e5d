//! Interactive access to a running VM: its HMP monitor and serial console
//! (relayed byte streams), and its SPICE socket.

use super::{Reply, VmActorState, VmReply};
use corvus_protocol::{Channel, ErrorKind, Response, WireError};
use corvus_qemu::read_tail_async;
use std::sync::{Arc, Weak};
use tokio::net::UnixStream;
use tracing::Instrument;

/// What `crv vm console` replays before going live.
pub const SERIAL_REPLAY: usize = 64 * 1024;

/// An open relay to one channel. The holder keeps `lease` alive for as long
/// as it relays; the actor sees the channel free again once it is dropped.
pub struct Attachment {
    pub stream: UnixStream,
    pub replay: Vec<u8>,
    pub lease: Arc<u64>,
}

/// The channel as users call it, for messages.
pub fn describe(channel: Channel) -> &'static str {
    match channel {
        Channel::Monitor => "monitor",
        Channel::Serial => "serial console",
    }
}

/// Who holds each channel, by connection id.
#[derive(Default)]
pub struct Holders {
    monitor: Weak<u64>,
    serial: Weak<u64>,
}

impl Holders {
    fn slot(&mut self, channel: Channel) -> &mut Weak<u64> {
        match channel {
            Channel::Monitor => &mut self.monitor,
            Channel::Serial => &mut self.serial,
        }
    }
}

impl VmActorState {
    /// One writer per channel: a second attach is refused naming the holder.
    /// Connecting to QEMU's socket (and reading the console's backlog) is a
    /// task that answers the client itself.
    pub(super) fn attach(&mut self, channel: Channel, connection: u64, reply: Reply) {
        let what = describe(channel);
        if let Some(holder) = self.holders.slot(channel).upgrade() {
            let _ = reply.send(Err(WireError::new(
                ErrorKind::Busy,
                format!(
                    "the {what} of VM '{}' is in use by connection {holder} (one client per channel); detach there first (Ctrl+])",
                    self.info.name
                ),
            )));
            return;
        }
        let Some(paths) = self.boot.as_ref().map(|boot| boot.paths.clone()) else {
            let _ = reply.send(Err(WireError::unavailable(format!(
                "VM '{}' has no QEMU to attach to",
                self.info.name
            ))));
            return;
        };
        // Held from now on, so that a second attach cannot slip in while
        // this one connects; a failed connect drops it again.
        let lease = Arc::new(connection);
        *self.holders.slot(channel) = Arc::downgrade(&lease);
        tokio::spawn(
            async move {
                let (socket, replay) = match channel {
                    Channel::Monitor => (paths.monitor, Vec::new()),
                    Channel::Serial => (
                        paths.serial,
                        read_tail_async(&paths.serial_log, SERIAL_REPLAY)
                            .await
                            .unwrap_or_default(),
                    ),
                };
                let answer = match UnixStream::connect(&socket).await {
                    Ok(stream) => Ok(VmReply::Attached(Attachment {
                        stream,
                        replay,
                        lease,
                    })),
                    Err(err) => Err(WireError::unavailable(format!(
                        "cannot open the {what} socket {}: {err}",
                        socket.display()
                    ))),
                };
                let _ = reply.send(answer);
            }
            .in_current_span(),
        );
    }

    pub(super) fn spice_uri(&self, reply: Reply) {
        let Some(socket) = self.boot.as_ref().map(|boot| boot.paths.spice.clone()) else {
            let _ = reply.send(Err(WireError::unavailable(format!(
                "VM '{}' has no QEMU to view",
                self.info.name
            ))));
            return;
        };
        tokio::spawn(
            async move {
                let answer = match tokio::fs::metadata(&socket).await {
                    Ok(_) => {
                        let socket = socket.display().to_string();
                        Ok(VmReply::Response(Response::SpiceUri {
                            uri: format!("spice+unix://{socket}"),
                            socket,
                        }))
                    }
                    Err(_) => Err(WireError::unavailable(format!(
                        "QEMU has not created its SPICE socket {} yet",
                        socket.display()
                    ))),
                };
                let _ = reply.send(answer);
            }
            .in_current_span(),
        );
    }
}
