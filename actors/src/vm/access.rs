//! Interactive access to a running VM: its HMP monitor and serial console
//! (relayed byte streams), and its SPICE socket.

use super::{VmActorState, VmReply};
use corvus_protocol::{Channel, DisplayKind, ErrorKind, Response, VmState, WireError};
use corvus_qemu::read_tail_async;
use std::sync::{Arc, Weak};
use tokio::net::UnixStream;

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
    fn require_running(&self, what: &str) -> Result<(), WireError> {
        match self.info.status {
            VmState::Running | VmState::Paused => Ok(()),
            state => Err(WireError::transition(
                state,
                format!(
                    "cannot {what}: VM '{}' is {state}; start it with `crv vm start {}`",
                    self.info.name, self.info.name
                ),
            )),
        }
    }

    /// One writer per channel: a second attach is refused naming the holder.
    pub(super) async fn attach(
        &mut self,
        channel: Channel,
        connection: u64,
    ) -> Result<VmReply, WireError> {
        let what = describe(channel);
        self.require_running(&format!("attach to the {what}"))?;
        if let Some(holder) = self.holders.slot(channel).upgrade() {
            return Err(WireError::new(
                ErrorKind::Busy,
                format!(
                    "the {what} of VM '{}' is in use by connection {holder} (one client per channel); detach there first (Ctrl+])",
                    self.info.name
                ),
            ));
        }
        let paths = self.ctx.paths(self.info.id);
        let (socket, replay) = match channel {
            Channel::Monitor => (paths.monitor, Vec::new()),
            Channel::Serial => (
                paths.serial,
                read_tail_async(&paths.serial_log, SERIAL_REPLAY)
                    .await
                    .unwrap_or_default(),
            ),
        };
        let stream = UnixStream::connect(&socket).await.map_err(|err| {
            WireError::unavailable(format!(
                "cannot open the {what} socket {}: {err}",
                socket.display()
            ))
        })?;
        let lease = Arc::new(connection);
        *self.holders.slot(channel) = Arc::downgrade(&lease);
        Ok(VmReply::Attached(Attachment {
            stream,
            replay,
            lease,
        }))
    }

    pub(super) async fn spice_uri(&self) -> Result<VmReply, WireError> {
        if self.info.display == DisplayKind::None {
            return Err(WireError::invalid(format!(
                "VM '{}' has no display (--display none); use `crv vm console {}`, or `crv vm edit {} --display spice` while it is stopped",
                self.info.name, self.info.name, self.info.name
            )));
        }
        self.require_running("view it")?;
        let socket = self.ctx.paths(self.info.id).spice;
        if tokio::fs::metadata(&socket).await.is_err() {
            return Err(WireError::unavailable(format!(
                "QEMU has not created its SPICE socket {} yet",
                socket.display()
            )));
        }
        let socket = socket.display().to_string();
        Ok(VmReply::Response(Response::SpiceUri {
            uri: format!("spice+unix://{socket}"),
            socket,
        }))
    }
}
