//! The baseline: QEMU with the very arguments the daemon would give it,
//! started and stopped by hand, with a minimal blocking QMP client that
//! connects the moment the socket appears (inotify, no polling: twenty
//! polling clients would slow twenty QEMUs starting on two cores).

use anyhow::{Context as _, bail};
use corvus_protocol::VmInfo;
use corvus_qemu::{Accel, VmPaths, build_cmdline};
use serde_json::{Value, json};
use std::ffi::OsString;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Write};
use std::os::unix::fs::DirBuilderExt;
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Between `query-status` calls, and between connection attempts while
/// the socket exists but QEMU does not listen on it yet.
const QMP_RETRY: Duration = Duration::from_millis(1);
const LISTEN_RETRY: Duration = Duration::from_micros(100);
const QMP_DEADLINE: Duration = Duration::from_secs(30);

/// How to start one bare QEMU.
#[derive(Debug, Clone)]
pub struct BareVm {
    qemu: PathBuf,
    args: Vec<OsString>,
    paths: VmPaths,
}

impl BareVm {
    /// The command line `corvus_qemu::build_cmdline` gives `vm` (as the daemon
    /// reports it), with its runtime files under `root` instead.
    pub fn new(qemu: &Path, vm: &VmInfo, root: &Path, accel: Accel) -> BareVm {
        let paths = VmPaths::new(root, vm.id);
        BareVm {
            qemu: qemu.to_path_buf(),
            args: build_cmdline(vm, &Default::default(), &paths, accel),
            paths,
        }
    }

    pub fn args(&self) -> &[OsString] {
        &self.args
    }

    /// Spawns QEMU and returns once QMP `query-status` says it runs, with
    /// the time from spawn to that answer. The directory is prepared and
    /// stale sockets removed before the clock starts.
    pub fn start(&self) -> anyhow::Result<(BareQemu, Duration)> {
        self.spawn(&[], None)
    }

    /// Figure 13's restore: the same command line plus `-incoming defer`,
    /// then `migrate-incoming` from `file`, `query-migrate` until completed
    /// and `cont`, as the daemon does; the time until QEMU runs.
    pub fn restore(&self, file: &Path) -> anyhow::Result<(BareQemu, Duration)> {
        self.spawn(&["-incoming", corvus_qemu::INCOMING_DEFERRED], Some(file))
    }

    fn spawn(
        &self,
        extra: &[&str],
        restore: Option<&Path>,
    ) -> anyhow::Result<(BareQemu, Duration)> {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.paths.dir)
            .with_context(|| format!("Cannot create {}", self.paths.dir.display()))?;
        for socket in [&self.paths.qmp, &self.paths.monitor, &self.paths.serial] {
            match std::fs::remove_file(socket) {
                Err(err) if err.kind() != io::ErrorKind::NotFound => {
                    return Err(err).with_context(|| format!("Cannot remove {}", socket.display()));
                }
                _ => {}
            }
        }
        let log = File::create(&self.paths.qemu_log)
            .with_context(|| format!("Cannot create {}", self.paths.qemu_log.display()))?;
        // Watching before the spawn: no creation can be missed.
        let watch = CreationWatch::new(&self.paths.dir)?;
        let started = Instant::now();
        let child = Command::new(&self.qemu)
            .args(&self.args)
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .process_group(0)
            .spawn()
            .with_context(|| format!("Cannot run {}", self.qemu.display()))?;
        let mut qemu = BareQemu {
            child,
            reaped: false,
            qmp: None,
            log: self.paths.qemu_log.clone(),
        };
        let mut qmp = Qmp::connect(&self.paths.qmp, &watch, started + QMP_DEADLINE, &mut qemu)?;
        if let Some(file) = restore {
            qmp.execute_with(
                "migrate-incoming",
                json!({ "uri": corvus_qemu::restore_uri(file) }),
            )?;
            qmp.until_migrated()?;
            qmp.execute("cont")?;
        }
        loop {
            let status = qmp.execute("query-status")?;
            if status.get("running").and_then(Value::as_bool) == Some(true) {
                break;
            }
            if started.elapsed() > QMP_DEADLINE {
                bail!("bare QEMU did not reach `running`: {status}");
            }
            std::thread::sleep(QMP_RETRY);
        }
        let elapsed = started.elapsed();
        qemu.qmp = Some(qmp);
        Ok((qemu, elapsed))
    }
}

