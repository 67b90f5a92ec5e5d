//! Small disk images made without qemu-img (not installed everywhere QEMU is).

use std::path::Path;

const CLUSTER: usize = 1 << 16;

/// A raw image of `size` bytes (sparse).
pub fn raw(path: &Path, size: u64) {
    let file = std::fs::File::create(path).expect("create image");
    file.set_len(size).expect("size image");
}

/// An empty qcow2 (version 2, 64 KiB clusters) as `qemu-img create` would
/// lay it out: header, refcount table, refcount block, L1 table.
pub fn qcow2(path: &Path, size: u64) {
    let mut image = vec![0u8; 4 * CLUSTER];
    let mut at = 0;
    let mut put = |bytes: &[u8]| {
        image[at..at + bytes.len()].copy_from_slice(bytes);
        at += bytes.len();
    };
    put(b"QFI\xfb");
    put(&2u32.to_be_bytes()); // version
    put(&0u64.to_be_bytes()); // backing file offset
    put(&0u32.to_be_bytes()); // backing file name length
    put(&16u32.to_be_bytes()); // cluster bits
    put(&size.to_be_bytes());
    put(&0u32.to_be_bytes()); // no encryption
    put(&1u32.to_be_bytes()); // L1 entries: one covers 512 MiB
    put(&(3 * CLUSTER as u64).to_be_bytes()); // L1 table offset
    put(&(CLUSTER as u64).to_be_bytes()); // refcount table offset
    put(&1u32.to_be_bytes()); // refcount table clusters
    put(&0u32.to_be_bytes()); // snapshots
    put(&0u64.to_be_bytes()); // snapshots offset
    image[CLUSTER..CLUSTER + 8].copy_from_slice(&(2 * CLUSTER as u64).to_be_bytes());
    for cluster in 0..4 {
        let entry = 2 * CLUSTER + 2 * cluster;
        image[entry..entry + 2].copy_from_slice(&1u16.to_be_bytes());
    }
    std::fs::write(path, image).expect("write qcow2");
}

/// A VMDK descriptor for a flat extent next to it. (QEMU 7.2 opens such an
/// image only read-only: read-write asks for a "resize" lock it refuses.)
pub fn vmdk(path: &Path, sectors: u64) {
    let extent = path.with_extension("flat");
    raw(&extent, sectors * 512);
    let name = extent.file_name().and_then(|n| n.to_str()).expect("name");
    let descriptor = format!(
        "# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=ffffffff\n\
         createType=\"monolithicFlat\"\n\nRW {sectors} FLAT \"{name}\" 0\n"
    );
    std::fs::write(path, descriptor).expect("write vmdk");
}
