//! A `corvus` process of the benchmark's own, on a socket, runtime
//! directory and database inside the scratch directory.
//!
//! Readiness: the daemon gets `NOTIFY_SOCKET` pointing at a datagram socket
//! the benchmark owns and is ready when it sends `READY=1` (sd_notify).
//! A daemon that never sends it (built before readiness notification) is
//! ready when it first answers `ping`, which is also tried meanwhile.

use crate::cleanup::kill_mentioning;
use crate::client::Client;
use crate::procfs;
use anyhow::{Context as _, bail};
use corvus_protocol::{Request, Response};
use std::fs::OpenOptions;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokio::net::UnixDatagram;

/// The programs under test.
#[derive(Debug, Clone)]
pub struct Bins {
    pub corvus: PathBuf,
    pub crv: PathBuf,
    pub qemu: PathBuf,
}

/// A daemon with 10,000 VMs on PostgreSQL takes a while on a busy machine.
const READY_DEADLINE: Duration = Duration::from_secs(180);
/// After a ping succeeded, how long a `READY=1` may still take to arrive
/// before the daemon is taken not to send one.
const NOTIFY_GRACE: Duration = Duration::from_millis(500);
const PING_RETRY: Duration = Duration::from_millis(2);
const STOP_DEADLINE: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ReadyVia {
    /// `READY=1` on `NOTIFY_SOCKET`.
    Notify,
    /// The first answered `ping`.
    Ping,
}

#[derive(Debug, Clone, Copy)]
pub struct Ready {
    /// From just before the process was spawned.
    pub after: Duration,
    pub via: ReadyVia,
}

pub struct Daemon {
    child: Option<Child>,
    pub dir: PathBuf,
    pub socket: PathBuf,
    pub runtime: PathBuf,
    pub database: String,
    notify: PathBuf,
    /// Kept open while the daemon runs, as systemd would: the daemon also
    /// reports its status (`STOPPING=1` at exit) and warns when nobody listens.
    _notify_socket: Option<UnixDatagram>,
    log: PathBuf,
    accel: String,
    /// More daemon options (`--metrics`, `--listen`, `--config-dir`).
    extra_args: Vec<String>,
    bins: Bins,
}

impl Daemon {
    /// Starts a daemon whose files live in `dir` and waits until it is ready.
    pub async fn start(
        bins: &Bins,
        dir: &Path,
        database: String,
        accel: &str,
    ) -> anyhow::Result<(Daemon, Ready)> {
        Daemon::start_with(bins, dir, database, accel, Vec::new()).await
    }

    /// `start`, with more daemon options (`--metrics`, `--listen`).
    pub async fn start_with(
        bins: &Bins,
        dir: &Path,
        database: String,
        accel: &str,
        extra_args: Vec<String>,
    ) -> anyhow::Result<(Daemon, Ready)> {
        std::fs::create_dir_all(dir).with_context(|| format!("Cannot create {}", dir.display()))?;
        let mut daemon = Daemon {
            child: None,
            dir: dir.to_path_buf(),
            socket: dir.join("corvus.sock"),
            runtime: dir.join("run"),
            database,
            notify: dir.join("notify.sock"),
            _notify_socket: None,
            log: dir.join("corvus.log"),
            accel: accel.to_owned(),
            extra_args,
            bins: bins.clone(),
        };
        let ready = daemon.spawn().await?;
        Ok((daemon, ready))
    }

    /// Starts the process (again: after `kill9`) on the same socket, runtime
    /// directory and database; returns when it is ready.
    pub async fn spawn(&mut self) -> anyhow::Result<Ready> {
        if self.child.is_some() {
            bail!("the daemon in {} is already running", self.dir.display());
        }
        match std::fs::remove_file(&self.notify) {
            Err(err) if err.kind() != std::io::ErrorKind::NotFound => {
                return Err(err).context("Cannot remove the old notify socket");
            }
            _ => {}
        }
        let notify = UnixDatagram::bind(&self.notify).context("Cannot bind NOTIFY_SOCKET")?;
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .with_context(|| format!("Cannot open {}", self.log.display()))?;
        let mut command = Command::new(&self.bins.corvus);
        command
            .arg("--socket")
            .arg(&self.socket)
            .arg("--runtime-dir")
            .arg(&self.runtime)
            .arg("--database")
            .arg(&self.database)
            .arg("--data-dir")
            .arg(self.dir.join("data"))
            .args(["--accel", &self.accel])
            .arg("--qemu")
            .arg(&self.bins.qemu)
            .args(&self.extra_args)
            .env("NOTIFY_SOCKET", &self.notify)
            .env_remove("RUST_LOG")
            .env_remove("CORVUS_SOCKET")
            .env_remove("CORVUS_DATABASE")
            .stdin(Stdio::null())
            .stdout(log.try_clone().context("Cannot share the log file")?)
            .stderr(log)
            // A Ctrl+C meant for the benchmark reaches it alone; it then cleans up.
            .process_group(0);
        let started = Instant::now();
        let child = command
            .spawn()
            .with_context(|| format!("Cannot run {}", self.bins.corvus.display()))?;
        self.child = Some(child);
        let ready = self.wait_ready(started, &notify).await;
        self._notify_socket = Some(notify);
        ready
    }

