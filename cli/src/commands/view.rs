//! `crv vm view`: remote-viewer on the VM's SPICE socket.

use super::Ctx;
use super::daemon::unexpected;
use crate::client::one_shot;
use crate::error::CliError;
use corvus_protocol::{Request, Response, VmRef};
use std::os::unix::process::CommandExt;
use std::path::Path;

pub async fn view(ctx: &Ctx, vm: &str, print_uri: bool) -> Result<(), CliError> {
    let (uri, socket) = match one_shot(
        &ctx.endpoint,
        Request::SpiceUri {
            vm: VmRef::parse(vm),
        },
    )
    .await?
    {
        Response::SpiceUri { uri, socket } => (uri, socket),
        other => return Err(unexpected(other)),
    };
    if print_uri {
        if ctx.json {
            crate::output::json(&serde_json::json!({ "uri": uri, "socket": socket }));
        } else {
            println!("{uri}");
        }
        return Ok(());
    }
    // SPICE listens on a Unix socket on the daemon's host only.
    if !ctx.endpoint.is_local() || !Path::new(&socket).exists() {
        return Err(CliError::Failed(format!(
            "the VM's display is a Unix socket on the daemon's host ({socket}), which this client cannot reach; run `crv vm view` on that host, or forward the socket with `ssh -L /tmp/spice.sock:{socket} HOST`"
        )));
    }
    let Some(viewer) = crate::which("remote-viewer") else {
        return Err(CliError::Failed("remote-viewer is not installed: install the Debian package virt-viewer (apt-get install virt-viewer), or use --print-uri with another SPICE client".into()));
    };
    let err = std::process::Command::new(viewer).arg(&uri).exec();
    Err(CliError::Failed(format!("cannot run remote-viewer: {err}")))
}
