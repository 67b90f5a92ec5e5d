//! A real `corvus` process on a temporary socket, runtime directory and
//! database, and `crv` runs against it.

use crate::postgres::{Cluster, wait_until};
use crate::prereq::binary;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Db {
    Sqlite,
    Postgres,
}

#[derive(Debug, Clone, Default)]
pub struct DaemonOptions {
    /// `--accel`; `None` leaves the daemon's default (auto).
    pub accel: Option<String>,
    /// Also listen on plain TCP on this port (`--tcp --insecure-tcp`, loopback).
    pub tcp_port: Option<u16>,
    /// Serve mutual TLS on this `HOST:PORT` (`--listen`); the harness runs
    /// `corvus tls init` first, with `tls_sans` as `--san`.
    pub listen: Option<String>,
    pub tls_sans: Vec<String>,
    pub extra_args: Vec<String>,
    pub env: Vec<(String, String)>,
    /// `RLIMIT_NOFILE` (soft, hard) to start the daemon with.
    pub nofile: Option<(u64, u64)>,
    /// The network namespace the daemon runs in (and its networks with it).
    pub netns: Option<std::sync::Arc<crate::netns::Netns>>,
    /// Start the daemon without CAP_NET_ADMIN (dropped from its bounding
    /// set), as a daemon not run as root would be.
    pub without_net_admin: bool,
}

impl DaemonOptions {
    /// TCG: the nested KVM of the development machines cannot boot the
    /// test guest (DESIGN §5).
    pub fn tcg() -> DaemonOptions {
        DaemonOptions {
            accel: Some("tcg".into()),
            ..DaemonOptions::default()
        }
    }
}

pub struct Daemon {
    pub dir: tempfile::TempDir,
    pub socket: PathBuf,
    pub runtime: PathBuf,
    /// `--config-dir`: the daemon's CA and certificates.
    pub config_dir: PathBuf,
    /// crv's `XDG_CONFIG_HOME`: its remotes.
    pub client_home: PathBuf,
    pub database_url: String,
    pub options: DaemonOptions,
    log: PathBuf,
    child: Option<Child>,
}

