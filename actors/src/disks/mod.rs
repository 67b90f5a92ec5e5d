//! The DiskService (DESIGN §10): the one owner of disk rows and disk files.
//! It keeps the catalog of disks in memory; every operation is checked
//! against it here (names reserved, disks held), then runs as a task —
//! qemu-img, the database, the filesystem — that sends the catalog's
//! changes back as a message before it answers its client. Long jobs
//! (import, clone) report progress on the connection that asked and stop,
//! removing their partial file, when it goes away.

mod catalog;
mod error;
mod fetch;
mod files;
mod import;
pub mod job;
mod lease;
mod ops;
mod show;
mod snapshot;
mod usage;
pub mod vm_link;

pub use error::DiskError;
pub use job::JobChannel;
pub use lease::Outcome;
use lease::{Accepted, Lease};
pub use show::stored_info;

use crate::supervisor::SupervisorRef;
use crate::vm::Origin;
use catalog::{Catalog, Disk};
use corvus_protocol::{
    DiskFormat, DiskRef, ImageVmSpec, ImportSpec, Response, SnapshotSpec, VmRef, WireError,
};
use corvus_qemu::{DriveImages, QemuImg};
use corvus_storage::Store;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use std::path::PathBuf;

pub type DiskServiceRef = ActorRef<DiskMsg>;
pub type Reply = RpcReplyPort<Result<Response, WireError>>;

/// A client's disk operation that answers at once (or within seconds).
#[derive(Debug)]
pub enum DiskRequest {
    List,
    Show(DiskRef),
    Create {
        name: String,
        size: u64,
        format: DiskFormat,
    },
    Register {
        name: String,
        path: String,
        format: Option<DiskFormat>,
    },
    Overlay {
        name: String,
        backing: DiskRef,
    },
    Resize {
        disk: DiskRef,
        size: u64,
        shrink: bool,
    },
    Snapshot(SnapshotSpec),
    Delete {
        disk: DiskRef,
        keep_file: bool,
    },
    CreateVm(Box<ImageVmSpec>),
    DeleteVmWithDisks(VmRef),
}

/// A long operation: progress frames, then one answer.
#[derive(Debug)]
pub enum JobRequest {
    Import(ImportSpec),
    Clone { name: String, source: DiskRef },
}

/// A change to the catalog that a task made in the database.
#[derive(Debug)]
pub enum Change {
    Added(Disk),
    Removed(i64),
    Resized { id: i64, size: u64 },
}

pub enum DiskMsg {
    Request {
        request: DiskRequest,
        origin: Origin,
        reply: Reply,
    },
    Job {
        request: JobRequest,
        channel: JobChannel,
    },
    /// A VmActor adding a drive `--disk`: the disk's id, path and format.
    ResolveDrive {
        disk: DiskRef,
        reply: RpcReplyPort<Result<(i64, String, DiskFormat), WireError>>,
    },
    /// A VmActor starting: the image chain of each (drive id, disk id),
    /// and the name of the disk of each file; refused while an operation
    /// holds one of the disks.
    BootImages {
        drives: Vec<(i64, i64)>,
        reply: RpcReplyPort<Result<BootImages, WireError>>,
    },
    /// A task's changes and what it no longer holds; sent before it answers.
    Apply {
        changes: Vec<Change>,
        names: Vec<String>,
        holds: Vec<i64>,
        shared: Vec<i64>,
    },
}

/// The image chains of a VM's drives, and (file path, disk name) of every
/// layer, so that a missing file can be named by its disk.
pub type BootImages = (DriveImages, Vec<(String, String)>);

pub struct DiskArgs {
    pub store: Store,
    pub data_dir: PathBuf,
    pub supervisor: SupervisorRef,
    /// This daemon's node: disk files are on its host only.
    pub node: String,
    /// Where VMs' runtime files are, for the VMs listed as disk users.
    pub runtime_root: PathBuf,
}

/// What every task gets: a copy of the catalog as it was when the
/// operation was accepted, and handles to everything else.
#[derive(Clone)]
pub struct Env {
    pub store: Store,
    pub dir: PathBuf,
    pub img: QemuImg,
    pub supervisor: SupervisorRef,
    pub catalog: Catalog,
    pub myself: DiskServiceRef,
    pub node: String,
    pub runtime_root: PathBuf,
}

impl Env {
    /// Hands catalog changes back to the service before the operation ends
    /// (its lease releases what it holds when it does).
    pub fn apply(&self, changes: Vec<Change>) {
        let _ = self.myself.cast(DiskMsg::Apply {
            changes,
            names: Vec::new(),
            holds: Vec::new(),
            shared: Vec::new(),
        });
    }
}

