//! Everything Corvus does with QEMU itself. Pure where it can be (command
//! lines, paths); async and non-blocking where it touches processes and
//! sockets. Knows nothing of databases or actors.
//!
//! A VM start, in the order the daemon does it:
//! [`VmPaths::new`] → [`VmPaths::check_socket_lengths`] → [`VmPaths::prepare`]
//! → one [`Virtiofsd::spawn`] per share → [`build_cmdline`] →
//! [`ProcessHandle::spawn`] → [`qmp::connect`] → [`QmpCommands::query_status`].

pub mod accel;
pub mod cmdline;
pub mod hotplug;
pub mod img;
pub mod paths;
pub mod private_dir;
pub mod process;
pub mod qga;
pub mod qmp;
pub mod virtiofsd;

pub use accel::{Accel, AccelChoice, AccelError, ParseAccelError, kvm_usable};
pub use cmdline::{
    DriveImages, ImageLayer, InvalidVm, build as build_cmdline, managed_tap, process_marker,
};
pub use img::{ImageInfo, ImgError, QemuImg, SnapshotOp};
pub use paths::{MAX_SOCKET_PATH, PathTooLong, PrepareError, VmPaths};
pub use private_dir::{PrivateDirError, Strictness};
pub use process::{
    AdoptError, ExitInfo, OWNER_VARIABLE, ProcessHandle, Signal, find_marked, owner_mark_of,
    read_tail, read_tail_async,
};
pub use qga::{QgaChannel, QgaError};
pub use qmp::{
    BalloonInfo, BlockCounters, BlockStats, INCOMING_DEFERRED, MigrationPhase, MigrationStatus,
    NodeSnapshots, QmpCommands, QmpError, QmpEvent, QmpEvents, RunStatus, SnapshotJob, VcpuThread,
    restore_uri, save_uri, shell_quote,
};
pub use virtiofsd::{FlagStyle, Virtiofsd, VirtiofsdError};

#[cfg(test)]
mod send_checks {
    use super::*;
    use std::path::Path;
    use std::time::Duration;

    /// The daemon runs these inside spawned tasks, so they must be `Send`.
    #[allow(dead_code)]
    fn futures_are_send(
        commands: &QmpCommands,
        events: &mut QmpEvents,
        share: &corvus_protocol::ShareInfo,
    ) {
        fn send<T: Send>(_: T) {}
        send(commands.query_status());
        send(commands.query_cpus_fast());
        send(commands.query_blockstats());
        send(commands.query_balloon());
        send(commands.execute(qapi::qmp::stop {}));
        send(commands.human_monitor_command("info status"));
        send(events.next());
        send(qmp::connect(Path::new("/x"), Duration::ZERO));
        let virtiofsd = Virtiofsd::with_style("virtiofsd", FlagStyle::C);
        send(virtiofsd.spawn(Path::new("/s"), share, Path::new("/l"), Duration::ZERO));
    }
}
