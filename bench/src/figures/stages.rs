//! Figure 12's stages: when each milestone of a cloud guest's boot first
//! shows in its serial log, and when its sshd first answered, seen from
//! the ssh retry loop of either side. The same markers on both sides tell
//! where a gap between them opens.

use std::path::{Path, PathBuf};
use std::time::Instant;

/// Serial log lines of a Debian cloud boot, in boot order.
pub const MARKERS: &[(&str, &str)] = &[
    ("kernel", "Linux version"),
    ("systemd", "Welcome to "),
    ("cloud-init local", "running 'init-local'"),
    ("cloud-init network", "running 'init'"),
    ("sshd started", "OpenBSD Secure Shell server"),
    ("cloud-init modules", "running 'modules:config'"),
    ("cloud-init final", "running 'modules:final'"),
];

/// Seconds from the round's start to each stage seen so far.
pub struct Stages {
    serial: PathBuf,
    started: Instant,
    seen: Vec<(&'static str, f64)>,
}

impl Stages {
    pub fn new(serial: &Path, started: Instant) -> Stages {
        Stages {
            serial: serial.to_path_buf(),
            started,
            seen: Vec::new(),
        }
    }

    /// Reads the serial log and notes the markers that appeared since.
    pub fn poll(&mut self) {
        let Ok(bytes) = std::fs::read(&self.serial) else {
            return;
        };
        let text = String::from_utf8_lossy(&bytes);
        let now = self.started.elapsed().as_secs_f64();
        for (stage, marker) in MARKERS {
            if !self.seen.iter().any(|(seen, _)| seen == stage) && text.contains(marker) {
                self.seen.push((stage, now));
            }
        }
    }

    /// An event seen from outside the guest (an ssh answer of some kind).
    pub fn mark(&mut self, stage: &'static str) {
        self.mark_at(stage, self.started.elapsed().as_secs_f64());
    }

    pub fn mark_at(&mut self, stage: &'static str, at: f64) {
        if !self.seen.iter().any(|(seen, _)| *seen == stage) {
            self.seen.push((stage, at));
        }
    }

    pub fn summary(&self) -> String {
        self.seen
            .iter()
            .map(|(stage, at)| format!("{stage} {at:.1}"))
            .collect::<Vec<_>>()
            .join(", ")
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::Value::Object(
            self.seen
                .iter()
                .map(|(stage, at)| ((*stage).to_owned(), serde_json::json!(at)))
                .collect(),
        )
    }
}