/// A running bare QEMU; killed and reaped when dropped.
pub struct BareQemu {
    child: Child,
    reaped: bool,
    qmp: Option<Qmp>,
    log: PathBuf,
}

impl BareQemu {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL and reap; the time both take.
    pub fn kill(mut self) -> Duration {
        let started = Instant::now();
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.reaped = true;
        started.elapsed()
    }

    /// QMP `stop` until the `STOP` event arrives, then `cont` back to running.
    pub fn pause_event_latency(&mut self) -> anyhow::Result<Duration> {
        let qmp = self.qmp.as_mut().context("no QMP session")?;
        let latency = qmp.execute_until_event("stop", "STOP")?;
        qmp.execute_until_event("cont", "RESUME")?;
        Ok(latency)
    }

    /// Figure 13's save: `stop`, `migrate` to `exec:` (the daemon's URI:
    /// `cat` into `partial`, renamed to `complete`), `query-migrate` until
    /// completed, the file in place, `quit`, and QEMU reaped.
    pub fn save(mut self, partial: &Path, complete: &Path) -> anyhow::Result<Duration> {
        let started = Instant::now();
        let qmp = self.qmp.as_mut().context("no QMP session")?;
        qmp.execute("stop")?;
        qmp.execute_with(
            "migrate",
            json!({ "uri": corvus_qemu::save_uri(partial, complete) }),
        )?;
        qmp.until_migrated()?;
        while !complete.exists() || partial.exists() {
            if started.elapsed() > QMP_DEADLINE {
                bail!("the bare save never reached {}", complete.display());
            }
            std::thread::sleep(QMP_RETRY);
        }
        let _ = qmp.execute("quit");
        let _ = self.child.wait();
        self.reaped = true;
        Ok(started.elapsed())
    }

    /// A QMP command with arguments; its `return` value.
    pub fn execute_with(&mut self, command: &str, arguments: Value) -> anyhow::Result<Value> {
        let qmp = self.qmp.as_mut().context("no QMP session")?;
        qmp.execute_with(command, arguments)
    }

    fn exited(&mut self) -> Option<String> {
        let status = self.child.try_wait().ok().flatten()?;
        let stderr = std::fs::read_to_string(&self.log).unwrap_or_default();
        Some(format!("QEMU {status}: {}", stderr.trim()))
    }
}

