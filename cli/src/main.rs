//! `crv`: the command-line client of the corvus daemon.

mod args;
mod client;
mod columns;
mod commands;
mod disk_args;
mod disk_output;
mod error;
mod network_args;
mod network_output;
mod node_args;
mod output;
mod progress;
mod remotes;
mod render;
mod stats_view;
mod stream;
mod terminal;
mod top;
mod vm_list;
mod words;

use args::{
    Cli, CloudInitCommand, Command, DriveCommand, NetCommand, RemoteCommand, ShareCommand,
    VmCommand,
};
use clap::parser::ValueSource;
use clap::{CommandFactory, FromArgMatches};
use client::Endpoint;
use commands::{
    Ctx, agent, attach, cloud, completions, daemon, definition, devices, events, lifecycle, remote,
    ssh, stats, view,
};
use corvus_protocol::Channel;
use error::CliError;
use std::process::ExitCode;

fn main() -> ExitCode {
    restore_sigpipe();
    let cli = parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("crv: cannot start: {err}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(run(cli));
    // A relay may leave a blocking read of stdin behind; do not wait for it.
    runtime.shutdown_background();
    finish(result)
}

fn finish(result: Result<(), CliError>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // Daemon errors may quote QEMU's stderr: escaped, never raw.
            eprintln!("crv: {}", output::safe_lines(&err.to_string()));
            if let Some(hint) = err.hint() {
                eprintln!("hint: {}", output::safe_lines(&hint));
            }
            err.exit_code()
        }
    }
}

/// The command line, noting which of --socket and --remote were typed
/// (typed ones win over the environment's).
fn parse() -> Cli {
    let matches = Cli::command().get_matches();
    let mut cli = Cli::from_arg_matches(&matches).unwrap_or_else(|err| err.exit());
    let typed = |id: &str| matches.value_source(id) == Some(ValueSource::CommandLine);
    cli.connection.typed.socket = typed("socket");
    cli.connection.typed.remote = typed("remote");
    cli
}

async fn run(cli: Cli) -> Result<(), CliError> {
    // Resolved only by the commands that talk to the daemon.
    let ctx = || -> Result<Ctx, CliError> {
        Ok(Ctx {
            endpoint: Endpoint::from_args(&cli.connection)?,
            json: cli.json,
        })
    };
    match cli.command {
        Command::Ping => daemon::ping(&ctx()?).await,
        Command::Status => daemon::status(&ctx()?).await,
        Command::Shutdown => daemon::shutdown(&ctx()?).await,
        Command::Vm(command) => vm(&ctx()?, command).await,
        Command::Disk(command) => commands::disk::run(&ctx()?, command).await,
        Command::Network(command) => commands::network::run(&ctx()?, command).await,
        Command::Node(command) => commands::node::run(&ctx()?, command).await,
        Command::Events(args) => events::events(&ctx()?, &args.vms, args.since).await,
        Command::Remote(command) => match command {
            RemoteCommand::Add(args) => remote::add(args),
            RemoteCommand::List => remote::list(cli.json),
            RemoteCommand::Remove { name } => remote::remove(&name),
            RemoteCommand::Default { name } => remote::default(name, cli.json),
        },
        Command::Completions(args) => completions::completions(args.shell),
        Command::Man(args) => completions::man(args.dir.as_deref(), cli.json),
        Command::Top(args) => stats::top(&ctx()?, args).await,
        Command::Web(args) => commands::web::web(&ctx()?, args.open).await,
        Command::Ssh(args) => ssh::ssh(&ctx()?, args).await,
    }
}

async fn vm(ctx: &Ctx, command: VmCommand) -> Result<(), CliError> {
    match command {
        VmCommand::List(args) => definition::list(ctx, args.wide).await,
        VmCommand::Show(target) => definition::show(ctx, &target.vm).await,
        VmCommand::Create(args) => definition::create(ctx, args).await,
        VmCommand::Edit(args) => definition::edit(ctx, args).await,
        VmCommand::Delete(args) => definition::delete(ctx, &args.vm, args.with_disks).await,
        VmCommand::Start(args) => lifecycle::start(ctx, args).await,
        VmCommand::Stop(args) => lifecycle::stop(ctx, args).await,
        VmCommand::Pause(target) => lifecycle::pause(ctx, &target.vm).await,
        VmCommand::Reset(target) => lifecycle::reset(ctx, &target.vm).await,
        VmCommand::Save(target) => lifecycle::save(ctx, &target.vm).await,
        VmCommand::Snapshot(command) => commands::snapshot::snapshot(ctx, command).await,
        VmCommand::History(args) => lifecycle::history(ctx, args).await,
        VmCommand::Watch(target) => events::watch(ctx, &target.vm).await,
        VmCommand::Monitor(target) => attach::attach(ctx, &target.vm, Channel::Monitor).await,
        VmCommand::Console(target) => attach::attach(ctx, &target.vm, Channel::Serial).await,
        VmCommand::View(args) => view::view(ctx, &args.vm, args.print_uri).await,
        VmCommand::Drive(DriveCommand::Add(args)) => devices::add_drive(ctx, args).await,
        VmCommand::Drive(DriveCommand::Remove(args)) => devices::remove_drive(ctx, args).await,
        VmCommand::Net(NetCommand::Add(args)) => devices::add_nic(ctx, args).await,
        VmCommand::Net(NetCommand::Remove(args)) => devices::remove_nic(ctx, args).await,
        VmCommand::Share(ShareCommand::Add(args)) => devices::add_share(ctx, args).await,
        VmCommand::Share(ShareCommand::Remove(args)) => devices::remove_share(ctx, args).await,
        VmCommand::Stats(target) => stats::vm_stats(ctx, &target.vm).await,
        VmCommand::CloudInit(CloudInitCommand::Show(target)) => cloud::show(ctx, &target.vm).await,
        VmCommand::CloudInit(CloudInitCommand::Set(args)) => cloud::set(ctx, args).await,
        VmCommand::CloudInit(CloudInitCommand::Clear(target)) => {
            cloud::clear(ctx, &target.vm).await
        }
        VmCommand::Exec(args) => agent::exec(ctx, args).await,
        VmCommand::Ip(args) => agent::ip(ctx, args).await,
        VmCommand::Move(args) => commands::node::move_vm(ctx, args).await,
    }
}

/// `crv vm list | head` should end quietly when `head` does, like any Unix
/// tool, rather than report a broken pipe.
fn restore_sigpipe() {
    use nix::sys::signal::{SigHandler, Signal, signal};
    // SAFETY: called first in main, before any thread exists; SIG_DFL installs no Rust code.
    let _ = unsafe { signal(Signal::SIGPIPE, SigHandler::SigDfl) };
}

/// The path of `program` on PATH.
pub fn which(program: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(program))
            .find(|path| path.is_file())
    })
}
