//! The `crv` command line (DESIGN §8). Doc comments are the help text.

mod cloud;
mod devices;
mod remote;

pub use cloud::{
    CloudInitCommand, CloudInitSetArgs, CloudOptions, CreateCloudArgs, ExecArgs, IpArgs, SshArgs,
};
pub use devices::{
    DeviceRemoveArgs, DriveAddArgs, DriveCommand, NetAddArgs, NetCommand, RemoveArgs, ShareAddArgs,
    ShareCommand,
};
pub use remote::{ConnectionArgs, RemoteAddArgs, RemoteCommand};

use crate::stats_view::SortKey;
use crate::words::words;
use clap::{Args, Parser, Subcommand};
use corvus_protocol::{DisplayKind, RestartPolicy};
use std::path::PathBuf;

/// Control the corvus VM manager daemon
#[derive(Debug, Parser)]
#[command(
    name = "crv",
    version,
    propagate_version = true,
    after_long_help = AFTER_LONG_HELP
)]
pub struct Cli {
    #[command(flatten)]
    pub connection: ConnectionArgs,
    /// Print machine-readable JSON instead of tables and sentences
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Command,
}

const AFTER_LONG_HELP: &str = "\
Exit status:
  0  success
  1  the daemon refused the command, or the operation failed
  2  usage error
  3  the daemon is unreachable

Environment:
  CORVUS_SOCKET  the daemon's socket, as --socket
  CORVUS_REMOTE  a remote of `crv remote add`, as --remote (wins over CORVUS_SOCKET)
  NO_COLOR       no colours (they are only shown on a terminal anyway)
  COLUMNS        table width when the output is not a terminal [default: 80]";

// Parsed once per run, so the size of the largest variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check that the daemon answers, and how fast
    Ping,
    /// Show the daemon's version, uptime, connections and VMs by state
    Status,
    /// Stop the daemon (running VMs keep running)
    Shutdown,
    /// Define, inspect and control virtual machines
    #[command(subcommand)]
    Vm(VmCommand),
    /// Create, import and manage disk images
    #[command(subcommand)]
    Disk(crate::disk_args::DiskCommand),
    /// Define managed networks (subnet, DHCP range, DNS domain) for VM NICs
    #[command(subcommand)]
    Network(crate::network_args::NetworkCommand),
    /// The daemons (nodes) sharing the daemon's database: liveness, capacity, VMs
    #[command(subcommand)]
    Node(crate::node_args::NodeCommand),
    /// Follow VM events as they happen: state changes, and VMs defined, edited or deleted (one line or JSON object per event)
    Events(EventsArgs),
    /// Daemons on other hosts, reached over mutual TLS
    #[command(subcommand)]
    Remote(RemoteCommand),
    /// Print a shell completion script
    ///
    /// bash: crv completions bash > ~/.local/share/bash-completion/completions/crv
    /// zsh:  crv completions zsh > ~/.zfunc/_crv (with ~/.zfunc in fpath)
    /// fish: crv completions fish > ~/.config/fish/completions/crv.fish
    Completions(CompletionsArgs),
    /// Print the crv(1) man page, or write every page (one per subcommand) to a directory
    Man(ManArgs),
    /// A live table of every VM's CPU, memory, disk and network use; q quits
    ///
    /// Keys: c (CPU), m (memory), d (disk), n (network), a (name), i (id),
    /// s (state), u (uptime) sort; r reverses; q, Esc or Ctrl+C quits.
    /// Off a terminal, or with --once or --json, prints the figures once.
    Top(TopArgs),
    /// SSH into a VM as its cloud-init user, through its forward of port 22 (or the address its agent reports)
    ///
    /// Runs ssh with -o StrictHostKeyChecking=accept-new and a known_hosts
    /// file per VM under $XDG_DATA_HOME/corvus/known_hosts (reset when the
    /// cloud-init instance-id changes); your ssh config, agent and keys
    /// apply as usual.
    Ssh(SshArgs),
    /// Print a one-time login link to the daemon's web console (corvus
    /// --http); it logs one browser in, with this client's role
    Web(WebArgs),
}

#[derive(Debug, Args)]
pub struct WebArgs {
    /// Open the link in the desktop's browser (xdg-open) as well
    #[arg(long)]
    pub open: bool,
}

