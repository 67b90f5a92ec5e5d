//! `crv vm monitor` and `crv vm console`: a byte relay through the daemon,
//! raw on a terminal (Ctrl+] detaches), line-fed from a pipe.

use super::Ctx;
use crate::client::Client;
use crate::error::CliError;
use crate::render::LineRenderer;
use crate::terminal::RawMode;
use corvus_protocol::{Channel, ClientMessage, Request, Response, ServerMessage, VmRef};
use futures::{SinkExt, StreamExt};
use std::io::{IsTerminal, Write};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

/// Ctrl+], as in telnet and virsh console.
const DETACH_KEY: u8 = 0x1d;
/// After piped input ends, the relay stays open until the VM has been
/// quiet this long, so that the answer to the last line is printed.
const QUIET_AFTER_INPUT: Duration = Duration::from_millis(700);
/// However busy the output, a piped session ends this long after its
/// input did: a guest printing in a loop would otherwise keep it forever.
const AT_MOST_AFTER_INPUT: Duration = Duration::from_secs(10);
/// A monitor answer is complete once a fresh prompt follows it.
const MONITOR_PROMPT: &[u8] = b"(qemu) ";
/// After a detach, how long crv waits for the daemon to confirm it.
const DETACH_GRACE: Duration = Duration::from_secs(2);

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
        let what = match channel {
            Channel::Monitor => "monitor",
            Channel::Serial => "serial console",
        };
        eprint!("Connected to the {what} of VM '{vm}'. Detach with Ctrl+].\r\n");
        panic_if_requested();
    }
    // From here on a socket or pipe closed under crv is an error to report,
    // not a SIGPIPE that kills it before it can say why or restore the terminal.
    ignore_sigpipe();
    let mut stdout = tokio::io::stdout();
    let _ = stdout.write_all(&replay).await;
    let _ = stdout.flush().await;

    let (mut sink, mut frames) = client.into_connection().split();
    let (input_tx, mut input) = mpsc::channel(16);
    tokio::spawn(read_stdin(input_tx, interactive));
    let mut input_ended: Option<usize> = None;
    let mut input_ended_at = None;
    let mut prompts = 0usize;
    let mut newlines = 0usize;
    // Piped monitor sessions print what a terminal would show, not the redraws.
    let mut renderer = (channel == Channel::Monitor && !interactive).then(LineRenderer::default);
    let outcome = loop {
        // QEMU drops monitor input it has not read when the connection
        // closes: no detaching on quiet before it echoed every line sent
        // (the banner's line plus one per line).
        let all_read =
            channel != Channel::Monitor || input_ended.is_some_and(|lines| newlines > lines);
        let quiet = async {
            match input_ended_at {
                Some(at) if !all_read => tokio::time::sleep_until(at + AT_MOST_AFTER_INPUT).await,
                Some(at) => {
                    let quiet = tokio::time::Instant::now() + QUIET_AFTER_INPUT;
                    tokio::time::sleep_until(quiet.min(at + AT_MOST_AFTER_INPUT)).await
                }
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            frame = frames.next() => match frame {
                Some(Ok(ServerMessage::Output(bytes))) => {
                    prompts += count(&bytes, MONITOR_PROMPT);
                    newlines += count(&bytes, b"\n");
                    if show(&mut stdout, renderer.as_mut(), &bytes).await.is_err() {
                        // Whoever read our output is gone (`| head`): end quietly.
                        break Ok(Ended::Here);
                    }
                    // The banner's prompt plus one per line sent.
                    if channel == Channel::Monitor && input_ended.is_some_and(|lines| prompts > lines) {
                        break Ok(Ended::Here);
                    }
                }
                Some(Ok(ServerMessage::StreamEnd { reason })) => break Ok(Ended::ByDaemon(reason)),
                // The stream failed (the VM's node was lost under a relay through another).
                Some(Ok(ServerMessage::Reply(Err(err)))) => break Err(CliError::Refused(err)),
                Some(Ok(_)) => {}
                Some(Err(err)) => break Err(CliError::frame(err)),
                None => break Ok(Ended::Lost),
            },
            typed = input.recv(), if input_ended.is_none() => match typed {
                Some(Input::Bytes(bytes)) => {
                    if sink.send(ClientMessage::Input(bytes)).await.is_err() {
                        break Ok(Ended::Lost);
                    }
                }
                Some(Input::Ended { lines }) => {
                    input_ended = Some(lines);
                    input_ended_at = Some(tokio::time::Instant::now());
                }
                Some(Input::Detach) | None => break Ok(Ended::Here),
            },
            _ = quiet => break Ok(Ended::Here),
        }
    };
    if matches!(outcome, Ok(Ended::Here)) {
        // The daemon frees the channel before it confirms, so a script's
        // next attach right after this one never finds it busy.
        if sink.send(ClientMessage::Detach).await.is_ok() {
            let _ = tokio::time::timeout(DETACH_GRACE, async {
                while let Some(Ok(frame)) = frames.next().await {
                    match frame {
                        ServerMessage::Output(bytes) => {
                            let _ = show(&mut stdout, renderer.as_mut(), &bytes).await;
                        }
                        ServerMessage::StreamEnd { .. } => break,
                        _ => {}
                    }
                }
            })
            .await;
        }
    }
    if let Some(renderer) = &renderer {
        let _ = stdout.write_all(renderer.pending()).await;
        let _ = stdout.write_all(b"\n").await;
        let _ = stdout.flush().await;
    }
    drop(raw);
    let mut stderr = std::io::stderr();
    let _ = match outcome? {
        Ended::ByDaemon(reason) if interactive => writeln!(stderr, "\r\n{reason}"),
        Ended::ByDaemon(reason) => writeln!(stderr, "crv: {reason}"),
        Ended::Here if interactive => writeln!(stderr, "\r\ndetached"),
        Ended::Here => Ok(()),
        Ended::Lost => {
            return Err(CliError::Failed(
                "the daemon closed the connection in the middle of the session".into(),
            ));
        }
    };
    Ok(())
}

/// Who ended a relay.
enum Ended {
    /// This side: Ctrl+], the end of piped input, or stdout closed.
    Here,
    /// The daemon, with its reason (the VM stopped, or the daemon is exiting).
    ByDaemon(String),
    /// The connection broke without a word: a failure.
    Lost,
}

/// Writes relayed bytes to stdout, through the renderer when there is one.
async fn show(
    stdout: &mut tokio::io::Stdout,
    renderer: Option<&mut LineRenderer>,
    bytes: &[u8],
) -> std::io::Result<()> {
    match renderer {
        Some(renderer) => stdout.write_all(&renderer.feed(bytes)).await?,
        None => stdout.write_all(bytes).await?,
    }
    stdout.flush().await
}

/// Fault injection for the terminal test, compiled into debug builds only:
/// `CRV_TEST_PANIC=relay` panics once the terminal is raw.
fn panic_if_requested() {
    if cfg!(debug_assertions) && std::env::var_os("CRV_TEST_PANIC").is_some_and(|v| v == "relay") {
        panic!("CRV_TEST_PANIC: in the relay");
    }
}

fn ignore_sigpipe() {
    use nix::sys::signal::{SigHandler, Signal, signal};
    // SAFETY: SIG_IGN installs no Rust code; crv's only other handler is the default one.
    let _ = unsafe { signal(Signal::SIGPIPE, SigHandler::SigIgn) };
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