impl Daemon {
    /// Runs another corvus on this daemon's database, with its socket,
    /// runtime and data directories under `dir` and `extra` arguments, and
    /// waits (up to 20 s) for it to exit: its exit code (`None` when it was
    /// still running and had to be killed) and its stderr.
    pub fn run_another(&self, dir: &Path, extra: &[&str]) -> (Option<i32>, String) {
        let mut child = Command::new(binary("corvus"))
            .arg("--socket")
            .arg(dir.join("sock/corvus.sock"))
            .arg("--runtime-dir")
            .arg(dir.join("run"))
            .arg("--data-dir")
            .arg(dir.join("data"))
            .arg("--database")
            .arg(&self.database_url)
            .args(extra)
            .env_remove("CORVUS_SOCKET")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run another corvus");
        let mut status = None;
        wait_until(Duration::from_secs(20), || {
            status = child.try_wait().ok().flatten();
            status.is_some()
        });
        if status.is_none() {
            let _ = child.kill();
        }
        let output = child.wait_with_output().expect("the other corvus's output");
        (
            status.and_then(|s| s.code()),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    }

    /// Starts a daemon on a fresh database, or `None` when the database's
    /// prerequisites are missing outside CI.
    pub fn start(db: Db) -> Option<Daemon> {
        Daemon::start_with(db, DaemonOptions::default())
    }

    pub fn start_with(db: Db, options: DaemonOptions) -> Option<Daemon> {
        let dir = tempfile::Builder::new()
            .prefix("crv")
            .tempdir()
            .expect("temp dir");
        let database_url = match db {
            Db::Sqlite => format!("sqlite://{}", dir.path().join("corvus.db").display()),
            Db::Postgres => Cluster::shared()?.create_database(),
        };
        Some(Daemon::start_on(dir, database_url, options))
    }

    /// Starts a daemon on a given database URL (e.g. a cluster of the test's own).
    pub fn start_on(
        dir: tempfile::TempDir,
        database_url: String,
        options: DaemonOptions,
    ) -> Daemon {
        let mut daemon = Daemon {
            socket: dir.path().join("sock/corvus.sock"),
            runtime: dir.path().join("run"),
            config_dir: dir.path().join("config"),
            client_home: dir.path().join("client"),
            log: dir.path().join("corvus.log"),
            database_url,
            options,
            dir,
            child: None,
        };
        daemon.spawn();
        daemon
    }

    pub fn command(&self) -> Command {
        let mut command = Command::new(binary("corvus"));
        command
            .arg("--socket")
            .arg(&self.socket)
            .arg("--runtime-dir")
            .arg(&self.runtime)
            .arg("--database")
            .arg(&self.database_url)
            // Its own, so that journals of parallel tests never meet (and
            // nothing lands in the real /var/lib/corvus).
            .arg("--data-dir")
            .arg(self.data_dir())
            .arg("--config-dir")
            .arg(&self.config_dir)
            .args(["--log-level", "debug"]);
        if let Some(accel) = &self.options.accel {
            command.args(["--accel", accel]);
        }
        if let Some(port) = self.options.tcp_port {
            command.args(["--tcp", "--insecure-tcp", "--port", &port.to_string()]);
        }
        if let Some(address) = &self.options.listen {
            command.args(["--listen", address]);
        }
        command.args(&self.options.extra_args);
        command.envs(self.options.env.iter().map(|(k, v)| (k, v)));
        command.env_remove("CORVUS_SOCKET");
        if let Some((soft, hard)) = self.options.nofile {
            let limit = libc::rlimit {
                rlim_cur: soft,
                rlim_max: hard,
            };
            // SAFETY: setrlimit is async-signal-safe and touches only the child.
            unsafe {
                std::os::unix::process::CommandExt::pre_exec(&mut command, move || {
                    if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) == 0 {
                        Ok(())
                    } else {
                        Err(std::io::Error::last_os_error())
                    }
                });
            }
        }
        if self.options.without_net_admin {
            // SAFETY: prctl is async-signal-safe and changes only the child.
            unsafe {
                std::os::unix::process::CommandExt::pre_exec(&mut command, || {
                    // The bounding set only limits what exec grants, so
                    // joining the namespace below still works.
                    if libc::prctl(libc::PR_CAPBSET_DROP, 12 /* CAP_NET_ADMIN */, 0, 0, 0) == 0 {
                        Ok(())
                    } else {
                        Err(std::io::Error::last_os_error())
                    }
                });
            }
        }
        if let Some(netns) = &self.options.netns {
            let namespace = std::fs::File::open(netns.path()).expect("open the netns");
            // SAFETY: setns is async-signal-safe and changes only the child.
            unsafe {
                std::os::unix::process::CommandExt::pre_exec(&mut command, move || {
                    use std::os::fd::AsRawFd;
                    if libc::setns(namespace.as_raw_fd(), libc::CLONE_NEWNET) == 0 {
                        Ok(())
                    } else {
                        Err(std::io::Error::last_os_error())
                    }
                });
            }
        }
        command
    }

