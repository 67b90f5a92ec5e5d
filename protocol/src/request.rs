//! Requests: every operation a client can ask of the daemon (DESIGN §6).

use crate::cloud::{CloudInitChanges, ExecSpec};
use crate::disk::{DiskRef, ImageVmSpec, ImportSpec, SnapshotSpec};
use crate::enums::{Channel, DiskFormat, Role};
use crate::event::SubscribeFilter;
use crate::model::{DriveSpec, NicSpec, ShareSpec, VmChanges, VmRef, VmSpec};
use crate::network::{NetworkRef, NetworkSpec};
use crate::snapshot::VmSnapshotSpec;
use serde::{Deserialize, Serialize};

/// One operation. Preconditions are in the comments; a request that does
/// not meet them is answered with a typed error and changes nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    Ping,
    Status,
    /// Stops the daemon; running VMs keep running unless the daemon was told otherwise.
    Shutdown,
    ListVms,
    ShowVm {
        vm: VmRef,
    },
    /// Boxed, as `CreateVmFromImage`: a definition is by far the largest
    /// request (the wire format is the same).
    CreateVm {
        spec: Box<VmSpec>,
    },
    /// The VM must be stopped.
    EditVm {
        vm: VmRef,
        changes: VmChanges,
    },
    /// The VM must be stopped.
    DeleteVm {
        vm: VmRef,
    },
    /// The VM must be stopped for share changes; drives (virtio, scsi,
    /// nvme) and NICs are also hot-plugged into a running or paused VM.
    AddDrive {
        vm: VmRef,
        drive: DriveSpec,
    },
    /// On a running VM: unplugged, waiting up to `timeout_secs` (default
    /// 30) for the guest to let go of the device.
    RemoveDrive {
        vm: VmRef,
        drive_id: i64,
        #[serde(default)]
        timeout_secs: Option<u32>,
    },
    AddNic {
        vm: VmRef,
        nic: NicSpec,
    },
    RemoveNic {
        vm: VmRef,
        nic_id: i64,
        #[serde(default)]
        timeout_secs: Option<u32>,
    },
    AddShare {
        vm: VmRef,
        share: ShareSpec,
    },
    RemoveShare {
        vm: VmRef,
        share_id: i64,
    },
    /// Boots a stopped VM (answered once it runs or fails) or resumes a paused one.
    StartVm {
        vm: VmRef,
    },
    /// Asks the guest to power off; escalates to signals after the timeout.
    StopVm {
        vm: VmRef,
        timeout_secs: Option<u32>,
    },
    PauseVm {
        vm: VmRef,
    },
    /// Kills QEMU at once and leaves the VM stopped; also clears `error`.
    ResetVm {
        vm: VmRef,
    },
    /// Stored events of one VM, oldest first: the last `limit`, or all of
    /// them when `None` (a long history comes in parts).
    History {
        vm: VmRef,
        limit: Option<u32>,
    },
    /// Turns the connection into a stream of `Event` frames.
    Subscribe {
        filter: SubscribeFilter,
    },
    /// Turns the connection into a byte relay; the VM must be running or paused.
    Attach {
        vm: VmRef,
        channel: Channel,
    },
    /// The SPICE URI of a running VM with a display.
    SpiceUri {
        vm: VmRef,
    },
    ListDisks,
    ShowDisk {
        disk: DiskRef,
    },
    /// An empty disk of `size` bytes in the disk directory.
    CreateDisk {
        name: String,
        size: u64,
        format: DiskFormat,
        /// The node whose host gets the file (issue 19) [default: the
        /// node asked].
        node: Option<String>,
    },
    /// A long job: `Progress` frames, then the `Reply` with the new disk.
    ImportDisk {
        spec: ImportSpec,
    },
    /// An existing file, checked with qemu-img, never copied nor deleted.
    RegisterDisk {
        name: String,
        path: String,
        format: Option<DiskFormat>,
        /// The node whose host has the file [default: the node asked].
        node: Option<String>,
    },
    /// A thin qcow2 on `backing`.
    OverlayDisk {
        name: String,
        backing: DiskRef,
    },
    /// A long job: a full copy of `source` (its whole chain).
    CloneDisk {
        name: String,
        source: DiskRef,
    },
    /// Grows the disk; shrinking needs `shrink` and a disk no VM uses.
    ResizeDisk {
        disk: DiskRef,
        size: u64,
        shrink: bool,
    },
    /// qcow2 internal snapshots; refused while a running VM uses the disk.
    DiskSnapshot {
        spec: SnapshotSpec,
    },
    /// Refused while a VM uses the disk or another disk is backed by it.
    DeleteDisk {
        disk: DiskRef,
        keep_file: bool,
    },
    /// `vm create --image`: the VM and its root overlay, or neither.
    CreateVmFromImage {
        spec: Box<ImageVmSpec>,
    },
    /// `vm delete --with-disks`: the VM, then the managed disks only it used.
    DeleteVmWithDisks {
        vm: VmRef,
    },
    /// One VM's figures, read now, with rates since the collector's last sample.
    VmStats {
        vm: VmRef,
    },
    /// Every VM's figures from the collector's last sample (`crv top`).
    AllStats,
    /// Re-reads the revoked client certificates from the database and
    /// closes the open connections of those just revoked (sent by
    /// `corvus tls revoke`).
    ReloadRevocations,
    /// `crv web`: a one-time login link to the web console (`--http`) for
    /// the asking client, with the asking client's role. Fails when the
    /// daemon serves no web console.
    WebLogin,
    /// Changes a stopped VM's cloud-init configuration (creating it if the
    /// VM has none); the next start writes a new seed.
    SetCloudInit {
        vm: VmRef,
        changes: CloudInitChanges,
    },
    /// Removes a stopped VM's cloud-init configuration (no seed any more).
    ClearCloudInit {
        vm: VmRef,
    },
    /// Runs a command in a running VM through its guest agent.
    GuestExec {
        vm: VmRef,
        spec: ExecSpec,
    },
    /// The guest's network interfaces, asked of its agent now.
    GuestInterfaces {
        vm: VmRef,
        timeout_secs: Option<u32>,
    },
    /// Records a managed network, checked against the others.
    CreateNetwork {
        spec: NetworkSpec,
    },
    ListNetworks,
    ShowNetwork {
        network: NetworkRef,
    },
    /// Refused while a VM has a NIC on it.
    DeleteNetwork {
        network: NetworkRef,
    },
    /// Writes a running or paused VM's RAM and device state to its save
    /// file and ends QEMU; answered once the VM is `saved`. `crv vm start`
    /// restores it, `crv vm reset` discards the save.
    SaveVm {
        vm: VmRef,
    },
    /// Creates, lists, reverts to or deletes a VM snapshot; answered with
    /// the VM's snapshots as they then are.
    VmSnapshot(VmSnapshotSpec),
    /// Every node sharing this daemon's database (one on SQLite).
    ListNodes,
    ShowNode {
        node: String,
    },
    /// From another node (a node certificate only): `request`, which the
    /// client named `client` with `role` sent to that node, for a VM this
    /// node owns. Never forwarded again; an `Attach` becomes a relay the
    /// sending node passes on, a `Subscribe` is not sent (events reach
    /// every node through the database).
    Forwarded {
        client: String,
        role: Role,
        request: Box<Request>,
    },
    /// Cordons (`cordoned`) or uncordons a node: a cordoned node gets no
    /// new VMs (placement skips it; `--node` to it is refused). Answered
    /// with the node.
    CordonNode {
        node: String,
        cordoned: bool,
    },
    /// Gives a stopped VM whose paths are all on shared storage to another
    /// live, uncordoned node; answered with the VM.
    MoveVm {
        vm: VmRef,
        node: String,
    },
    /// Cordons `node`, then moves its stopped VMs that can move (and with
    /// `stop`, stops, moves and starts its running ones that `drain`
    /// selects); answered with what became of each of its VMs.
    DrainNode {
        node: String,
        stop: bool,
    },
}

