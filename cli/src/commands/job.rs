//! Requests the daemon answers as a job: progress frames, then one answer
//! (`disk import|clone`, `node drain`).

use super::Ctx;
use crate::client::Client;
use crate::error::CliError;
use corvus_protocol::{ClientMessage, JobProgress, Request, Response, ServerMessage};

/// Sends a request the daemon answers as a job (progress frames, then one
/// answer), passing each frame to `progress`; Ctrl+C asks the daemon to
/// cancel (`cancelling` tells the user) and still waits for the answer.
pub async fn follow(
    ctx: &Ctx,
    request: Request,
    progress: impl Fn(&JobProgress),
    cancelling: impl Fn(),
) -> Result<Response, CliError> {
    let mut conn = Client::connect(&ctx.endpoint).await?.into_connection();
    conn.send(ClientMessage::Request(request))
        .await
        .map_err(CliError::frame)?;
    let interrupt = tokio::signal::ctrl_c();
    tokio::pin!(interrupt);
    let mut cancelled = false;
    loop {
        tokio::select! {
            message = conn.recv() => match message.map_err(CliError::frame)? {
                Some(ServerMessage::Progress(update)) => progress(&update),
                Some(ServerMessage::Reply(answer)) => return answer.map_err(CliError::Refused),
                Some(other) => {
                    return Err(CliError::Protocol(format!("unexpected frame during a job: {other:?}")));
                }
                None => {
                    return Err(CliError::Protocol("the daemon closed the connection during the job".into()));
                }
            },
            _ = &mut interrupt, if !cancelled => {
                cancelled = true;
                cancelling();
                conn.send(ClientMessage::Detach).await.map_err(CliError::frame)?;
            }
        }
    }
}