impl Drop for BareQemu {
    fn drop(&mut self) {
        if !self.reaped {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

struct Qmp {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
}

impl Qmp {
    fn connect(
        path: &Path,
        watch: &CreationWatch,
        deadline: Instant,
        qemu: &mut BareQemu,
    ) -> anyhow::Result<Qmp> {
        let stream = loop {
            let err = match UnixStream::connect(path) {
                Ok(stream) => break stream,
                Err(err) => err,
            };
            if Instant::now() > deadline {
                return Err(err).with_context(|| format!("Cannot connect to {}", path.display()));
            }
            if let Some(why) = qemu.exited() {
                bail!("bare QEMU ended before its QMP socket was up: {why}");
            }
            match err.kind() {
                // Not created yet: sleep until something is created there.
                io::ErrorKind::NotFound => watch.wait(Duration::from_millis(50))?,
                // Bound but not listening yet: a matter of microseconds.
                io::ErrorKind::ConnectionRefused => std::thread::sleep(LISTEN_RETRY),
                _ => {
                    return Err(err)
                        .with_context(|| format!("Cannot connect to {}", path.display()));
                }
            }
        };
        stream
            .set_read_timeout(Some(QMP_DEADLINE))
            .context("Cannot set a QMP read timeout")?;
        let writer = stream.try_clone().context("Cannot clone the QMP socket")?;
        let mut qmp = Qmp {
            reader: BufReader::new(stream),
            writer,
        };
        let greeting = qmp.read()?;
        if greeting.get("QMP").is_none() {
            bail!("not a QMP greeting: {greeting}");
        }
        qmp.execute("qmp_capabilities")?;
        Ok(qmp)
    }

    fn read(&mut self) -> anyhow::Result<Value> {
        let mut line = String::new();
        let n = self
            .reader
            .read_line(&mut line)
            .context("Cannot read from QMP")?;
        if n == 0 {
            bail!("QEMU closed QMP");
        }
        serde_json::from_str(&line)
            .with_context(|| format!("QMP sent something else than JSON: {line}"))
    }

    fn send(&mut self, command: &str) -> anyhow::Result<()> {
        self.send_with(command, json!({}))
    }

    fn send_with(&mut self, command: &str, arguments: Value) -> anyhow::Result<()> {
        let mut line = json!({ "execute": command, "arguments": arguments }).to_string();
        line.push('\n');
        self.writer
            .write_all(line.as_bytes())
            .with_context(|| format!("Cannot send QMP `{command}`"))
    }

    /// Runs a command and returns its `return` value; events in between are skipped.
    fn execute(&mut self, command: &str) -> anyhow::Result<Value> {
        self.execute_with(command, json!({}))
    }

    fn execute_with(&mut self, command: &str, arguments: Value) -> anyhow::Result<Value> {
        self.send_with(command, arguments)?;
        loop {
            let message = self.read()?;
            if let Some(value) = message.get("return") {
                return Ok(value.clone());
            }
            if let Some(error) = message.get("error") {
                bail!("QEMU refused `{command}`: {error}");
            }
        }
    }

    /// Polls `query-migrate` until the migration completed.
    fn until_migrated(&mut self) -> anyhow::Result<()> {
        let started = Instant::now();
        loop {
            let status = self.execute("query-migrate")?;
            match status.get("status").and_then(Value::as_str) {
                Some("completed") => return Ok(()),
                Some("failed" | "cancelled") => bail!("the bare migration failed: {status}"),
                _ if started.elapsed() > QMP_DEADLINE => {
                    bail!("the bare migration did not finish: {status}")
                }
                _ => std::thread::sleep(QMP_RETRY),
            }
        }
    }

    /// Sends `command` and reads until both its reply and `event` came;
    /// returns the time until the event.
    fn execute_until_event(&mut self, command: &str, event: &str) -> anyhow::Result<Duration> {
        let started = Instant::now();
        self.send(command)?;
        let mut event_after = None;
        let mut replied = false;
        while event_after.is_none() || !replied {
            let message = self.read()?;
            if message.get("event").and_then(Value::as_str) == Some(event) {
                event_after = Some(started.elapsed());
            } else if message.get("return").is_some() {
                replied = true;
            } else if let Some(error) = message.get("error") {
                bail!("QEMU refused `{command}`: {error}");
            }
        }
        event_after.context("unreachable: the loop ends with the event")
    }
}

/// Wakes up when a file is created in a directory (inotify).
struct CreationWatch {
    fd: std::os::fd::OwnedFd,
}

impl CreationWatch {
    fn new(dir: &Path) -> anyhow::Result<CreationWatch> {
        use rustix::fs::inotify;
        let fd = inotify::init(inotify::CreateFlags::CLOEXEC | inotify::CreateFlags::NONBLOCK)
            .context("Cannot create an inotify instance")?;
        inotify::add_watch(&fd, dir, inotify::WatchFlags::CREATE)
            .with_context(|| format!("Cannot watch {}", dir.display()))?;
        Ok(CreationWatch { fd })
    }

    /// Returns after a creation (possibly one that happened before the
    /// call and was not consumed yet) or after `timeout`.
    fn wait(&self, timeout: Duration) -> anyhow::Result<()> {
        use rustix::event::{PollFd, PollFlags, Timespec, poll};
        let timeout = Timespec {
            tv_sec: timeout.as_secs() as i64,
            tv_nsec: i64::from(timeout.subsec_nanos()),
        };
        let mut fds = [PollFd::new(&self.fd, PollFlags::IN)];
        match poll(&mut fds, Some(&timeout)) {
            Ok(_) | Err(rustix::io::Errno::INTR) => {}
            Err(err) => return Err(err).context("Cannot poll the inotify instance"),
        }
        // Drain what is queued; the events themselves do not matter.
        let mut buffer = [0u8; 4096];
        loop {
            match rustix::io::read(&self.fd, &mut buffer) {
                Ok(0) | Err(rustix::io::Errno::AGAIN) => return Ok(()),
                Ok(_) | Err(rustix::io::Errno::INTR) => {}
                Err(err) => return Err(err).context("Cannot read the inotify instance"),
            }
        }
    }
}