    async fn wait_ready(
        &mut self,
        started: Instant,
        notify: &UnixDatagram,
    ) -> anyhow::Result<Ready> {
        let socket = self.socket.clone();
        let mut pinger = tokio::spawn(async move {
            loop {
                if ping(&socket).await.is_ok() {
                    return Instant::now();
                }
                tokio::time::sleep(PING_RETRY).await;
            }
        });
        let mut pinged: Option<Instant> = None;
        let mut buffer = [0u8; 1024];
        let result = loop {
            tokio::select! {
                received = notify.recv(&mut buffer) => {
                    let n = received.context("Cannot read NOTIFY_SOCKET")?;
                    let text = String::from_utf8_lossy(&buffer[..n]);
                    if text.lines().any(|line| line == "READY=1") {
                        break Ok(Ready { after: started.elapsed(), via: ReadyVia::Notify });
                    }
                }
                at = &mut pinger, if pinged.is_none() => {
                    pinged = Some(at.context("the readiness pinger failed")?);
                }
                () = tokio::time::sleep(Duration::from_millis(10)) => {
                    if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                        self.child = None;
                        break Err(anyhow::anyhow!("corvus exited during startup ({status}):\n{}", self.log_tail()));
                    }
                    if let Some(at) = pinged.filter(|at| at.elapsed() > NOTIFY_GRACE) {
                        break Ok(Ready { after: at - started, via: ReadyVia::Ping });
                    }
                    if started.elapsed() > READY_DEADLINE {
                        break Err(anyhow::anyhow!("corvus was not ready after {READY_DEADLINE:?}:\n{}", self.log_tail()));
                    }
                }
            }
        };
        pinger.abort();
        result
    }

    pub fn pid(&self) -> anyhow::Result<u32> {
        self.child
            .as_ref()
            .map(Child::id)
            .context("the daemon is not running")
    }

    pub fn rss_kib(&self) -> anyhow::Result<u64> {
        procfs::rss_kib(self.pid()?)
    }

    /// SIGKILL, as a crash would; its QEMUs keep running.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM and wait (the QEMUs keep running; the caller resets them first).
    pub async fn stop(&mut self) -> anyhow::Result<()> {
        let Some(child) = self.child.as_mut() else {
            return Ok(());
        };
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let deadline = Instant::now() + STOP_DEADLINE;
        while Instant::now() < deadline {
            if child
                .try_wait()
                .context("Cannot wait for corvus")?
                .is_some()
            {
                self.child = None;
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.kill9();
        bail!("corvus did not exit within {STOP_DEADLINE:?} of SIGTERM; killed it")
    }

    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let start = text.len().saturating_sub(4096);
        let start = (start..text.len())
            .find(|i| text.is_char_boundary(*i))
            .unwrap_or(text.len());
        text[start..].to_owned()
    }

    /// From the daemon's own log, of its latest start: the time from
    /// `database ready` (definitions loaded) to `corvus ready` (every VM
    /// adopted or found gone), in ms. `None` if the log says otherwise.
    pub fn adoption_phase_ms(&self) -> Option<f64> {
        let log = std::fs::read_to_string(&self.log).ok()?;
        let at = |needle: &str| {
            let line = log.lines().rev().find(|l| l.contains(needle))?;
            let stamp = line.split_whitespace().next()?;
            chrono::DateTime::parse_from_rfc3339(stamp).ok()
        };
        let loaded = at("database ready")?;
        let ready = at("corvus ready")?;
        let micros = (ready - loaded).num_microseconds()?;
        (micros >= 0).then(|| micros as f64 / 1e3)
    }

    pub async fn client(&self) -> anyhow::Result<Client> {
        Client::connect(&self.socket).await
    }
}

impl Drop for Daemon {
    /// The daemon and every QEMU it started go.
    fn drop(&mut self) {
        self.kill9();
        kill_mentioning(&self.dir);
    }
}

async fn ping(socket: &Path) -> anyhow::Result<()> {
    let attempt = async {
        let mut client = Client::connect(socket).await?;
        match client.request(Request::Ping).await? {
            Response::Pong => Ok(()),
            other => bail!("ping answered with {other:?}"),
        }
    };
    tokio::time::timeout(Duration::from_secs(5), attempt)
        .await
        .context("ping timed out")?
}