#[derive(Debug, Args)]
pub struct TopArgs {
    /// Sort by this
    #[arg(long, value_enum, default_value = "cpu")]
    pub sort: SortKey,
    /// Seconds between refreshes
    #[arg(long, default_value_t = 2, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub interval: u64,
    /// Print the table once (with --json: every VM's figures) and exit
    #[arg(long)]
    pub once: bool,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// Write crv.1, crv-vm.1, crv-vm-start.1, … here instead of printing crv.1
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct EventsArgs {
    /// Only this VM (name or id); repeat for several
    #[arg(long = "vm", value_name = "VM")]
    pub vms: Vec<String>,
    /// First replay the stored events after this sequence number, then go live
    #[arg(long, value_name = "SEQ")]
    pub since: Option<u64>,
}

#[derive(Debug, Subcommand)]
pub enum VmCommand {
    /// List all VMs
    List(ListArgs),
    /// Show everything about one VM
    Show(Target),
    /// Define a new VM
    Create(CreateArgs),
    /// Change a stopped VM's definition
    Edit(EditArgs),
    /// Delete a stopped VM and its drives, NICs and shares (files stay on disk)
    Delete(DeleteArgs),
    /// Boot a stopped VM, resume a paused one, or restore a saved one
    Start(StartArgs),
    /// Power a VM off gracefully (ACPI), killing it after the timeout
    Stop(StopArgs),
    /// Pause a running VM
    Pause(Target),
    /// Kill a VM's QEMU at once and leave it stopped; also clears an error
    /// and discards a saved state
    Reset(Target),
    /// Write a running or paused VM's RAM and devices to its save file and
    /// end QEMU; `crv vm start` restores it
    Save(Target),
    /// Snapshots of a whole VM: every qcow2 drive at one instant, and with
    /// --with-ram its RAM and devices (live through QEMU, or with qemu-img
    /// while the VM is stopped)
    #[command(subcommand)]
    Snapshot(VmSnapshotCommand),
    /// Show a VM's stored state changes
    History(HistoryArgs),
    /// Follow one VM's events until it is stopped or in error
    Watch(Target),
    /// The QEMU monitor (HMP) of a running VM; Ctrl+] detaches
    Monitor(Target),
    /// The serial console of a running VM, with what it printed before; Ctrl+] detaches
    Console(Target),
    /// Open the VM's display in remote-viewer (SPICE)
    View(ViewArgs),
    /// Add or remove drives
    #[command(subcommand)]
    Drive(DriveCommand),
    /// Add or remove network interfaces
    #[command(subcommand)]
    Net(NetCommand),
    /// Add or remove shared directories (virtiofs)
    #[command(subcommand)]
    Share(ShareCommand),
    /// What a VM consumes: CPU, memory, disk and network, with rates
    Stats(Target),
    /// A VM's cloud-init (NoCloud) configuration: show, set or clear it
    #[command(subcommand, name = "cloud-init")]
    CloudInit(CloudInitCommand),
    /// Run a command in a running VM through its guest agent; exits with the command's status
    ///
    /// stdout and stderr are printed as the command wrote them (stdin is
    /// passed when it is not a terminal). With --json: {exit_code, stdout,
    /// stderr}. A program the guest cannot find exits 127, like a shell.
    Exec(ExecArgs),
    /// The guest's network interfaces and addresses, as its agent reports them
    Ip(IpArgs),
    /// Give a stopped VM whose drives and shares are all on shared storage
    /// to another node
    Move(crate::node_args::MoveArgs),
}

#[derive(Debug, Subcommand)]
pub enum VmSnapshotCommand {
    /// Take a snapshot (disks only unless --with-ram; the guest's
    /// filesystems are frozen through its agent when it has one)
    Create(VmSnapshotCreateArgs),
    /// List a VM's snapshots, checked against what its images hold
    List(Target),
    /// Put the VM back as it was at the snapshot: a running VM needs a
    /// snapshot with RAM, a stopped one a snapshot without
    Revert(VmSnapshotArgs),
    /// Delete a snapshot from every drive
    Delete(VmSnapshotArgs),
}

#[derive(Debug, Args)]
pub struct VmSnapshotCreateArgs {
    /// VM name or id
    pub vm: String,
    /// Snapshot name
    pub name: String,
    /// Also save the RAM and device state (the VM must be running or paused)
    #[arg(long)]
    pub with_ram: bool,
}

#[derive(Debug, Args)]
pub struct VmSnapshotArgs {
    /// VM name or id
    pub vm: String,
    /// Snapshot name
    pub name: String,
}

/// A VM, by name or numeric id.
#[derive(Debug, Args)]
pub struct Target {
    /// VM name or id
    pub vm: String,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// More columns: the guest's IP addresses (as its agent reports them)
    #[arg(long)]
    pub wide: bool,
}

#[derive(Debug, Args)]
pub struct DeleteArgs {
    /// VM name or id
    pub vm: String,
    /// Also delete the managed disks that only this VM uses
    #[arg(long)]
    pub with_disks: bool,
}

#[derive(Debug, Args)]
pub struct StartArgs {
    /// VM name or id
    pub vm: String,
    /// Wait until the VM runs (or fails), following its events
    #[arg(long)]
    pub wait: bool,
}

#[derive(Debug, Args)]
pub struct StopArgs {
    /// VM name or id
    pub vm: String,
    /// Seconds before the graceful stop turns into SIGTERM and SIGKILL [default: the VM's stop timeout]
    #[arg(long, value_name = "S")]
    pub timeout: Option<u32>,
    /// Wait until the VM has stopped, following its events
    #[arg(long)]
    pub wait: bool,
}

#[derive(Debug, Args)]
pub struct ViewArgs {
    /// VM name or id
    pub vm: String,
    /// Only print the spice+unix:// URI
    #[arg(long)]
    pub print_uri: bool,
}

#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// VM name or id
    pub vm: String,
    /// The last N events [default: 100]
    #[arg(long, short = 'n', value_name = "N", conflicts_with = "all")]
    pub limit: Option<u32>,
    /// Every stored event, however many
    #[arg(long)]
    pub all: bool,
}

