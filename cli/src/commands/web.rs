//! `crv web`: a one-time login link to the daemon's web console, printed,
//! or opened in the desktop's browser with `--open`.

use super::Ctx;
use super::daemon::unexpected;
use crate::client::one_shot;
use crate::error::CliError;
use corvus_protocol::{Request, Response};

pub async fn web(ctx: &Ctx, open: bool) -> Result<(), CliError> {
    let (url, expires_in_secs) = match one_shot(&ctx.endpoint, Request::WebLogin).await? {
        Response::WebLogin {
            url,
            expires_in_secs,
        } => (url, expires_in_secs),
        other => return Err(unexpected(other)),
    };
    if ctx.json {
        crate::output::json(&serde_json::json!({ "url": url, "expires_in_secs": expires_in_secs }));
    } else {
        println!("{url}");
        eprintln!("open this link within {expires_in_secs} s; it logs one browser in, once");
    }
    if !open {
        return Ok(());
    }
    let Some(opener) = crate::which("xdg-open") else {
        return Err(CliError::Failed(
            "xdg-open is not installed (Debian package xdg-utils): open the link above yourself"
                .into(),
        ));
    };
    let status = tokio::process::Command::new(opener)
        .arg(&url)
        .status()
        .await
        .map_err(|err| CliError::Failed(format!("cannot run xdg-open: {err}")))?;
    if !status.success() {
        return Err(CliError::Failed(format!(
            "xdg-open failed ({status}): open the link above yourself"
        )));
    }
    Ok(())
}
