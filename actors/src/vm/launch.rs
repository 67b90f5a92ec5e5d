//! Bringing a boot's processes up, as a task: the runtime directory, one
//! virtiofsd per share (each waited for until it listens), the taps of its
//! managed NICs, then QEMU. The
//! processes are guarded from the moment they exist until the actor takes
//! them, so a start that fails half-way, or whose result nobody takes (the
//! boot was reset, the actor or the daemon stopped), leaves no process that
//! no row records.

use super::errors::BootError;
use super::{VmActorRef, VmMsg};
use crate::context::SharedContext;
use crate::supervisor::SupervisorRef;
use corvus_protocol::VmInfo;
use corvus_qemu::{OWNER_VARIABLE, ProcessHandle, VmPaths, build_cmdline};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::task::JoinHandle;
use tracing::Instrument;

const VIRTIOFSD_DEADLINE: Duration = Duration::from_secs(10);
const LIST_DEADLINE: Duration = Duration::from_secs(5);

/// A process that is killed (and reaped) if it is dropped before the actor
/// takes it.
struct Guarded(Option<ProcessHandle>);

impl Guarded {
    fn take(mut self) -> Option<ProcessHandle> {
        self.0.take()
    }
}

impl Drop for Guarded {
    fn drop(&mut self) {
        if let Some(process) = self.0.take() {
            tracing::warn!(
                pid = process.pid(),
                "killing a process whose start was abandoned"
            );
            process.kill_and_reap();
        }
    }
}

/// What a launch spawned: QEMU and one virtiofsd per share.
pub struct Spawned {
    qemu: Guarded,
    virtiofsd: Vec<(i64, Guarded)>,
}

impl Spawned {
    /// Hands the processes over to their owner, unguarded.
    pub fn take(self) -> Option<(ProcessHandle, Vec<(i64, ProcessHandle)>)> {
        let virtiofsd = self
            .virtiofsd
            .into_iter()
            .filter_map(|(id, guarded)| guarded.take().map(|process| (id, process)))
            .collect();
        Some((self.qemu.take()?, virtiofsd))
    }
}

/// What one boot launches: the definition, where its files go, its number,
/// and the save file when the boot restores one (`-incoming defer`).
pub struct Plan {
    pub info: VmInfo,
    pub paths: VmPaths,
    pub boot: u64,
    pub restore: Option<PathBuf>,
}

pub fn start(
    ctx: SharedContext,
    supervisor: SupervisorRef,
    plan: Plan,
    myself: VmActorRef,
    unplugging: Option<JoinHandle<()>>,
) -> JoinHandle<()> {
    let Plan {
        info,
        paths,
        boot,
        restore,
    } = plan;
    tokio::spawn(
        async move {
            // The taps are named after the NICs: the last boot's must be
            // gone before this one makes them again.
            if let Some(unplugging) = unplugging {
                let _ = unplugging.await;
            }
            let message = match launch(&ctx, &supervisor, &info, &paths, restore.as_deref()).await {
                Ok(spawned) => VmMsg::Launched { boot, spawned },
                Err(error) => VmMsg::LaunchFailed { boot, error },
            };
            // If the actor is gone, the message (and what it guards) is dropped.
            let _ = myself.cast(message);
        }
        .in_current_span(),
    )
}

async fn launch(
    ctx: &SharedContext,
    supervisor: &SupervisorRef,
    info: &VmInfo,
    paths: &VmPaths,
    restore: Option<&Path>,
) -> Result<Spawned, BootError> {
    if let Some(file) = restore
        && tokio::fs::metadata(file).await.is_err()
    {
        return Err(BootError::SaveMissing {
            path: file.to_path_buf(),
        });
    }
    let tags: Vec<&str> = info.shared_dirs.iter().map(|s| s.tag.as_str()).collect();
    paths.check_socket_lengths(&tags)?;
    corvus_qemu::cmdline::validate(info)?;
    paths.prepare(&tags).await?;
    let mut virtiofsd_spawned = Vec::new();
    if !info.shared_dirs.is_empty() {
        let virtiofsd = ctx.virtiofsd().await.ok_or(BootError::NoVirtiofsd)?;
        for share in &info.shared_dirs {
            let socket = paths.virtiofsd_socket(&share.tag);
            let log = paths.virtiofsd_log(&share.tag);
            let daemon = virtiofsd
                .spawn(&socket, share, &log, VIRTIOFSD_DEADLINE)
                .await
                .map_err(|source| BootError::Virtiofsd {
                    tag: share.tag.clone(),
                    source,
                })?;
            virtiofsd_spawned.push((share.id, Guarded(Some(daemon))));
        }
    }
    let images = crate::disks::vm_link::boot_images(supervisor, &info.drives)
        .await
        .map_err(BootError::Disks)?;
    forwards_free(supervisor, info).await?;
    if let Some(cloud) = &info.cloud_init {
        let config = crate::cloud::config::from_info(cloud);
        let seed = paths.seed.clone();
        tokio::task::spawn_blocking(move || crate::cloud::seed::write(&seed, &config))
            .await
            .map_err(|join| BootError::SeedTask(join.to_string()))??;
    }
    crate::networks::vm_link::plug(supervisor, &info.network_interfaces).await?;
    let mut args = build_cmdline(info, &images, paths, ctx.accel);
    if restore.is_some() {
        // The same command line, waiting for `migrate-incoming` (the QMP
        // connection task feeds it the save file).
        args.extend(["-incoming".into(), corvus_qemu::INCOMING_DEFERRED.into()]);
    }
    // fork/exec and creating the log file are blocking system calls; the
    // guard is made on that thread so that a dropped result still kills.
    let binary = ctx.qemu_binary.clone();
    let log = paths.qemu_log.clone();
    let owner = ctx.owner_mark.clone();
    let qemu = tokio::task::spawn_blocking(move || {
        ProcessHandle::spawn_marked(&binary, &args, &[(OWNER_VARIABLE, &owner)], &log)
            .map(|qemu| Guarded(Some(qemu)))
    })
    .await
    .unwrap_or_else(|join| Err(std::io::Error::other(join.to_string())))
    .map_err(|source| BootError::Spawn {
        binary: ctx.qemu_binary.clone(),
        source,
    })?;
    Ok(Spawned {
        qemu,
        virtiofsd: virtiofsd_spawned,
    })
}

/// Fails the start when a forwarded host port is taken, naming the VM
/// that holds it (other VMs as the supervisor last saw them).
async fn forwards_free(supervisor: &SupervisorRef, info: &VmInfo) -> Result<(), BootError> {
    if crate::cloud::forwards::of_vm(info).next().is_none() {
        return Ok(());
    }
    let others = match supervisor
        .call(
            |reply| crate::supervisor::SupervisorMsg::List { reply },
            Some(LIST_DEADLINE),
        )
        .await
    {
        Ok(ractor::rpc::CallResult::Success(others)) => others,
        // Without the list the probe below still finds the port taken,
        // only without the holder's name.
        _ => Vec::new(),
    };
    crate::cloud::forwards::taken(info, &others)
        .await
        .map_err(BootError::PortTaken)
}
