//! `crv` as a whole process, timed from spawn to exit, as a user or a
//! script experiences it. Its output is read through a pipe and discarded.

use anyhow::{Context as _, bail};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct Crv {
    bin: PathBuf,
    socket: PathBuf,
}

impl Crv {
    pub fn new(bin: &Path, socket: &Path) -> Crv {
        Crv {
            bin: bin.to_path_buf(),
            socket: socket.to_path_buf(),
        }
    }

    /// `crv --socket S ARGS…`, to run as the caller likes.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(&self.bin);
        command
            .arg("--socket")
            .arg(&self.socket)
            .args(args)
            .env_remove("CORVUS_SOCKET")
            .stdin(Stdio::null());
        command
    }

    /// Runs `crv --socket S ARGS…`; fails unless it exits with status 0.
    pub fn run(&self, args: &[&str]) -> anyhow::Result<(Duration, Output)> {
        timed(self.command(args), args)
    }

    pub fn time(&self, args: &[&str]) -> anyhow::Result<Duration> {
        self.run(args).map(|(elapsed, _)| elapsed)
    }

    /// `crv --remote NAME ARGS…`, its remotes in `config_home`.
    pub fn time_remote(
        &self,
        config_home: &Path,
        remote: &str,
        args: &[&str],
    ) -> anyhow::Result<Duration> {
        let mut command = Command::new(&self.bin);
        command
            .arg("--remote")
            .arg(remote)
            .args(args)
            .env("XDG_CONFIG_HOME", config_home)
            .env_remove("CORVUS_SOCKET")
            .env_remove("CORVUS_REMOTE")
            .stdin(Stdio::null());
        timed(command, args).map(|(elapsed, _)| elapsed)
    }

    /// `crv ARGS…` with no socket at all (e.g. `--version`).
    pub fn time_bare(&self, args: &[&str]) -> anyhow::Result<Duration> {
        let mut command = Command::new(&self.bin);
        command.args(args).stdin(Stdio::null());
        timed(command, args).map(|(elapsed, _)| elapsed)
    }
}

fn timed(mut command: Command, args: &[&str]) -> anyhow::Result<(Duration, Output)> {
    let started = Instant::now();
    let output = command
        .output()
        .with_context(|| format!("Cannot run crv {}", args.join(" ")))?;
    let elapsed = started.elapsed();
    if !output.status.success() {
        bail!(
            "crv {} failed ({}): {}",
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok((elapsed, output))
}
