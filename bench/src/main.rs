//! `corvus-bench`: Corvus measured side by side with bare QEMU and bare
//! sockets, every baseline taken in the same run (issue 9).
//!
//! It starts its own daemons on temporary sockets and databases (and a
//! throwaway PostgreSQL cluster), prints a Markdown table and writes it
//! with a JSON file into `--out`. `--quick` is the CI-sized run;
//! `scripts/bench` builds in release and runs the full one.

mod bare;
mod cleanup;
mod client;
mod crv;
mod daemon;
mod echo;
mod figures;
mod machine;
mod nocloud;
mod procfs;
mod report;
mod seed;
mod stats;

use anyhow::{Context as _, bail};
use clap::{Parser, Subcommand};
use daemon::Bins;
use figures::{Bench, MemoryFacts, Plan};
use report::Report;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

/// Benchmarks the corvus daemon and crv against bare QEMU, in one run.
#[derive(Debug, Parser)]
#[command(name = "corvus-bench", version)]
struct Cli {
    #[command(subcommand)]
    helper: Option<Helper>,
    /// Few iterations and small counts (CI): well under two minutes
    #[arg(long)]
    quick: bool,
    /// Directory for the results: <mode>.md and <mode>.json
    #[arg(long, default_value = "target/bench", value_name = "DIR")]
    out: PathBuf,
    /// Where `corvus` and `crv` are [default: this program's directory]
    #[arg(long, value_name = "DIR")]
    bin_dir: Option<PathBuf>,
    /// The QEMU binary, for the daemons and the bare baseline
    #[arg(long, default_value = "qemu-system-x86_64", value_name = "PATH")]
    qemu: PathBuf,
    /// The daemons' --accel; the bare QEMUs use what the daemon resolved
    #[arg(long, default_value = "auto", value_name = "auto|kvm|tcg")]
    accel: String,
    /// Only these figures (1-16), e.g. --only 1,2
    #[arg(long, value_delimiter = ',', value_name = "N,…")]
    only: Vec<u8>,
    /// Skip the PostgreSQL half of figure 5, and figures 15 and 16
    #[arg(long)]
    no_postgres: bool,
    /// Exit with status 1 when a target is missed (default: report only)
    #[arg(long)]
    check: bool,
    /// Keep the scratch directory (daemon logs, databases) for inspection;
    /// its processes are stopped all the same
    #[arg(long)]
    keep: bool,
}

#[derive(Debug, Subcommand)]
enum Helper {
    /// The echo server of the round-trip baseline (internal)
    #[command(hide = true)]
    EchoServer {
        #[arg(long)]
        socket: PathBuf,
    },
    /// Cleans up after a benchmark that was killed (internal)
    #[command(hide = true)]
    Watchdog {
        #[arg(long)]
        parent: u32,
        #[arg(long)]
        dir: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.helper {
        Some(Helper::EchoServer { socket }) => echo::serve(socket).map(|()| ExitCode::SUCCESS),
        Some(Helper::Watchdog { parent, dir }) => cleanup::watchdog(*parent, dir),
        None => benchmark(&cli),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("corvus-bench: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn benchmark(cli: &Cli) -> anyhow::Result<ExitCode> {
    let bins = find_binaries(cli)?;
    let scratch = cleanup::Scratch::create(cli.keep)?;
    let mode = if cli.quick { "quick" } else { "full" };
    let plan = if cli.quick {
        Plan::quick()
    } else {
        Plan::full()
    };
    let bin_dir = bins
        .corvus
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let started_at = chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string();
    let mut bench = Bench {
        report: Report {
            mode,
            started_at,
            duration_secs: 0.0,
            machine: machine::Machine::probe(&bins.qemu, &bin_dir),
            rows: Vec::new(),
            diagnostics: Vec::new(),
        },
        bins,
        root: scratch.path().to_path_buf(),
        plan,
        accel: cli.accel.clone(),
        only: cli.only.clone(),
        postgres: !cli.no_postgres,
        memory: MemoryFacts::default(),
    };
    let started = Instant::now();
    // Current-thread, like `crv`: the client side of every round trip runs
    // where it is measured, with no hop between worker threads.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("Cannot start a runtime")?;
    let outcome = runtime.block_on(figures::run(&mut bench));
    drop(runtime);
    drop(scratch);
    bench.report.duration_secs = started.elapsed().as_secs_f64();
    bench.report.machine.load_at_end = machine::load_average();
    if let Err(err) = &outcome {
        // What was measured before the failure is still worth keeping.
        bench.report.diagnose(
            "aborted",
            serde_json::json!(format!("{err:#}")),
            format!("THE RUN STOPPED EARLY: {err:#}"),
        );
    }

    let markdown = bench.report.markdown();
    println!("{markdown}");
    std::fs::create_dir_all(&cli.out)
        .with_context(|| format!("Cannot create {}", cli.out.display()))?;
    let md_path = cli.out.join(format!("{mode}.md"));
    let json_path = cli.out.join(format!("{mode}.json"));
    std::fs::write(&md_path, &markdown)
        .with_context(|| format!("Cannot write {}", md_path.display()))?;
    let json = serde_json::to_string_pretty(&bench.report).context("Cannot encode the results")?;
    std::fs::write(&json_path, json)
        .with_context(|| format!("Cannot write {}", json_path.display()))?;
    eprintln!(
        "corvus-bench: wrote {} and {}",
        md_path.display(),
        json_path.display()
    );
    outcome?;
    let missed = bench.report.missed();
    if cli.check && !missed.is_empty() {
        eprintln!("corvus-bench: {} target(s) missed", missed.len());
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

fn find_binaries(cli: &Cli) -> anyhow::Result<Bins> {
    let dir = match &cli.bin_dir {
        Some(dir) => dir.clone(),
        None => std::env::current_exe()
            .context("Cannot find this program's path")?
            .parent()
            .map(Path::to_path_buf)
            .context("This program has no directory")?,
    };
    let corvus = dir.join("corvus");
    let crv = dir.join("crv");
    for binary in [&corvus, &crv] {
        if !binary.is_file() {
            bail!(
                "{} is missing: build it in the same profile first (`cargo build --release -p corvus-daemon -p corvus-cli`, as scripts/bench does) or pass --bin-dir",
                binary.display()
            );
        }
    }
    Ok(Bins {
        corvus,
        crv,
        qemu: cli.qemu.clone(),
    })
}
