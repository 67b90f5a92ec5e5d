//! Figure 10 (issue 20): a scrape of `/metrics` with 1,000 VMs defined must
//! answer within 50 ms. Baseline: the same endpoint answering a path it
//! does not serve (404), i.e. the HTTP round trip without any figures.

use super::{Bench, progress, rotated};
use crate::daemon::Daemon;
use crate::report::{Row, Target, Unit};
use crate::seed;
use crate::stats::ms;
use anyhow::{Context as _, ensure};
use std::time::Instant;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The figure.
const VMS: usize = 1_000;

#[derive(Clone, Copy)]
enum Step {
    Scrape,
    NotFound,
}

pub async fn run(bench: &mut Bench) -> anyhow::Result<()> {
    progress(&format!("figure 10: {VMS} VMs: seeding"));
    let dir = bench.dir("metrics");
    std::fs::create_dir_all(&dir)?;
    let url = format!("sqlite://{}", dir.join("corvus.db").display());
    seed::seed(&url, "vm-", VMS).await?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let args = [
        "--metrics",
        &format!("127.0.0.1:{port}"),
        "--stats-interval",
        "1",
    ];
    let (mut daemon, _) = Daemon::start_with(
        &bench.bins,
        &dir,
        url,
        &bench.accel,
        args.iter().map(|a| a.to_string()).collect(),
    )
    .await?;
    let (status, text) = get(port, "/metrics").await?;
    ensure!(status == 200, "GET /metrics answered {status}: {text}");
    let series = text.matches("state=\"stopped\"} 1\n").count();
    ensure!(
        series == VMS,
        "the scrape shows {series} stopped VMs, {VMS} are defined"
    );

    let mut scrapes = Vec::new();
    let mut not_found = Vec::new();
    for i in 0..bench.plan.metrics_iterations {
        for step in rotated(&[Step::Scrape, Step::NotFound], i) {
            let (path, into, expected) = match step {
                Step::Scrape => ("/metrics", &mut scrapes, 200),
                Step::NotFound => ("/nothing", &mut not_found, 404),
            };
            let started = Instant::now();
            let (status, _) = get(port, path).await?;
            into.push(ms(started.elapsed()));
            ensure!(status == expected, "GET {path} answered {status}");
        }
    }
    daemon.stop().await?;
    bench.row(Row::new(
        10,
        format!("`GET /metrics`, {VMS} VMs defined"),
        Unit::Ms,
        &scrapes,
        Some((
            "`GET` of an unknown path (404) on the same endpoint",
            &not_found,
        )),
        Target::P99 { max: 50.0 },
    ));
    bench.diagnose(
        "metrics_scrape_bytes",
        serde_json::json!(text.len()),
        format!(
            "a scrape with {VMS} VMs defined is {} KiB of text",
            text.len() / 1024
        ),
    );
    Ok(())
}

/// One HTTP/1.1 request on a new connection, as a scraper without
/// keep-alive would send it; returns the status and the body.
async fn get(port: u16, path: &str) -> anyhow::Result<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))
        .await
        .context("Cannot connect to /metrics")?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await?;
    let answer = String::from_utf8_lossy(&answer);
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .with_context(|| format!("not an HTTP answer: {head}"))?;
    Ok((status, body.to_owned()))
}
