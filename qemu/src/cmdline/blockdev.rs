//! Drives on Corvus disks: one `-blockdev` per drive in QEMU's JSON syntax,
//! with every layer of the image chain defined inline, each with its
//! format, and the last one's `backing` null. QEMU then opens exactly the
//! files Corvus recorded, never a backing file named by an image header,
//! and never guesses a format.
//!
//! Cache modes become node and device options as `-drive cache=` would
//! set them (QEMU's `blockdev_apply_cache_mode`): `direct` and `no-flush`
//! on every node, `write-cache` on the guest device.

use corvus_protocol::{CacheMode, DiskFormat, DriveInfo, DriveMedia};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

/// One layer of a disk's image chain, as Corvus recorded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageLayer {
    pub path: String,
    pub format: DiskFormat,
}

/// The image chain of each drive on a Corvus disk, by drive id, top first.
/// Drives without an entry are plain files and get `-drive`.
pub type DriveImages = BTreeMap<i64, Vec<ImageLayer>>;

/// The `-blockdev` value for a drive whose top node is `node_name`.
pub(super) fn blockdev(drive: &DriveInfo, node_name: &str, chain: &[ImageLayer]) -> String {
    let read_only = drive.read_only || drive.media == DriveMedia::Cdrom;
    let mut top = layer(chain, drive, read_only);
    top.insert("node-name".into(), node_name.into());
    Value::Object(top).to_string()
}

/// `write-cache` for the guest device, when the cache mode sets it.
pub(super) fn write_cache(cache: Option<CacheMode>) -> Option<&'static str> {
    match cache? {
        CacheMode::Writethrough | CacheMode::Directsync => Some("off"),
        CacheMode::None | CacheMode::Writeback | CacheMode::Unsafe => Some("on"),
    }
}

fn layer(chain: &[ImageLayer], drive: &DriveInfo, read_only: bool) -> Map<String, Value> {
    let Some((image, below)) = chain.split_first() else {
        return Map::new();
    };
    let mut file = Map::new();
    file.insert("driver".into(), "file".into());
    file.insert("filename".into(), image.path.clone().into());
    let mut node = Map::new();
    node.insert("driver".into(), image.format.as_str().into());
    for fields in [&mut file, &mut node] {
        fields.insert("read-only".into(), read_only.into());
        if let Some(cache) = cache_options(drive.cache) {
            fields.insert("cache".into(), cache);
        }
        if drive.discard && !read_only {
            fields.insert("discard".into(), "unmap".into());
        }
    }
    node.insert("file".into(), Value::Object(file));
    if image.format == DiskFormat::Qcow2 {
        let backing = if below.is_empty() {
            Value::Null
        } else {
            // Layers below the top are only ever read.
            Value::Object(layer(below, drive, true))
        };
        node.insert("backing".into(), backing);
    }
    node
}

fn cache_options(cache: Option<CacheMode>) -> Option<Value> {
    let (direct, no_flush) = match cache? {
        CacheMode::None | CacheMode::Directsync => (true, false),
        CacheMode::Writeback | CacheMode::Writethrough => (false, false),
        CacheMode::Unsafe => (false, true),
    };
    Some(json!({ "direct": direct, "no-flush": no_flush }))
}
