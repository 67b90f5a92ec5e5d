//! Figure 4: round trips. `crv ping` as a whole process against the same
//! binary doing no request at all (`crv --version`), and a ping on an open
//! connection against an echo of the same frame by a bare tokio process.

use super::{Bench, Main, progress, rotated, settle};
use crate::echo::EchoServer;
use crate::procfs;
use crate::report::{Row, Target, Unit};
use crate::stats::{mib, ms, us};
use corvus_protocol::{Request, Response};
use std::time::Instant;

#[derive(Clone, Copy)]
enum Step {
    Ping,
    Baseline,
}

pub async fn run(bench: &mut Bench, main: &mut Main) -> anyhow::Result<()> {
    let plan = bench.plan.clone();
    progress("figure 4: round trips");

    let mut crv_ping = Vec::new();
    let mut crv_version = Vec::new();
    // One of each first, unrecorded: page cache, dynamic loader.
    main.crv.time(&["ping"])?;
    main.crv.time_bare(&["--version"])?;
    for i in 0..plan.process_pings {
        for step in rotated(&[Step::Ping, Step::Baseline], i) {
            match step {
                Step::Ping => crv_ping.push(ms(main.crv.time(&["ping"])?)),
                Step::Baseline => crv_version.push(ms(main.crv.time_bare(&["--version"])?)),
            }
        }
    }

    let echo = EchoServer::start(&bench.dir("echo")).await?;
    let mut echo_client = echo.connect().await?;
    let mut client = main.daemon.client().await?;
    let mut pings = Vec::new();
    let mut echoes = Vec::new();
    for _ in 0..plan.rtt_batch {
        ping(&mut client).await?;
        echo_client.round_trip().await?;
    }
    for round in 0..plan.rtt_rounds {
        for step in rotated(&[Step::Ping, Step::Baseline], round) {
            for _ in 0..plan.rtt_batch {
                let started = Instant::now();
                match step {
                    Step::Ping => {
                        ping(&mut client).await?;
                        pings.push(us(started.elapsed()));
                    }
                    Step::Baseline => {
                        echo_client.round_trip().await?;
                        echoes.push(us(started.elapsed()));
                    }
                }
            }
        }
    }
    settle().await;
    bench.memory.echo.push(mib(procfs::rss_kib(echo.pid())?));
    drop(echo_client);
    drop(echo);

    bench.row(Row::new(
        4,
        "`crv ping` as a process",
        Unit::Ms,
        &crv_ping,
        Some(("`crv --version` (same binary, no connection)", &crv_version)),
        Target::Median { max: 5.0 },
    ));
    bench.row(
        Row::new(
            4,
            "ping on an open connection (in-process client)",
            Unit::Us,
            &pings,
            Some(("echo of the same frame by a bare tokio process", &echoes)),
            Target::P50P99 {
                p50: 50.0,
                p99: 200.0,
            },
        )
        .with_note(format!(
            "{} round trips each, in batches of {} alternating with the echo",
            pings.len(),
            plan.rtt_batch
        )),
    );
    Ok(())
}

async fn ping(client: &mut crate::client::Client) -> anyhow::Result<()> {
    match client.request(Request::Ping).await? {
        Response::Pong => Ok(()),
        other => anyhow::bail!("ping answered with {other:?}"),
    }
}
