//! The command line of a VM's devices: `vm drive|net|share add|remove`.

use super::cloud;
use crate::words::words;
use clap::{Args, Subcommand};
use corvus_protocol::{CacheMode, DriveFormat, DriveInterface, DriveMedia, NicType, ShareCache};

#[derive(Debug, Subcommand)]
pub enum DriveCommand {
    /// Attach a disk image or ISO (the file may have spaces and commas in its path)
    Add(DriveAddArgs),
    /// Detach a drive (see its id in `crv vm show`)
    Remove(DeviceRemoveArgs),
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("image").required(true).args(["file", "disk"])))]
pub struct DriveAddArgs {
    /// VM name or id
    pub vm: String,
    /// Absolute path of the image
    #[arg(long, value_name = "PATH")]
    pub file: Option<String>,
    /// A Corvus disk (name or id) instead of a file; its format is the disk's
    #[arg(long, value_name = "NAME", conflicts_with = "format")]
    pub disk: Option<String>,
    /// Bus the guest sees
    #[arg(long, value_parser = words::<DriveInterface>())]
    pub interface: DriveInterface,
    /// Image format [default: raw]
    #[arg(long, value_parser = words::<DriveFormat>())]
    pub format: Option<DriveFormat>,
    /// Disk or CD-ROM [default: disk]
    #[arg(long, value_parser = words::<DriveMedia>())]
    pub media: Option<DriveMedia>,
    /// Attach read-only
    #[arg(long)]
    pub read_only: bool,
    /// Host cache mode [default: QEMU's, writeback]
    #[arg(long, value_parser = words::<CacheMode>())]
    pub cache: Option<CacheMode>,
    /// Pass the guest's discards (TRIM) to the image
    #[arg(long)]
    pub discard: bool,
}

#[derive(Debug, Args)]
pub struct DeviceRemoveArgs {
    /// VM name or id
    pub vm: String,
    /// The id shown by `crv vm show`
    pub id: i64,
    /// On a running VM: seconds to wait for the guest to release the device [default: 30]
    #[arg(long, value_name = "SECONDS")]
    pub timeout: Option<u32>,
}

#[derive(Debug, Args)]
pub struct RemoveArgs {
    /// VM name or id
    pub vm: String,
    /// The id shown by `crv vm show`
    pub id: i64,
}

#[derive(Debug, Subcommand)]
pub enum NetCommand {
    /// Add a virtio network interface
    Add(NetAddArgs),
    /// Remove a network interface (see its id in `crv vm show`)
    Remove(DeviceRemoveArgs),
}

#[derive(Debug, Args)]
pub struct NetAddArgs {
    /// VM name or id
    pub vm: String,
    /// Backend: user (NAT), tap, bridge, vde or network [default: network with --network]
    #[arg(long = "type", value_parser = words::<NicType>(), required_unless_present = "network")]
    pub nic_type: Option<NicType>,
    /// A managed network, by name or id (see `crv network list`)
    #[arg(long, value_name = "NAME")]
    pub network: Option<String>,
    /// A static DHCP lease on that network
    #[arg(long, value_name = "ADDR", requires = "network")]
    pub ip: Option<String>,
    /// Tap interface, bridge name, or VDE switch directory
    #[arg(long, value_name = "X")]
    pub host_device: Option<String>,
    /// MAC address [default: a generated, unique 52:54:00:xx:xx:xx]
    #[arg(long, value_name = "M")]
    pub mac: Option<String>,
    /// Forward a host port to the guest (user NICs): [tcp|udp:][HOSTADDR:]HOSTPORT:GUESTPORT; repeatable
    #[arg(long = "forward", value_name = "SPEC", value_parser = cloud::forward)]
    pub forwards: Vec<corvus_protocol::Forward>,
}

#[derive(Debug, Subcommand)]
pub enum ShareCommand {
    /// Share a host directory with the guest (virtiofs; mount it by its tag)
    Add(ShareAddArgs),
    /// Remove a shared directory (see its id in `crv vm show`)
    Remove(RemoveArgs),
}

#[derive(Debug, Args)]
pub struct ShareAddArgs {
    /// VM name or id
    pub vm: String,
    /// Absolute path of an existing directory
    #[arg(long, value_name = "DIR")]
    pub path: String,
    /// The tag the guest mounts (`mount -t virtiofs TAG /mnt`)
    #[arg(long, value_name = "TAG")]
    pub tag: String,
    /// virtiofsd cache mode [default: auto]
    #[arg(long, value_parser = words::<ShareCache>())]
    pub cache: Option<ShareCache>,
    /// The guest may read but not write
    #[arg(long)]
    pub read_only: bool,
}
