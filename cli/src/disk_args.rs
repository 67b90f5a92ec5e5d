//! The `crv disk` command line. Doc comments are the help text.

use crate::words::words;
use clap::{Args, Subcommand};
use corvus_protocol::DiskFormat;

#[derive(Debug, Subcommand)]
pub enum DiskCommand {
    /// List disks: format, sizes, backing disk, users
    List,
    /// Show one disk: sizes, backing chain, snapshots, the VMs that use it
    Show(DiskTarget),
    /// Create an empty disk in the disk directory
    Create(DiskCreateArgs),
    /// Import an image from a file or an http(s) URL (.xz, .gz, .zst decompressed)
    Import(DiskImportArgs),
    /// Register an existing image file (never copied, never deleted by Corvus)
    Register(DiskRegisterArgs),
    /// Create a thin qcow2 overlay on another disk
    Overlay(DiskOverlayArgs),
    /// Copy a disk (with its whole backing chain) into a new, independent one
    Clone(DiskCloneArgs),
    /// Grow a disk (or shrink it with --shrink, when nothing uses it)
    Resize(DiskResizeArgs),
    /// Internal snapshots of a qcow2 disk no running VM uses
    #[command(subcommand)]
    Snapshot(SnapshotCommand),
    /// Delete a disk no VM uses (a managed disk's file goes too)
    Delete(DiskDeleteArgs),
}

/// A disk, by name or numeric id.
#[derive(Debug, Args)]
pub struct DiskTarget {
    /// Disk name or id
    pub disk: String,
}

#[derive(Debug, Args)]
pub struct DiskCreateArgs {
    /// Name: letters, digits, '-', '_', '.'; not all digits
    pub name: String,
    /// Size in bytes, or with a binary unit: 512M (MiB), 20G (GiB), 1T
    #[arg(long, value_name = "SIZE")]
    pub size: String,
    /// Image format [default: qcow2]
    #[arg(long, value_parser = words::<DiskFormat>())]
    pub format: Option<DiskFormat>,
    /// The node whose host gets the file (several nodes) [default: the node asked]
    #[arg(long, value_name = "NAME")]
    pub node: Option<String>,
}

#[derive(Debug, Args)]
pub struct DiskImportArgs {
    /// Name of the new disk
    pub name: String,
    /// An absolute path or an http:// or https:// URL
    pub source: String,
    /// Format of the new disk [default: qcow2]
    #[arg(long, value_parser = words::<DiskFormat>())]
    pub format: Option<DiskFormat>,
    /// SHA-256 of the source as fetched (compressed or not), checked before the disk is kept
    #[arg(long, value_name = "HEX")]
    pub sha256: Option<String>,
    /// Accept a qcow2 that names a backing file, copying its whole chain in
    #[arg(long)]
    pub flatten: bool,
}

#[derive(Debug, Args)]
pub struct DiskRegisterArgs {
    /// Name of the disk
    pub name: String,
    /// Absolute path of an existing image
    pub path: String,
    /// Its format, checked with qemu-img [default: read by qemu-img]
    #[arg(long, value_parser = words::<DiskFormat>())]
    pub format: Option<DiskFormat>,
    /// The node whose host has the file (several nodes) [default: the node asked]
    #[arg(long, value_name = "NAME")]
    pub node: Option<String>,
}

#[derive(Debug, Args)]
pub struct DiskOverlayArgs {
    /// Name of the new overlay
    pub name: String,
    /// The disk it is backed by (name or id)
    #[arg(long, value_name = "BASE")]
    pub backing: String,
}

#[derive(Debug, Args)]
pub struct DiskCloneArgs {
    /// Name of the new disk
    pub name: String,
    /// The disk to copy (name or id)
    pub source: String,
}

#[derive(Debug, Args)]
pub struct DiskResizeArgs {
    /// Disk name or id
    pub disk: String,
    /// New size in bytes, or with a binary unit: 512M, 20G
    pub size: String,
    /// Allow a smaller size (destroys the data past it)
    #[arg(long)]
    pub shrink: bool,
}

#[derive(Debug, Args)]
pub struct DiskDeleteArgs {
    /// Disk name or id
    pub disk: String,
    /// Keep a managed disk's file (registered files are never deleted)
    #[arg(long)]
    pub keep_file: bool,
}

#[derive(Debug, Subcommand)]
pub enum SnapshotCommand {
    /// Take a snapshot
    Create(SnapshotArgs),
    /// List the snapshots of a disk
    List(DiskTarget),
    /// Delete a snapshot
    Delete(SnapshotArgs),
    /// Put the disk back as it was at the snapshot
    Revert(SnapshotArgs),
}

#[derive(Debug, Args)]
pub struct SnapshotArgs {
    /// Disk name or id
    pub disk: String,
    /// Snapshot name
    pub snapshot: String,
}

/// Reads `512M`, `20G`, `1T`, `64K` (binary units) or a byte count.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let trimmed = text.trim();
    let (digits, shift) = match trimmed.char_indices().last() {
        Some((at, unit)) if unit.is_ascii_alphabetic() => {
            let shift = match unit.to_ascii_uppercase() {
                'K' => 10,
                'M' => 20,
                'G' => 30,
                'T' => 40,
                _ => {
                    return Err(format!(
                        "unknown size unit in '{text}': use K, M, G or T (binary)"
                    ));
                }
            };
            (&trimmed[..at], shift)
        }
        _ => (trimmed, 0),
    };
    let number: u64 = digits
        .parse()
        .map_err(|_| format!("'{text}' is not a size: write bytes, or 512M, 20G"))?;
    number
        .checked_mul(1u64 << shift)
        .ok_or_else(|| format!("'{text}' is too large"))
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes_are_binary() {
        assert_eq!(parse_size("512M"), Ok(512 << 20));
        assert_eq!(parse_size("20G"), Ok(20 << 30));
        assert_eq!(parse_size("1t"), Ok(1 << 40));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("0"), Ok(0));
        assert!(parse_size("12X").is_err());
        assert!(parse_size("M").is_err());
        assert!(parse_size("99999999999T").is_err());
    }
}
