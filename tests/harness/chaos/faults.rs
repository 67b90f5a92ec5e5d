//! The faults a chaos round injects, and the recovery after each.

use super::Chaos;
use crate::daemon::Db;
use crate::postgres::wait_until;
use crate::prereq::binary;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use std::io::Write;
use std::os::unix::net::UnixStream;
use std::process::Command;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// SIGKILL the daemon in the middle of an operation.
    DaemonKill,
    /// SIGTERM the daemon in the middle of an operation.
    DaemonTerm,
    /// SIGHUP the daemon in the middle of an operation (it must survive).
    DaemonHangup,
    QemuKill,
    /// SIGSTOP a QEMU, work on, then SIGCONT it.
    QemuFreeze,
    VirtiofsdKill,
    /// SQLite: the filesystem of the database fills up, then has room again.
    DiskFull,
    /// PostgreSQL: read-only, then writable again.
    ReadOnly,
    /// PostgreSQL: the server stops, then starts again.
    DatabaseDown,
    /// Hundreds of idle connections held open.
    ConnectionFlood,
    /// Clients that announce 16 MiB frames and send a little.
    PartialFrames,
}

const COMMON: [Fault; 8] = [
    Fault::DaemonKill,
    Fault::DaemonTerm,
    Fault::DaemonHangup,
    Fault::QemuKill,
    Fault::QemuFreeze,
    Fault::VirtiofsdKill,
    Fault::ConnectionFlood,
    Fault::PartialFrames,
];

impl Fault {
    pub fn pick(rng: &mut fastrand::Rng, db: Db) -> Fault {
        let database = match db {
            Db::Sqlite => [Fault::DiskFull, Fault::DiskFull],
            Db::Postgres => [Fault::ReadOnly, Fault::DatabaseDown],
        };
        // A database fault one round in four: they are the slowest.
        if rng.u32(..4) == 0 {
            database[rng.usize(..2)]
        } else {
            COMMON[rng.usize(..COMMON.len())]
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Fault::DaemonKill => "daemon SIGKILL during an operation",
            Fault::DaemonTerm => "daemon SIGTERM during an operation",
            Fault::DaemonHangup => "daemon SIGHUP during an operation",
            Fault::QemuKill => "QEMU SIGKILL",
            Fault::QemuFreeze => "QEMU SIGSTOP, then SIGCONT",
            Fault::VirtiofsdKill => "virtiofsd SIGKILL",
            Fault::DiskFull => "database disk full, then space again",
            Fault::ReadOnly => "PostgreSQL read-only, then writable",
            Fault::DatabaseDown => "PostgreSQL stopped, then started",
            Fault::ConnectionFlood => "300 idle connections",
            Fault::PartialFrames => "40 half-sent 16 MiB frames",
        }
    }
}

fn signal(pid: u32, signal: Signal) {
    let _ = kill(Pid::from_raw(pid as i32), signal);
}

impl Chaos {
    pub(super) fn inject(&mut self, fault: Fault) {
        match fault {
            Fault::DaemonKill | Fault::DaemonTerm | Fault::DaemonHangup => {
                self.during_an_operation(fault)
            }
            Fault::QemuKill => {
                if let Some(pid) = self.some_qemu() {
                    signal(pid, Signal::SIGKILL);
                }
                self.work();
            }
            Fault::QemuFreeze => {
                let frozen = self.some_qemu();
                if let Some(pid) = frozen {
                    signal(pid, Signal::SIGSTOP);
                }
                self.work();
                self.work();
                if let Some(pid) = frozen {
                    signal(pid, Signal::SIGCONT);
                }
            }
            Fault::VirtiofsdKill => {
                for pid in self.virtiofsds() {
                    signal(pid, Signal::SIGKILL);
                }
                self.work();
            }
            Fault::DiskFull => {
                if let Some(disk) = &self.disk {
                    disk.fill();
                }
                for _ in 0..3 {
                    self.work();
                }
                if let Some(disk) = &self.disk {
                    disk.free();
                }
            }
            Fault::ReadOnly => {
                self.read_only(true);
                for _ in 0..3 {
                    self.work();
                }
                self.read_only(false);
            }
            Fault::DatabaseDown => {
                if let Some(cluster) = &self.cluster {
                    cluster.stop_server();
                }
                for _ in 0..2 {
                    self.work();
                }
                if let Some(cluster) = &self.cluster {
                    cluster.start_server();
                }
            }
            Fault::ConnectionFlood => self.while_flooded(300, false),
            Fault::PartialFrames => self.while_flooded(40, true),
        }
    }

