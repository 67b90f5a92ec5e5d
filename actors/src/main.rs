//! `corvus`: the daemon binary.

use clap::Parser;
use corvus_daemon::config::{Args, Command, Config, Places};
use corvus_daemon::systemd::Handoff;
use std::process::ExitCode;
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    // SAFETY: the first statement of main: no other thread exists yet, so
    // removing NOTIFY_SOCKET and LISTEN_* from the environment (to keep them
    // from QEMU and virtiofsd) cannot race with a reader.
    let handoff = unsafe { Handoff::take_from_env() };
    let notifier = handoff.notifier.clone();
    let mut args = Args::parse();
    // `corvus tls` prints what it did; only problems go to the log.
    init_logging(if args.command.is_some() {
        "warn"
    } else {
        &args.log_level
    });
    // Sockets, databases, keys and runtime files are the daemon user's alone.
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o077));
    let runtime = || {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .map_err(anyhow::Error::from)
    };
    let result = match args.command.take() {
        Some(Command::Tls(command)) => Places::from_args(&args).and_then(|places| {
            runtime()?.block_on(corvus_daemon::tls::command::run(command, &places))
        }),
        None => Config::from_args(&args)
            .and_then(|config| runtime()?.block_on(corvus_daemon::daemon::run(config, handoff))),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // One line with the whole cause chain, for terminals and journald alike.
            eprintln!("corvus: {err:#}");
            notifier.status(&format!("Failed: {err:#}"));
            ExitCode::FAILURE
        }
    }
}

/// RUST_LOG wins over `--log-level`; plain text without colours when stderr
/// is not a terminal, and without timestamps when it is journald's (which
/// stamps every line itself).
fn init_logging(level: &str) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    if stderr_is_journal() {
        builder.without_time().init();
    } else {
        builder.init();
    }
}

/// systemd sets JOURNAL_STREAM to the device and inode of the journal
/// stream it connects stdout/stderr to (systemd.exec(5)); a redirected
/// stderr no longer matches them.
fn stderr_is_journal() -> bool {
    let Some(stream) = std::env::var("JOURNAL_STREAM").ok() else {
        return false;
    };
    let Ok(stat) = nix::sys::stat::fstat(std::io::stderr()) else {
        return false;
    };
    stream
        .split_once(':')
        .is_some_and(|(dev, ino)| dev.parse() == Ok(stat.st_dev) && ino.parse() == Ok(stat.st_ino))
}
