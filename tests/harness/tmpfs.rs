//! A small tmpfs of the test's own, to run a database out of space and
//! give the space back (needs root to mount).

use crate::prereq::{is_root, require};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

pub struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    /// Mounts a tmpfs of `size` (e.g. "2m"), or `None` when we may not
    /// mount outside CI.
    pub fn mount(size: &str) -> Option<Tmpfs> {
        if !require(is_root(), "root, to mount a tmpfs the test can fill") {
            return None;
        }
        let dir = tempfile::Builder::new()
            .prefix("corvus-full-")
            .tempdir()
            .expect("temp dir");
        let status = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(dir.path())
            .status()
            .expect("run mount");
        assert!(
            status.success(),
            "mount a tmpfs on {}",
            dir.path().display()
        );
        Some(Tmpfs { dir })
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    fn filler(&self) -> PathBuf {
        self.path().join("filler")
    }

    /// Takes every free byte, so that the next write fails with ENOSPC.
    pub fn fill(&self) {
        let mut file = std::fs::File::create(self.filler()).expect("create the filler");
        let chunk = vec![0u8; 4096];
        loop {
            match file.write_all(&chunk) {
                Ok(()) => {}
                Err(err) if err.raw_os_error() == Some(nix::errno::Errno::ENOSPC as i32) => break,
                Err(err) => panic!("filling the tmpfs: {err}"),
            }
        }
        let _ = file.sync_all();
    }

    /// Gives the space back.
    pub fn free(&self) {
        std::fs::remove_file(self.filler()).expect("remove the filler");
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        // Lazily: a process of the test may still hold a file open there.
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}