pub struct DiskState {
    store: Store,
    dir: PathBuf,
    img: QemuImg,
    supervisor: SupervisorRef,
    catalog: Catalog,
    next_job: u64,
    node: String,
    runtime_root: PathBuf,
}

pub struct DiskService;

pub async fn spawn(
    args: DiskArgs,
    supervisor: ractor::ActorCell,
) -> Result<DiskServiceRef, ractor::SpawnErr> {
    let (actor, _) =
        Actor::spawn_linked(Some("disks".into()), DiskService, args, supervisor).await?;
    Ok(actor)
}

impl Actor for DiskService {
    type Msg = DiskMsg;
    type State = DiskState;
    type Arguments = DiskArgs;

    async fn pre_start(
        &self,
        _myself: DiskServiceRef,
        args: DiskArgs,
    ) -> Result<DiskState, ActorProcessingErr> {
        let mut catalog = Catalog::default();
        for row in args.store.load_disks().await? {
            match Disk::from_row(row) {
                Ok(disk) => catalog.insert(disk),
                Err(err) => {
                    tracing::error!(error = %format!("{:#}", anyhow::Error::new(err)), "skipping a disk whose stored row is invalid")
                }
            }
        }
        let dir = files::disk_dir(&args.data_dir);
        files::report_strays(&dir, &catalog).await;
        Ok(DiskState {
            store: args.store,
            dir,
            img: QemuImg::default(),
            supervisor: args.supervisor,
            catalog,
            next_job: 1,
            node: args.node,
            runtime_root: args.runtime_root,
        })
    }

    async fn handle(
        &self,
        myself: DiskServiceRef,
        message: DiskMsg,
        state: &mut DiskState,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            DiskMsg::Request {
                request,
                origin,
                reply,
            } => state.request(&myself, request, origin, reply),
            DiskMsg::Job { request, channel } => state.job(&myself, request, channel),
            DiskMsg::ResolveDrive { disk, reply } => {
                let _ = reply.send(state.resolve_drive(&disk).map_err(WireError::from));
            }
            DiskMsg::BootImages { drives, reply } => {
                let _ = reply.send(state.boot_images(&drives).map_err(WireError::from));
            }
            DiskMsg::Apply {
                changes,
                names,
                holds,
                shared,
            } => {
                for change in changes {
                    match change {
                        Change::Added(disk) => state.catalog.insert(disk),
                        Change::Removed(id) => state.catalog.remove(id),
                        Change::Resized { id, size } => state.catalog.set_size(id, size),
                    }
                }
                for name in &names {
                    state.catalog.release_name(name);
                }
                state.catalog.release(&holds);
                state.catalog.release_shared(&shared);
            }
        }
        Ok(())
    }
}

impl DiskState {
    fn env(&self, myself: &DiskServiceRef) -> Env {
        Env {
            store: self.store.clone(),
            dir: self.dir.clone(),
            img: self.img.clone(),
            supervisor: self.supervisor.clone(),
            catalog: self.catalog.clone(),
            myself: myself.clone(),
            node: self.node.clone(),
            runtime_root: self.runtime_root.clone(),
        }
    }

    /// Checks what can be checked against the catalog, takes the names
    /// and holds the operation needs, and runs the rest as a task.
    fn request(
        &mut self,
        myself: &DiskServiceRef,
        request: DiskRequest,
        origin: Origin,
        reply: Reply,
    ) {
        match self.accept(myself, request, origin) {
            Ok(accepted) => {
                tokio::spawn(async move {
                    let _ = reply.send(accepted.await.map_err(WireError::from));
                });
            }
            Err(err) => {
                let _ = reply.send(Err(err.into()));
            }
        }
    }