impl Request {
    /// The verb as a user would type it, for events and logs.
    pub fn verb(&self) -> &'static str {
        match self {
            Request::Ping => "ping",
            Request::Status => "status",
            Request::Shutdown => "shutdown",
            Request::ListVms => "vm list",
            Request::ShowVm { .. } => "vm show",
            Request::CreateVm { .. } => "vm create",
            Request::EditVm { .. } => "vm edit",
            Request::DeleteVm { .. } => "vm delete",
            Request::AddDrive { .. } => "vm drive add",
            Request::RemoveDrive { .. } => "vm drive remove",
            Request::AddNic { .. } => "vm net add",
            Request::RemoveNic { .. } => "vm net remove",
            Request::AddShare { .. } => "vm share add",
            Request::RemoveShare { .. } => "vm share remove",
            Request::StartVm { .. } => "vm start",
            Request::StopVm { .. } => "vm stop",
            Request::PauseVm { .. } => "vm pause",
            Request::ResetVm { .. } => "vm reset",
            Request::History { .. } => "vm history",
            Request::Subscribe { .. } => "events",
            Request::Attach { .. } => "attach",
            Request::SpiceUri { .. } => "vm view",
            Request::ListDisks => "disk list",
            Request::ShowDisk { .. } => "disk show",
            Request::CreateDisk { .. } => "disk create",
            Request::ImportDisk { .. } => "disk import",
            Request::RegisterDisk { .. } => "disk register",
            Request::OverlayDisk { .. } => "disk overlay",
            Request::CloneDisk { .. } => "disk clone",
            Request::ResizeDisk { .. } => "disk resize",
            Request::DiskSnapshot { .. } => "disk snapshot",
            Request::DeleteDisk { .. } => "disk delete",
            Request::CreateVmFromImage { .. } => "vm create",
            Request::DeleteVmWithDisks { .. } => "vm delete",
            Request::VmStats { .. } => "vm stats",
            Request::AllStats => "top",
            Request::ReloadRevocations => "tls revoke",
            Request::WebLogin => "web",
            Request::SetCloudInit { .. } => "vm cloud-init set",
            Request::ClearCloudInit { .. } => "vm cloud-init clear",
            Request::GuestExec { .. } => "vm exec",
            Request::GuestInterfaces { .. } => "vm ip",
            Request::CreateNetwork { .. } => "network create",
            Request::ListNetworks => "network list",
            Request::ShowNetwork { .. } => "network show",
            Request::DeleteNetwork { .. } => "network delete",
            Request::SaveVm { .. } => "vm save",
            Request::VmSnapshot(_) => "vm snapshot",
            Request::ListNodes => "node list",
            Request::ShowNode { .. } => "node show",
            Request::Forwarded { request, .. } => request.verb(),
            Request::CordonNode { cordoned: true, .. } => "node cordon",
            Request::CordonNode {
                cordoned: false, ..
            } => "node uncordon",
            Request::MoveVm { .. } => "vm move",
            Request::DrainNode { .. } => "node drain",
        }
    }
}
