//! The work behind save and restore, as tasks that report back to the actor
//! (the core decides; see `core/save.rs`): writing the save file through a
//! QMP migration and confirming it is complete, reading it back into a QEMU
//! started with `-incoming defer`, and discarding it. The file is
//! `DATA_DIR/saves/<id>.state`, derived from the VM's id so that it
//! survives a daemon restart without a column of its own.

use super::core::Expected;
use super::{Reply, VmActorRef, VmActorState, VmMsg};
use corvus_protocol::{DriveInterface, VmInfo};
use corvus_qemu::private_dir::{PrivateDirError, Strictness};
use corvus_qemu::{MigrationPhase, QmpCommands, QmpError, restore_uri, save_uri};
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::time::Instant;
use tracing::{Instrument, warn};

/// How often a migration's progress is asked for: a `query-migrate` costs
/// QEMU microseconds, and each poll's wait adds to the save's latency.
const POLL: Duration = Duration::from_millis(10);
/// A save or restore moves the guest's RAM through a pipe; gigabytes on a
/// slow disk take minutes, an unbounded wait would hide a stuck QEMU.
const MIGRATION_DEADLINE: Duration = Duration::from_secs(600);
/// After QEMU reports the migration completed, `cat` still has to write
/// what is in the pipe and rename the file.
const WRITER_DEADLINE: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum SaveError {
    #[error("Cannot prepare the save directory")]
    Directory(#[source] PrivateDirError),
    #[error("Cannot remove the old save file {}", path.display())]
    Remove {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("QEMU did not answer over QMP")]
    NoQmp,
    #[error("QEMU did not stop the guest")]
    Stop(#[source] QmpError),
    #[error("QEMU did not start the migration to the save file")]
    Migrate(#[source] QmpError),
    #[error("Cannot follow the migration")]
    Query(#[source] QmpError),
    #[error("the migration to {} failed: {reason}{}", path.display(), space(*free))]
    Failed {
        path: PathBuf,
        reason: String,
        free: Option<u64>,
    },
    #[error("writing {} failed{}", path.display(), space(*free))]
    Write { path: PathBuf, free: Option<u64> },
    #[error("the migration did not finish within {} s", MIGRATION_DEADLINE.as_secs())]
    Timeout,
    #[error("Cannot confirm the save file {} on disk", path.display())]
    Sync {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("the save file {} is empty", path.display())]
    Empty { path: PathBuf },
    #[error("QEMU did not start reading the save file")]
    Incoming(#[source] QmpError),
    #[error("QEMU could not read the save file {}: {reason}", path.display())]
    RestoreFailed { path: PathBuf, reason: String },
    #[error("QEMU did not resume the restored guest")]
    Resume(#[source] QmpError),
}

fn space(free: Option<u64>) -> String {
    match free {
        Some(free) => format!(
            " (the file system of the save directory has {} MiB free: is it full?)",
            free / (1024 * 1024)
        ),
        None => String::new(),
    }
}

/// Where a VM's save lives.
#[derive(Debug, Clone)]
pub struct SaveFiles {
    pub dir: PathBuf,
    pub complete: PathBuf,
    /// Being written; renamed to `complete` once `cat` wrote all of it.
    pub partial: PathBuf,
}

impl SaveFiles {
    pub fn of(data_dir: &Path, vm_id: i64) -> SaveFiles {
        let dir = data_dir.join("saves");
        SaveFiles {
            complete: dir.join(format!("{vm_id}.state")),
            partial: dir.join(format!("{vm_id}.state.partial")),
            dir,
        }
    }
}

impl VmActorState {
    pub(super) fn save_files(&self) -> SaveFiles {
        SaveFiles::of(&self.ctx.data_dir, self.info.id)
    }

    /// `Effect::Save`: the save task, carrying the command's reply.
    pub(super) fn start_save(&self, myself: &VmActorRef, reply: Option<Reply>) {
        let Some(boot) = self.boot.as_ref() else {
            return;
        };
        let resume = matches!(boot.state.expected, Expected::Save { resume: true, .. });
        start(
            boot.qmp.clone(),
            self.save_files(),
            resume,
            boot.state.number,
            reply,
            myself.clone(),
        );
    }

    /// `Effect::DiscardSave`.
    pub(super) fn discard_save(&self, cancel_migration: bool) {
        let qmp = self
            .boot
            .as_ref()
            .filter(|_| cancel_migration)
            .and_then(|boot| boot.qmp.clone());
        discard_task(self.save_files(), qmp);
    }

    /// The save task's result (its failure logged) goes through the core.
    pub(super) fn save_done(
        &mut self,
        myself: &VmActorRef,
        boot: u64,
        result: Result<u64, SaveError>,
        reply: Option<Reply>,
    ) {
        let result = result.map_err(|err| {
            let text = super::errors::render(&err);
            warn!(error = %text, "save failed");
            text
        });
        self.step(myself, super::core::Input::SaveDone { boot, result }, reply);
    }
}

/// Why `vm` cannot be saved, naming the device QEMU cannot migrate: a
/// virtiofs share (vhost-user-fs has no migration support), or an NVMe
/// drive (QEMU 7.2's nvme controller is marked unmigratable).
pub fn blocker(vm: &VmInfo) -> Option<String> {
    let unmigratable = |device: String| {
        format!(
            "its {device} cannot be migrated by QEMU, and a save or a snapshot with RAM is a migration; remove the device while the VM is stopped, or stop the VM instead"
        )
    };
    if let Some(share) = vm.shared_dirs.first() {
        return Some(unmigratable(format!(
            "virtiofs share '{}' (vhost-user-fs)",
            share.tag
        )));
    }
    vm.drives
        .iter()
        .find(|drive| drive.interface == DriveInterface::Nvme)
        .map(|drive| unmigratable(format!("NVMe drive {} ({})", drive.id, drive.file_path)))
}

/// Saves as a task: `SaveDone` carries the size of the complete file, or
/// why there is none (with the guest resumed if it ran before).
fn start(
    qmp: Option<QmpCommands>,
    files: SaveFiles,
    resume: bool,
    boot: u64,
    reply: Option<Reply>,
    me: VmActorRef,
) {
    tokio::spawn(
        async move {
            let result = match qmp {
                Some(qmp) => save(&qmp, &files, resume).await,
                None => Err(SaveError::NoQmp),
            };
            let _ = me.cast(VmMsg::SaveDone {
                boot,
                result,
                reply,
            });
        }
        .in_current_span(),
    );
}

async fn save(qmp: &QmpCommands, files: &SaveFiles, resume: bool) -> Result<u64, SaveError> {
    corvus_qemu::private_dir::ensure_async(files.dir.clone(), Strictness::Private)
        .await
        .map_err(SaveError::Directory)?;
    for path in [&files.partial, &files.complete] {
        remove_if_there(path)
            .await
            .map_err(|source| SaveError::Remove {
                path: path.clone(),
                source,
            })?;
    }
    // A stopped guest writes nothing while its state is copied, so the
    // file is one consistent instant.
    qmp.stop().await.map_err(SaveError::Stop)?;
    let written = write(qmp, files).await;
    if written.is_err() {
        discard(files).await;
        if resume && let Err(err) = qmp.cont().await {
            warn!(%err, "cannot resume the guest after a failed save");
        }
    }
    written
}

async fn write(qmp: &QmpCommands, files: &SaveFiles) -> Result<u64, SaveError> {
    qmp.migrate(&save_uri(&files.partial, &files.complete))
        .await
        .map_err(SaveError::Migrate)?;
    match follow(qmp).await {
        Ok(()) => {}
        Err(Followed::Failed(reason)) => {
            return Err(SaveError::Failed {
                path: files.complete.clone(),
                reason,
                free: free_space(&files.dir).await,
            });
        }
        Err(Followed::Query(err)) => return Err(SaveError::Query(err)),
        Err(Followed::Timeout) => return Err(SaveError::Timeout),
    }
    // The migration is over on QEMU's side; the file is complete once the
    // shell renamed it, and failed if `cat` removed it instead.
    let until = Instant::now() + WRITER_DEADLINE;
    loop {
        let partial = exists(&files.partial).await;
        let complete = exists(&files.complete).await;
        if complete && !partial {
            break;
        }
        if (!partial && !complete) || Instant::now() >= until {
            return Err(SaveError::Write {
                path: files.complete.clone(),
                free: free_space(&files.dir).await,
            });
        }
        tokio::time::sleep(POLL).await;
    }
    let path = files.complete.clone();
    let dir = files.dir.clone();
    let size = tokio::task::spawn_blocking(move || -> io::Result<u64> {
        let file = std::fs::File::open(&path)?;
        file.sync_all()?;
        // The rename must survive a crash too.
        std::fs::File::open(&dir)?.sync_all()?;
        Ok(file.metadata()?.len())
    })
    .await
    .unwrap_or_else(|join| Err(io::Error::other(join.to_string())))
    .map_err(|source| SaveError::Sync {
        path: files.complete.clone(),
        source,
    })?;
    if size == 0 {
        return Err(SaveError::Empty {
            path: files.complete.clone(),
        });
    }
    Ok(size)
}

enum Followed {
    Failed(String),
    Query(QmpError),
    Timeout,
}

/// Polls `query-migrate` until the migration completed or failed.
async fn follow(qmp: &QmpCommands) -> Result<(), Followed> {
    let until = Instant::now() + MIGRATION_DEADLINE;
    loop {
        let status = qmp.query_migrate().await.map_err(Followed::Query)?;
        match status.phase() {
            MigrationPhase::Completed => return Ok(()),
            MigrationPhase::Failed(reason) => return Err(Followed::Failed(reason)),
            MigrationPhase::Underway if Instant::now() >= until => {
                if let Err(err) = qmp.migrate_cancel().await {
                    warn!(%err, "cannot cancel a migration that ran out of time");
                }
                return Err(Followed::Timeout);
            }
            MigrationPhase::Underway => tokio::time::sleep(POLL).await,
        }
    }
}

/// Reads the save file into a QEMU waiting with `-incoming defer`, then
/// resumes the guest. Runs inside the boot's QMP connection task.
pub async fn restore(qmp: &QmpCommands, file: &Path) -> Result<(), SaveError> {
    qmp.migrate_incoming(&restore_uri(file))
        .await
        .map_err(SaveError::Incoming)?;
    follow(qmp).await.map_err(|outcome| match outcome {
        Followed::Failed(reason) => SaveError::RestoreFailed {
            path: file.to_path_buf(),
            reason,
        },
        Followed::Query(err) => SaveError::Query(err),
        Followed::Timeout => SaveError::Timeout,
    })?;
    qmp.cont().await.map_err(SaveError::Resume)
}

/// Removes the save, once whoever writes the partial file is done with it
/// (a `cat` that QEMU's end or a cancelled migration left running would
/// otherwise rename garbage into place afterwards).
pub async fn discard(files: &SaveFiles) {
    let until = Instant::now() + WRITER_DEADLINE;
    while exists(&files.partial).await && Instant::now() < until {
        tokio::time::sleep(POLL).await;
    }
    for path in [&files.partial, &files.complete] {
        if let Err(err) = remove_if_there(path).await {
            warn!(path = %path.display(), %err, "cannot remove a save file");
        }
    }
}

/// `discard` as a task; with `cancel`, QEMU's migration is cancelled first.
fn discard_task(files: SaveFiles, cancel: Option<QmpCommands>) {
    tokio::spawn(
        async move {
            if let Some(qmp) = cancel
                && let Err(err) = qmp.migrate_cancel().await
            {
                warn!(%err, "cannot cancel the interrupted save's migration");
            }
            discard(&files).await;
        }
        .in_current_span(),
    );
}

async fn exists(path: &Path) -> bool {
    tokio::fs::symlink_metadata(path).await.is_ok()
}

async fn remove_if_there(path: &Path) -> io::Result<()> {
    match tokio::fs::remove_file(path).await {
        Err(err) if err.kind() != io::ErrorKind::NotFound => Err(err),
        _ => Ok(()),
    }
}

/// Free bytes on the file system of `dir`, for a failure's message.
async fn free_space(dir: &Path) -> Option<u64> {
    let dir = dir.to_path_buf();
    tokio::task::spawn_blocking(move || nix::sys::statvfs::statvfs(&dir))
        .await
        .ok()?
        .ok()
        .map(|stat| stat.blocks_available().saturating_mul(stat.fragment_size()))
}
