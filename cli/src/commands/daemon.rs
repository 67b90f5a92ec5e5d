//! `crv ping`, `crv status`, `crv shutdown`.

use super::Ctx;
use crate::client::{Client, one_shot};
use crate::error::CliError;
use crate::output;
use corvus_protocol::{Request, Response};
use std::time::Instant;

pub async fn ping(ctx: &Ctx) -> Result<(), CliError> {
    let mut client = Client::connect(&ctx.endpoint).await?;
    let sent = Instant::now();
    client.request(Request::Ping).await?;
    let rtt = sent.elapsed();
    if ctx.json {
        output::json(&serde_json::json!({ "pong": true, "rtt_us": rtt.as_micros() as u64 }));
    } else {
        println!("pong ({:.3} ms)", rtt.as_secs_f64() * 1000.0);
    }
    Ok(())
}

pub async fn status(ctx: &Ctx) -> Result<(), CliError> {
    match one_shot(&ctx.endpoint, Request::Status).await? {
        Response::Status(status) if ctx.json => output::json(&status),
        Response::Status(status) => output::status(&status),
        other => return Err(unexpected(other)),
    }
    Ok(())
}

pub async fn shutdown(ctx: &Ctx) -> Result<(), CliError> {
    one_shot(&ctx.endpoint, Request::Shutdown).await?;
    if ctx.json {
        output::json(&serde_json::json!({ "shutting_down": true }));
    } else {
        println!("corvus is shutting down");
    }
    Ok(())
}

pub fn unexpected(response: Response) -> CliError {
    CliError::Protocol(format!("unexpected reply from the daemon: {response:?}"))
}