    fn accept(
        &mut self,
        myself: &DiskServiceRef,
        request: DiskRequest,
        origin: Origin,
    ) -> Result<Accepted, DiskError> {
        let env = self.env(myself);
        let lease = Lease::new(myself);
        Ok(match request {
            DiskRequest::List => lease.run(show::list(env)),
            DiskRequest::Show(disk) => {
                let disk = self.catalog.resolve(&disk)?.clone();
                lease.run(show::show(env, disk))
            }
            DiskRequest::Create { name, size, format } => {
                ops::check_name(&name)?;
                self.catalog.reserve(&name)?;
                lease.name(&name).run(ops::create(env, name, size, format))
            }
            DiskRequest::Register { name, path, format } => {
                ops::check_name(&name)?;
                if let Some(disk) = self.catalog.by_path(&path) {
                    return Err(DiskError::Invalid(format!(
                        "{path} is already disk '{}'",
                        disk.name
                    )));
                }
                self.catalog.reserve(&name)?;
                lease
                    .name(&name)
                    .run(ops::register(env, name, path, format))
            }
            DiskRequest::Overlay { name, backing } => {
                ops::check_name(&name)?;
                let base = self.catalog.resolve(&backing)?.clone();
                self.share_and_reserve(base.id, "an overlay creation", &name)?;
                lease
                    .name(&name)
                    .share(base.id)
                    .run(ops::overlay(env, name, base))
            }
            DiskRequest::Resize { disk, size, shrink } => {
                let disk = self.catalog.resolve(&disk)?.clone();
                self.catalog.hold(&[disk.id], "a resize")?;
                lease
                    .hold(disk.id)
                    .run(ops::resize(env, disk, size, shrink))
            }
            DiskRequest::Snapshot(spec) => {
                let disk = self.catalog.resolve(&spec.disk)?.clone();
                self.catalog.hold(&[disk.id], "a snapshot operation")?;
                lease
                    .hold(disk.id)
                    .run(snapshot::run(env, disk, spec.action, spec.snapshot))
            }
            DiskRequest::Delete { disk, keep_file } => {
                let disk = self.catalog.resolve(&disk)?.clone();
                self.catalog.hold(&[disk.id], "a deletion")?;
                lease.hold(disk.id).run(ops::delete(env, disk, keep_file))
            }
            DiskRequest::CreateVm(spec) => {
                crate::validate::spec(&spec.spec).map_err(|err| DiskError::Invalid(err.message))?;
                let base = self.catalog.resolve(&spec.image)?.clone();
                let name = vm_link::root_disk_name(&spec.spec.name);
                ops::check_name(&name)?;
                self.share_and_reserve(base.id, "an overlay creation", &name)?;
                lease
                    .name(&name)
                    .share(base.id)
                    .run(vm_link::create_vm(env, *spec, base, name, origin))
            }
            DiskRequest::DeleteVmWithDisks(vm) => lease.run(vm_link::delete_vm(env, vm, origin)),
        })
    }

    fn job(&mut self, myself: &DiskServiceRef, request: JobRequest, channel: JobChannel) {
        let id = self.next_job;
        self.next_job += 1;
        let env = self.env(myself);
        let lease = Lease::new(myself);
        let reporter = channel.reporter(id);
        let accepted = match request {
            JobRequest::Import(spec) => ops::check_name(&spec.name)
                .and_then(|()| self.catalog.reserve(&spec.name))
                .map(|()| lease.name(&spec.name).run(import::run(env, spec, reporter))),
            JobRequest::Clone { name, source } => ops::check_name(&name)
                .and_then(|()| Ok(self.catalog.resolve(&source)?.clone()))
                .and_then(|source| {
                    self.share_and_reserve(source.id, "a clone", &name)?;
                    Ok(lease
                        .name(&name)
                        .share(source.id)
                        .run(ops::clone(env, name, source, reporter)))
                }),
        };
        tracing::info!(job = id, accepted = accepted.is_ok(), "disk job");
        channel.finish(accepted);
    }

    /// Takes a read hold on a disk and a name for the new one, or neither.
    fn share_and_reserve(
        &mut self,
        id: i64,
        what: &'static str,
        name: &str,
    ) -> Result<(), DiskError> {
        self.catalog.hold_shared(id, what)?;
        if let Err(err) = self.catalog.reserve(name) {
            self.catalog.release_shared(&[id]);
            return Err(err);
        }
        Ok(())
    }

    fn resolve_drive(&self, disk: &DiskRef) -> Result<(i64, String, DiskFormat), DiskError> {
        let disk = self.catalog.resolve(disk)?;
        self.catalog.check_free(&[disk.id])?;
        Ok((disk.id, disk.path.clone(), disk.format))
    }

    fn boot_images(&self, drives: &[(i64, i64)]) -> Result<BootImages, DiskError> {
        let mut images = DriveImages::new();
        let mut names = Vec::new();
        for (drive_id, disk_id) in drives {
            let chain = self.catalog.chain(*disk_id)?;
            let ids: Vec<i64> = chain.iter().map(|d| d.id).collect();
            self.catalog.check_free(&ids)?;
            names.extend(chain.iter().map(|d| (d.path.clone(), d.name.clone())));
            images.insert(*drive_id, self.catalog.layers(*disk_id)?);
        }
        Ok((images, names))
    }
}