    /// An operation, with the daemon signalled at a random moment of it.
    fn during_an_operation(&mut self, fault: Fault) {
        let operation = self.operation();
        let was_stopped = self.was_stopped(&operation);
        let running = self.launch(operation);
        std::thread::sleep(Duration::from_millis(self.rng.u64(0..400)));
        match fault {
            Fault::DaemonKill => self.daemon.kill9(),
            Fault::DaemonTerm => {
                self.daemon.stop();
            }
            _ => {
                if let Some(pid) = self.daemon.pid() {
                    signal(pid, Signal::SIGHUP);
                }
            }
        }
        self.settle(running, was_stopped);
        if fault == Fault::DaemonHangup && !self.daemon.is_running() {
            self.violation("the daemon died of SIGHUP".into());
        }
    }

    /// Connections held open while the daemon must keep answering.
    fn while_flooded(&mut self, count: usize, partial_frames: bool) {
        let mut held = Vec::new();
        for _ in 0..count {
            let Ok(mut stream) = UnixStream::connect(&self.daemon.socket) else {
                break;
            };
            if partial_frames {
                // A 16 MiB frame announced, 4 KiB of it sent.
                let mut bytes = (16u64 << 20).to_be_bytes().to_vec();
                bytes.extend(std::iter::repeat_n(0u8, 4096));
                let _ = stream.write_all(&bytes);
            }
            held.push(stream);
        }
        self.answers_quickly("while flooded");
        self.work();
        drop(held);
    }

    fn read_only(&self, on: bool) {
        let Some(cluster) = &self.cluster else {
            return;
        };
        if on {
            cluster.admin(&[
                "ALTER SYSTEM SET default_transaction_read_only = on",
                "SELECT pg_reload_conf()",
            ]);
        } else {
            cluster.admin(&[
                "SET default_transaction_read_only = off",
                "ALTER SYSTEM RESET default_transaction_read_only",
                "SELECT pg_reload_conf()",
            ]);
        }
    }

    /// Everything back: the database up and writable, the daemon running,
    /// no QEMU frozen; then the daemon has written its backlog.
    pub(super) fn recover(&mut self) {
        for pid in self.qemus() {
            signal(pid, Signal::SIGCONT);
        }
        if !self.daemon.is_running() {
            self.daemon.restart();
        }
        let mut status = serde_json::Value::Null;
        let drained = wait_until(Duration::from_secs(60), || {
            let answer = self.daemon.crv(&["--json", "status"]);
            if !answer.output.status.success() {
                return false;
            }
            status = answer.json();
            status["persistence_backlog"] == 0 && status["database_error"].is_null()
        });
        if !drained {
            self.violation(format!("the backlog was never written: {status}"));
        }
    }

    /// `crv ping` answers within a second.
    pub(super) fn answers_quickly(&mut self, when: &str) {
        let asked = Instant::now();
        let ping = self.daemon.crv(&["ping"]);
        let took = asked.elapsed();
        let bound = Duration::from_secs(1);
        if !ping.output.status.success() {
            self.violation(format!(
                "crv ping {when}: exit {:?} after {took:?}",
                ping.output.status.code()
            ));
        } else if took > bound {
            // On two cores shared with builds, starting a debug crv alone can
            // take most of a second; the daemon's share is what is over the
            // same binary started without a connection, measured right after.
            let started = Instant::now();
            let version = Command::new(binary("crv")).arg("--version").output();
            let baseline = started.elapsed();
            let line = format!("crv ping {when} took {took:?}; crv --version {baseline:?}");
            if version.is_ok() && took.saturating_sub(baseline) <= bound {
                self.report.starved_pings.push(line);
            } else {
                self.violation(line);
            }
        }
    }

    fn some_qemu(&mut self) -> Option<u32> {
        let qemus = self.qemus();
        (!qemus.is_empty()).then(|| qemus[self.rng.usize(..qemus.len())])
    }
}
