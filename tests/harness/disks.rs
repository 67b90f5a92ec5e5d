//! Disks as the tests look at them: through `crv disk`, and independently
//! through qemu-img and the disk directory.

use crate::daemon::Daemon;
use crate::prereq::{require, which};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

/// qemu-img is on the machine (it comes with qemu-utils).
pub fn have_qemu_img() -> bool {
    require(
        which("qemu-img").is_some(),
        "qemu-img (Debian package qemu-utils)",
    )
}

/// `qemu-img info --output=json -U` of a file, read by the test itself.
#[track_caller]
pub fn img_info(path: &str) -> Value {
    let output = Command::new("qemu-img")
        .args(["info", "--output=json", "-U", path])
        .output()
        .expect("run qemu-img");
    assert!(
        output.status.success(),
        "qemu-img info {path}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("qemu-img info JSON")
}

/// Runs a command that must succeed.
#[track_caller]
pub fn run(program: &str, args: &[&str]) -> Vec<u8> {
    let output = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|err| panic!("run {program}: {err}"));
    assert!(
        output.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

/// The text line at the start of sector 1 of an image, read through its
/// backing chain (where the test guest writes its marker).
pub fn sector_line(path: &str, format: &str, scratch: &Path) -> String {
    let raw = scratch.join("sector.raw");
    run(
        "qemu-img",
        &[
            "convert",
            "-U",
            "-f",
            format,
            "-O",
            "raw",
            path,
            raw.to_str().expect("utf-8"),
        ],
    );
    let bytes = std::fs::read(&raw).expect("read the converted image");
    let _ = std::fs::remove_file(&raw);
    let sector = &bytes[512..1024];
    let line = sector.split(|b| *b == b'\n').next().unwrap_or_default();
    String::from_utf8_lossy(line).into_owned()
}

/// SHA-256 of a file, with the system's sha256sum.
pub fn sha256(path: &Path) -> String {
    let out = run("sha256sum", &[path.to_str().expect("utf-8")]);
    String::from_utf8_lossy(&out)
        .split_whitespace()
        .next()
        .expect("a digest")
        .to_owned()
}

impl Daemon {
    /// `crv --json disk show`.
    pub fn disk(&self, disk: &str) -> Value {
        self.crv(&["--json", "disk", "show", disk]).json()
    }

    /// The path of a disk's file.
    pub fn disk_path(&self, disk: &str) -> String {
        self.disk(disk)["path"]
            .as_str()
            .expect("a disk has a path")
            .to_owned()
    }

    /// The names `crv disk list` shows.
    pub fn disk_names(&self) -> Vec<String> {
        self.crv(&["--json", "disk", "list"])
            .json()
            .as_array()
            .expect("disk list is an array")
            .iter()
            .map(|d| d["name"].as_str().expect("a name").to_owned())
            .collect()
    }

    /// The files in the disk directory (empty when it does not exist yet).
    pub fn disk_files(&self) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.data_dir().join("disks"))
            .map(|entries| entries.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        files.sort();
        files
    }
}
