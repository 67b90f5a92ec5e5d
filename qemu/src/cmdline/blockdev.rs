//! Drives on Corvus disks: the image chain the daemon resolves at each
//! start. Every drive other than pflash gets a `-blockdev` in QEMU's JSON
//! syntax ([`crate::hotplug::drive_blockdev`], the same arguments a live
//! attach sends): a drive on a disk has every layer of its chain defined
//! inline, each with its format, and the last one's `backing` null, so QEMU
//! opens exactly the files Corvus recorded, never a backing file named by
//! an image header, and never guesses a format.
//!
//! Cache modes become node and device options as `-drive cache=` would
//! set them (QEMU's `blockdev_apply_cache_mode`): `direct` and `no-flush`
//! on every node, `write-cache` on the guest device.

use corvus_protocol::DiskFormat;
use std::collections::BTreeMap;

/// One layer of a disk's image chain, as Corvus recorded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageLayer {
    pub path: String,
    pub format: DiskFormat,
}

/// The image chain of each drive on a Corvus disk, by drive id, top first.
/// Drives without an entry are plain files.
pub type DriveImages = BTreeMap<i64, Vec<ImageLayer>>;
