//! `crv vm monitor` and `crv vm console`: a byte relay through the daemon,
//! raw on a terminal (Ctrl+] detaches), line-fed from a pipe.

use super::Ctx;
use crate::client::Client;
use crate::error::CliError;
use crate::render::LineRenderer;
use crate::terminal::RawMode;
use corvus_protocol::{Channel, ClientMessage, Request, Response, ServerMessage, VmRef};
use futures::{SinkExt, StreamExt};
use std::io::IsTerminal;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

/// Ctrl+], as in telnet and virsh console.
const DETACH_KEY: u8 = 0x1d;
/// After piped input ends, the relay stays open until the VM has been
/// quiet this long, so that the answer to the last line is printed.
const QUIET_AFTER_INPUT: Duration = Duration::from_millis(700);
/// A monitor answer is complete once a fresh prompt follows it.
const MONITOR_PROMPT: &[u8] = b"(qemu) ";

enum Input {
    Bytes(Vec<u8>),
    Detach,
    /// Piped stdin ended after this many lines.
    Ended {
        lines: usize,
    },
}

pub async fn attach(ctx: &Ctx, vm: &str, channel: Channel) -> Result<(), CliError> {
    let mut client = Client::connect(&ctx.endpoint).await?;
    let replay = match client
        .request(Request::Attach {
            vm: VmRef::parse(vm),
            channel,
        })
        .await?
    {
        Response::Attached { replay } => replay,
        other => {
            return Err(CliError::Protocol(format!(
                "unexpected answer to attach: {other:?}"
            )));
        }
    };
    let interactive = std::io::stdin().is_terminal();
    let raw = if interactive {
        Some(RawMode::enable().map_err(|err| {
            CliError::Failed(format!("cannot switch the terminal to raw mode: {err}"))
        })?)
    } else {
        None
    };
    if interactive {
        eprint!("Connected to the {channel} of VM '{vm}'. Detach with Ctrl+].\r\n");
    }
    let mut stdout = tokio::io::stdout();
    let _ = stdout.write_all(&replay).await;
    let _ = stdout.flush().await;

    let (mut sink, mut frames) = client.into_connection().split();
    let (input_tx, mut input) = mpsc::channel(16);
    tokio::spawn(read_stdin(input_tx, interactive));
    let mut input_ended: Option<usize> = None;
    let mut prompts = 0usize;
    // Piped monitor sessions print what a terminal would show, not the redraws.
    let mut renderer = (channel == Channel::Monitor && !interactive).then(LineRenderer::default);
    let outcome = loop {
        let quiet = async {
            match input_ended {
                Some(_) => tokio::time::sleep(QUIET_AFTER_INPUT).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            frame = frames.next() => match frame {
                Some(Ok(ServerMessage::Output(bytes))) => {
                    prompts += count(&bytes, MONITOR_PROMPT);
                    let shown = match &mut renderer {
                        Some(renderer) => renderer.feed(&bytes),
                        None => bytes,
                    };
                    let _ = stdout.write_all(&shown).await;
                    let _ = stdout.flush().await;
                    // The banner's prompt plus one per line sent.
                    if channel == Channel::Monitor && input_ended.is_some_and(|lines| prompts > lines) {
                        break Ok(None);
                    }
                }
                Some(Ok(ServerMessage::StreamEnd { reason })) => break Ok(Some(reason)),
                Some(Ok(_)) => {}
                Some(Err(err)) => break Err(CliError::frame(err)),
                None => break Ok(Some("the daemon closed the connection".to_owned())),
            },
            typed = input.recv(), if input_ended.is_none() => match typed {
                Some(Input::Bytes(bytes)) => {
                    if sink.send(ClientMessage::Input(bytes)).await.is_err() {
                        break Ok(Some("the daemon closed the connection".to_owned()));
                    }
                }
                Some(Input::Ended { lines }) => input_ended = Some(lines),
                Some(Input::Detach) | None => break Ok(None),
            },
            _ = quiet => break Ok(None),
        }
    };
    let _ = sink.send(ClientMessage::Detach).await;
    if let Some(renderer) = &renderer {
        let _ = stdout.write_all(renderer.pending()).await;
        let _ = stdout.write_all(b"\n").await;
        let _ = stdout.flush().await;
    }
    drop(raw);
    match outcome? {
        Some(reason) if interactive => eprintln!("\r\n{reason}"),
        Some(reason) => eprintln!("crv: {reason}"),
        None if interactive => eprintln!("\r\ndetached"),
        None => {}
    }
    Ok(())
}

fn count(haystack: &[u8], needle: &[u8]) -> usize {
    haystack
        .windows(needle.len())
        .filter(|w| *w == needle)
        .count()
}

async fn read_stdin(tx: mpsc::Sender<Input>, interactive: bool) {
    let mut stdin = tokio::io::stdin();
    let mut buffer = [0u8; 4096];
    let mut lines = 0;
    loop {
        let n = match stdin.read(&mut buffer).await {
            Ok(0) | Err(_) => {
                let _ = tx
                    .send(if interactive {
                        Input::Detach
                    } else {
                        Input::Ended { lines }
                    })
                    .await;
                return;
            }
            Ok(n) => n,
        };
        let chunk = &buffer[..n];
        if interactive && let Some(at) = chunk.iter().position(|b| *b == DETACH_KEY) {
            if at > 0 {
                let _ = tx.send(Input::Bytes(chunk[..at].to_vec())).await;
            }
            let _ = tx.send(Input::Detach).await;
            return;
        }
        lines += chunk.iter().filter(|b| **b == b'\n').count();
        if tx.send(Input::Bytes(chunk.to_vec())).await.is_err() {
            return;
        }
    }
}