    fn spawn(&mut self) {
        if self.options.listen.is_some() && !self.config_dir.join("server.key").exists() {
            let mut init = vec!["tls", "init"];
            for san in &self.options.tls_sans {
                init.extend(["--san", san]);
            }
            self.corvus(&init).ok();
        }
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("daemon log");
        let child = self
            .command()
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log fd"))
            .stderr(log)
            .spawn()
            .expect("spawn corvus");
        self.child = Some(child);
        let ready = wait_until(Duration::from_secs(30), || {
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                panic!("corvus exited during startup ({status}):\n{}", self.log());
            }
            self.crv(&["ping"]).output.status.success()
        });
        assert!(ready, "corvus did not answer within 30 s:\n{}", self.log());
    }

    /// `--data-dir`: where the daemon keeps its journal, and disks in `disks/`.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Whether the daemon process is still there (it may have exited, or
    /// been killed by a test).
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut().map(Child::try_wait) {
            Some(Ok(None)) => true,
            Some(_) => {
                self.child = None;
                false
            }
            None => false,
        }
    }

    /// `corvus` with this daemon's database and config directory, e.g.
    /// for `tls` commands; no --socket yet.
    pub fn corvus_command(&self) -> Command {
        let mut command = Command::new(binary("corvus"));
        command
            .arg("--database")
            .arg(&self.database_url)
            .arg("--config-dir")
            .arg(&self.config_dir)
            .stdin(Stdio::null());
        command
    }

    /// Runs `corvus ARGS` (e.g. `tls issue`) with this daemon's socket,
    /// database and config directory.
    pub fn corvus(&self, args: &[&str]) -> Crv {
        let output = self
            .corvus_command()
            .arg("--socket")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("run corvus");
        Crv {
            args: args.iter().map(|a| a.to_string()).collect(),
            output,
        }
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Runs `crv` against this daemon.
    pub fn crv(&self, args: &[&str]) -> Crv {
        let output = Command::new(binary("crv"))
            .arg("--socket")
            .arg(&self.socket)
            .env("XDG_CONFIG_HOME", &self.client_home)
            .env_remove("CORVUS_REMOTE")
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run crv");
        Crv {
            args: args.iter().map(|a| a.to_string()).collect(),
            output,
        }
    }

    /// SIGTERM and wait for the exit status.
    pub fn stop(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("daemon running");
        let _ = kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM);
        wait_child(&mut child, Duration::from_secs(30))
            .unwrap_or_else(|| panic!("corvus did not exit after SIGTERM:\n{}", self.log()))
    }

    /// SIGKILL, as a crash would.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Waits for a daemon that is exiting on its own (e.g. after `crv shutdown`).
    pub fn wait_exit(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("daemon running");
        wait_child(&mut child, Duration::from_secs(30))
            .unwrap_or_else(|| panic!("corvus did not exit:\n{}", self.log()))
    }

    /// Starts the daemon again on the same socket, runtime dir and database.
    pub fn restart(&mut self) {
        if self.child.is_some() {
            self.stop();
        }
        self.spawn();
    }
}

fn wait_child(child: &mut Child, deadline: Duration) -> Option<std::process::ExitStatus> {
    let mut status = None;
    wait_until(deadline, || {
        status = child.try_wait().ok().flatten();
        status.is_some()
    });
    status
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill9();
        kill_processes_mentioning(&self.runtime);
    }
}

/// Kills every process whose command line mentions `path`: the QEMUs and
/// virtiofsds a test left behind (they run in their own process groups).
pub fn kill_processes_mentioning(path: &Path) {
    let needle = path.to_string_lossy().into_owned();
    for pid in processes_mentioning(&needle) {
        let _ = kill(Pid::from_raw(pid as i32), Signal::SIGKILL);
    }
}

pub fn processes_mentioning(needle: &str) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| *pid != std::process::id())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|cmdline| String::from_utf8_lossy(&cmdline).contains(needle))
                .unwrap_or(false)
        })
        .collect()
}

/// The outcome of one `crv` run.
pub struct Crv {
    pub args: Vec<String>,
    pub output: Output,
}

impl Crv {
    pub fn code(&self) -> i32 {
        self.output.status.code().unwrap_or(-1)
    }

    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.output.stdout).into_owned()
    }

    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }

    /// Asserts success and returns stdout.
    #[track_caller]
    pub fn ok(&self) -> String {
        assert!(
            self.output.status.success(),
            "crv {:?} failed ({}):\nstdout: {}\nstderr: {}",
            self.args,
            self.code(),
            self.stdout(),
            self.stderr()
        );
        self.stdout()
    }

    /// Asserts the exit status and that stderr mentions `needle`.
    #[track_caller]
    pub fn fails(&self, code: i32, needle: &str) -> String {
        let stderr = self.stderr();
        assert_eq!(
            self.code(),
            code,
            "crv {:?}: stdout: {} stderr: {}",
            self.args,
            self.stdout(),
            stderr
        );
        assert!(
            stderr.to_lowercase().contains(&needle.to_lowercase()),
            "crv {:?}: stderr does not mention {needle:?}: {stderr}",
            self.args
        );
        stderr
    }

    #[track_caller]
    pub fn json(&self) -> serde_json::Value {
        let stdout = self.ok();
        serde_json::from_str(&stdout).unwrap_or_else(|err| {
            panic!("crv {:?} printed invalid JSON ({err}): {stdout}", self.args)
        })
    }
}
