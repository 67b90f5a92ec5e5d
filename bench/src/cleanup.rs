//! Nothing the benchmark starts outlives it. Every daemon, QEMU and helper
//! it starts has the scratch directory on its command line (sockets,
//! runtime directories, databases all live there), so "kill every process
//! that mentions the scratch directory" finds them all, including the QEMUs
//! a daemon started in their own process groups. This runs:
//! - when the run ends (the `Scratch` guard is dropped), also after a panic;
//! - on SIGINT, SIGTERM or SIGHUP (a thread of its own handles them);
//! - when the benchmark is killed outright: a watchdog process (this binary's
//!   hidden `watchdog` command) notices its parent is gone.

use anyhow::Context as _;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

static ROOT: OnceLock<PathBuf> = OnceLock::new();
static WATCHDOG: OnceLock<u32> = OnceLock::new();

/// The benchmark's scratch directory; cleans up when dropped.
pub struct Scratch {
    root: PathBuf,
    keep: bool,
}

impl Scratch {
    pub fn create(keep: bool) -> anyhow::Result<Scratch> {
        // Short: VM sockets live several levels below it and Unix socket
        // paths are limited to 107 bytes.
        let root = tempfile::Builder::new()
            .prefix("cbench-")
            .tempdir_in("/tmp")
            .context("Cannot create the scratch directory")?
            .keep();
        ROOT.set(root.clone())
            .map_err(|_| anyhow::anyhow!("the scratch directory exists already"))?;

        watch_signals()?;

        let default_hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if let Some(root) = ROOT.get() {
                kill_mentioning(root);
            }
            default_hook(info);
        }));

        let exe = std::env::current_exe().context("Cannot find this program's path")?;
        let watchdog = Command::new(exe)
            .arg("watchdog")
            .arg("--parent")
            .arg(std::process::id().to_string())
            .arg("--dir")
            .arg(&root)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .context("Cannot start the watchdog")?;
        let _ = WATCHDOG.set(watchdog.id());
        Ok(Scratch { root, keep })
    }

    pub fn path(&self) -> &Path {
        &self.root
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if self.keep {
            kill_mentioning(&self.root);
            eprintln!("corvus-bench: kept {}", self.root.display());
        } else {
            sweep(&self.root);
        }
        if let Some(pid) = WATCHDOG.get() {
            let _ = kill(Pid::from_raw(*pid as i32), Signal::SIGKILL);
        }
    }
}

/// Kills what mentions `root`, then removes it.
pub fn sweep(root: &Path) {
    kill_mentioning(root);
    let _ = std::fs::remove_dir_all(root);
}

/// SIGKILL to every process whose command line mentions a file inside
/// `dir`, except this one and the watchdog.
pub fn kill_mentioning(dir: &Path) {
    for pid in processes_mentioning(dir) {
        let _ = kill(Pid::from_raw(pid as i32), Signal::SIGKILL);
    }
}

/// Processes whose command line mentions a file inside `dir`: the trailing
/// slash keeps `/x/main` from matching `/x/main-bare`.
pub fn processes_mentioning(dir: &Path) -> Vec<u32> {
    let mut needle = dir.as_os_str().as_encoded_bytes().to_vec();
    needle.push(b'/');
    let spared = [Some(std::process::id()), WATCHDOG.get().copied()];
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| !spared.contains(&Some(*pid)))
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|cmdline| {
                cmdline
                    .windows(needle.len())
                    .any(|w| w == needle.as_slice())
            })
        })
        .collect()
}

/// Alive and not a zombie waiting for its parent.
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit_once(')')
            .is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z'))
    })
}

/// A thread of its own waits for SIGINT, SIGTERM and SIGHUP and then
/// sweeps, even while the benchmark's runtime is busy in a blocking call.
/// Handlers rather than a blocked mask: children must not inherit a mask.
fn watch_signals() -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("Cannot start the signal thread's runtime")?;
    let (installed, ready) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        runtime.block_on(async move {
            let handlers = (|| {
                Ok::<_, std::io::Error>((
                    signal(SignalKind::interrupt())?,
                    signal(SignalKind::terminate())?,
                    signal(SignalKind::hangup())?,
                ))
            })();
            let (mut interrupt, mut terminate, mut hangup) = match handlers {
                Ok(handlers) => {
                    let _ = installed.send(Ok(()));
                    handlers
                }
                Err(err) => {
                    let _ = installed.send(Err(err));
                    return;
                }
            };
            let signal = tokio::select! {
                _ = interrupt.recv() => Signal::SIGINT,
                _ = terminate.recv() => Signal::SIGTERM,
                _ = hangup.recv() => Signal::SIGHUP,
            };
            eprintln!("corvus-bench: {signal}: stopping every process this run started");
            if let Some(root) = ROOT.get() {
                sweep(root);
            }
            std::process::exit(128 + signal as i32);
        });
    });
    ready
        .recv()
        .context("The signal thread ended")?
        .context("Cannot handle termination signals")
}

/// The hidden `watchdog` command: waits for `parent` to end, then sweeps.
pub fn watchdog(parent: u32, dir: &Path) -> ! {
    // A Ctrl+C meant for the benchmark must not take the watchdog with it.
    for signal in [Signal::SIGINT, Signal::SIGHUP] {
        // SAFETY: ignoring a signal installs no handler code.
        let _ = unsafe { nix::sys::signal::signal(signal, nix::sys::signal::SigHandler::SigIgn) };
    }
    loop {
        if !dir.exists() {
            std::process::exit(0);
        }
        if !alive(parent) {
            sweep(dir);
            std::process::exit(0);
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}
