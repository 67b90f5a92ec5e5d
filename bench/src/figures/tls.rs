//! Figure 11 (issue 18): remote access over mutual TLS. A daemon of its own
//! with `--listen`, certificates made by `corvus tls`, and in the same run:
//! a ping on an open TLS connection against one on an open Unix socket
//! connection; a new connection (TCP, TLS handshake, Hello, ping) against a
//! new Unix one; and `crv --remote` as a whole process against `crv` on
//! the socket.

use super::{Bench, progress, rotated};
use crate::client::Client;
use crate::crv::Crv;
use crate::daemon::Daemon;
use crate::report::{Row, Target, Unit};
use crate::stats::{ms, us};
use anyhow::{Context as _, bail};
use corvus_protocol::tls::{ClientPems, client_config};
use std::path::Path;
use std::process::Command;
use std::time::Instant;

const HOST: &str = "127.0.0.1";
const CLIENT: &str = "bench";

#[derive(Clone, Copy)]
enum Via {
    Tls,
    Unix,
}

pub async fn run(bench: &mut Bench) -> anyhow::Result<()> {
    progress("figure 11: mutual TLS");
    let plan = bench.plan.clone();
    let dir = bench.dir("tls");
    let config = dir.join("config");
    let port = free_port()?;
    let corvus = |args: &[&str]| super::tls::corvus_with_config(&bench.bins.corvus, &config, args);
    std::fs::create_dir_all(&dir).with_context(|| format!("Cannot create {}", dir.display()))?;
    corvus(&["tls", "init"])?;
    let issued = dir.join("issued");
    corvus(&[
        "tls",
        "issue",
        CLIENT,
        "--role",
        "viewer",
        "--out",
        &path(&issued),
    ])?;
    let url = format!("sqlite://{}", dir.join("corvus.db").display());
    let listen = format!("{HOST}:{port}");
    let extra = ["--listen", &listen, "--config-dir", &path(&config)]
        .map(String::from)
        .to_vec();
    let (daemon, _) = Daemon::start_with(&bench.bins, &dir, url, &bench.accel, extra).await?;

    let read = |file: &str| {
        std::fs::read(issued.join(file)).with_context(|| format!("Cannot read {file}"))
    };
    let (ca, certificate, key) = (
        read("ca.crt")?,
        read(&format!("{CLIENT}.crt"))?,
        read(&format!("{CLIENT}.key"))?,
    );
    let tls = client_config(ClientPems {
        ca: &ca,
        certificate: &certificate,
        key: &key,
    })?;

    // Pings on open connections, in alternating batches.
    let mut over_tls = Client::connect_tls(tls.clone(), HOST, port).await?;
    let mut over_unix = daemon.client().await?;
    for _ in 0..plan.rtt_batch {
        over_tls.ping().await?;
        over_unix.ping().await?;
    }
    let (mut tls_pings, mut unix_pings) = (Vec::new(), Vec::new());
    for round in 0..plan.rtt_rounds {
        for via in rotated(&[Via::Tls, Via::Unix], round) {
            for _ in 0..plan.rtt_batch {
                let started = Instant::now();
                match via {
                    Via::Tls => {
                        over_tls.ping().await?;
                        tls_pings.push(us(started.elapsed()));
                    }
                    Via::Unix => {
                        over_unix.ping().await?;
                        unix_pings.push(us(started.elapsed()));
                    }
                }
            }
        }
    }
    drop((over_tls, over_unix));

    // New connections, in process: what a handshake costs.
    let (mut tls_new, mut unix_new) = (Vec::new(), Vec::new());
    for i in 0..plan.process_pings {
        for via in rotated(&[Via::Tls, Via::Unix], i) {
            let started = Instant::now();
            match via {
                Via::Tls => {
                    Client::connect_tls(tls.clone(), HOST, port)
                        .await?
                        .ping()
                        .await?;
                    tls_new.push(ms(started.elapsed()));
                }
                Via::Unix => {
                    daemon.client().await?.ping().await?;
                    unix_new.push(ms(started.elapsed()));
                }
            }
        }
    }

    // `crv --remote` as a process.
    let crv = Crv::new(&bench.bins.crv, &daemon.socket);
    let home = dir.join("client-home");
    add_remote(&bench.bins.crv, &home, &listen, &issued)?;
    crv.time_remote(&home, CLIENT, &["ping"])?;
    crv.time(&["ping"])?;
    let (mut crv_remote, mut crv_unix) = (Vec::new(), Vec::new());
    for i in 0..plan.process_pings {
        for via in rotated(&[Via::Tls, Via::Unix], i) {
            match via {
                Via::Tls => crv_remote.push(ms(crv.time_remote(&home, CLIENT, &["ping"])?)),
                Via::Unix => crv_unix.push(ms(crv.time(&["ping"])?)),
            }
        }
    }
    drop(daemon);

    bench.row(
        Row::new(
            11,
            "ping on an open TLS connection (in-process client)",
            Unit::Us,
            &tls_pings,
            Some((
                "ping on an open Unix socket connection, same daemon",
                &unix_pings,
            )),
            Target::Ratio { max: 2.0 },
        )
        .with_note(format!(
            "{} round trips each, in batches of {} alternating",
            tls_pings.len(),
            plan.rtt_batch
        )),
    );
    bench.row(Row::new(
        11,
        "new connection and ping: TCP, TLS 1.3 handshake with client certificate, Hello, ping (in-process)",
        Unit::Ms,
        &tls_new,
        Some(("the same over the Unix socket", &unix_new)),
        Target::None,
    ));
    bench.row(Row::new(
        11,
        "`crv --remote NAME ping` as a process (handshake + ping)",
        Unit::Ms,
        &crv_remote,
        Some(("`crv ping` over the Unix socket (process)", &crv_unix)),
        Target::None,
    ));
    Ok(())
}

fn path(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

fn add_remote(crv: &Path, home: &Path, address: &str, issued: &Path) -> anyhow::Result<()> {
    let output = Command::new(crv)
        .env("XDG_CONFIG_HOME", home)
        .args(["remote", "add", CLIENT, address, "--cert"])
        .arg(issued.join(format!("{CLIENT}.crt")))
        .arg("--key")
        .arg(issued.join(format!("{CLIENT}.key")))
        .arg("--ca")
        .arg(issued.join("ca.crt"))
        .output()
        .context("Cannot run crv remote add")?;
    if !output.status.success() {
        bail!(
            "crv remote add failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(())
}

fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind((HOST, 0)).context("Cannot find a free port")?;
    Ok(listener.local_addr()?.port())
}

/// Runs `corvus --config-dir CONFIG ARGS` (its `tls` subcommands), failing
/// with corvus's own message.
pub(super) fn corvus_with_config(
    corvus: &std::path::Path,
    config: &std::path::Path,
    args: &[&str],
) -> anyhow::Result<()> {
    let output = Command::new(corvus)
        .arg("--config-dir")
        .arg(config)
        .args(args)
        .output()
        .context("Cannot run corvus tls")?;
    if !output.status.success() {
        bail!(
            "corvus {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(())
}