impl HistoryArgs {
    /// Like `journalctl -n`: the last 100 unless told otherwise.
    pub const DEFAULT_LIMIT: u32 = 100;

    /// What to ask the daemon for: `None` is everything.
    pub fn limit(&self) -> Option<u32> {
        match (self.all, self.limit) {
            (true, _) => None,
            (false, limit) => Some(limit.unwrap_or(Self::DEFAULT_LIMIT)),
        }
    }
}

/// Options shared by `create` and `edit`.
#[derive(Debug, Args, Default)]
pub struct VmOptions {
    /// A free-form description (edit: '' clears it)
    #[arg(long, value_name = "TEXT")]
    pub description: Option<String>,
    /// Graphical display
    #[arg(long, value_parser = words::<DisplayKind>())]
    pub display: Option<DisplayKind>,
    /// QEMU CPU model [default: host under KVM, max under TCG] (edit: '' resets)
    #[arg(long, value_name = "MODEL")]
    pub cpu_model: Option<String>,
    /// Seconds a graceful stop may take before QEMU is killed [default: 60]
    #[arg(long, value_name = "SECONDS")]
    pub stop_timeout: Option<u32>,
    /// What to do when QEMU exits without being asked to
    #[arg(long, value_parser = words::<RestartPolicy>())]
    pub restart: Option<RestartPolicy>,
    /// Restarts allowed within --restart-window [default: 5]
    #[arg(long, value_name = "N")]
    pub max_restarts: Option<u32>,
    /// The window for --max-restarts, in seconds [default: 60]
    #[arg(long, value_name = "SECONDS")]
    pub restart_window: Option<u32>,
    /// Kernel for direct kernel boot (absolute path; edit: '' removes)
    #[arg(long, value_name = "FILE")]
    pub kernel: Option<String>,
    /// Initrd for direct kernel boot (needs --kernel)
    #[arg(long, value_name = "FILE")]
    pub initrd: Option<String>,
    /// Kernel command line (needs --kernel)
    #[arg(long, value_name = "TEXT", allow_hyphen_values = true)]
    pub cmdline: Option<String>,
    /// Give the VM the QEMU guest agent's channel [default: on with cloud-init options]
    #[arg(long, conflicts_with = "no_guest_agent")]
    pub guest_agent: bool,
    /// No guest agent channel
    #[arg(long)]
    pub no_guest_agent: bool,
    /// Empty PCIe slots for drives and NICs added while the VM runs (0-16) [default: 4]
    #[arg(long, value_name = "N")]
    pub hotplug_slots: Option<u32>,
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Name: letters, digits, '-', '_', '.'; not all digits
    pub name: String,
    /// Virtual CPUs (1-256)
    #[arg(long, value_name = "N")]
    pub cpus: u32,
    /// Memory in MiB (16-4194304)
    #[arg(long, value_name = "MIB")]
    pub ram: u64,
    /// Start this VM whenever the daemon starts
    #[arg(long)]
    pub autostart: bool,
    /// Boot from an overlay NAME-root on this disk (name or id), the first virtio drive
    #[arg(long, value_name = "BASE")]
    pub image: Option<String>,
    /// Grow NAME-root to this size (512M, 20G; needs --image)
    #[arg(long, value_name = "SIZE", requires = "image")]
    pub disk_size: Option<String>,
    /// The node that runs the VM [default: the live node with the most free RAM]
    #[arg(long, value_name = "NODE")]
    pub node: Option<String>,
    /// Highly available: started on a surviving node when its node is lost
    /// (needs --restart on-failure|always and every file on --shared-storage)
    #[arg(long)]
    pub ha: bool,
    #[command(flatten)]
    pub options: VmOptions,
    #[command(flatten)]
    pub cloud: CreateCloudArgs,
}

#[derive(Debug, Args)]
pub struct EditArgs {
    /// VM name or id
    pub vm: String,
    /// Virtual CPUs (1-256)
    #[arg(long, value_name = "N")]
    pub cpus: Option<u32>,
    /// Memory in MiB (16-4194304)
    #[arg(long, value_name = "MIB")]
    pub ram: Option<u64>,
    /// Start this VM whenever the daemon starts
    #[arg(long, conflicts_with = "no_autostart")]
    pub autostart: bool,
    /// Do not start this VM with the daemon
    #[arg(long)]
    pub no_autostart: bool,
    /// Highly available or not (see `crv vm create --ha`)
    #[arg(long, value_name = "BOOL", action = clap::ArgAction::Set)]
    pub ha: Option<bool>,
    #[command(flatten)]
    pub options: VmOptions,
}
