//! Throwaway PostgreSQL clusters from the system's server binaries, on a
//! Unix socket in a temporary directory. `CORVUS_TEST_DATABASE_URL` points
//! the tests at an existing server instead.
//!
//! A watchdog process removes a cluster when the test process is gone,
//! however it ended, so no server outlives its tests.

use crate::prereq::{is_root, require};
use sea_orm::{ConnectionTrait, Database};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

const PG_BIN: &str = "/usr/lib/postgresql/15/bin";

pub struct Cluster {
    dir: PathBuf,
    /// A server URL without a database name, or the external one.
    base_url: String,
    external: bool,
    /// Outlives this process on purpose: it removes the cluster afterwards.
    _watchdog: Option<std::process::Child>,
}

static SHARED: OnceLock<Option<Cluster>> = OnceLock::new();
static NEXT_DB: AtomicU32 = AtomicU32::new(1);

fn pg_bin(tool: &str) -> PathBuf {
    Path::new(PG_BIN).join(tool)
}

/// Runs a PostgreSQL tool as the `postgres` user when we are root, since
/// the server refuses to run as root.
fn as_postgres(program: &Path) -> Command {
    if is_root() {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(program);
        command
    } else {
        Command::new(program)
    }
}

fn run(mut command: Command, what: &str) {
    let output = command
        .output()
        .unwrap_or_else(|err| panic!("{what}: {err}"));
    assert!(
        output.status.success(),
        "{what} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

impl Cluster {
    /// The cluster shared by every test of this process (created on first
    /// use), or `None` when PostgreSQL is not installed outside CI.
    pub fn shared() -> Option<&'static Cluster> {
        SHARED
            .get_or_init(|| {
                if let Ok(url) = std::env::var("CORVUS_TEST_DATABASE_URL") {
                    return Some(Cluster {
                        dir: PathBuf::new(),
                        base_url: url,
                        external: true,
                        _watchdog: None,
                    });
                }
                Cluster::start()
            })
            .as_ref()
    }

    /// A new cluster of the caller's own, e.g. to stop it under a daemon.
    pub fn start() -> Option<Cluster> {
        if !require(
            pg_bin("postgres").exists(),
            "PostgreSQL 15 server binaries in /usr/lib/postgresql/15/bin (apt-get install postgresql)",
        ) {
            return None;
        }
        let dir = tempfile::Builder::new()
            .prefix("corvus-pg-")
            .tempdir()
            .expect("temp dir")
            .keep();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).expect("chmod");
        if is_root() {
            run(chown_to_postgres(&dir), "chown the cluster directory");
        }
        let mut cluster = Cluster {
            base_url: format!("postgresql://postgres@localhost/?host={}", dir.display()),
            dir,
            external: false,
            _watchdog: None,
        };
        let mut initdb = as_postgres(&pg_bin("initdb"));
        initdb.arg("-D").arg(cluster.data()).args([
            "-A",
            "trust",
            "-U",
            "postgres",
            "--no-sync",
            "-E",
            "UTF8",
        ]);
        run(initdb, "initdb");
        cluster._watchdog = Some(cluster.spawn_watchdog());
        cluster.start_server();
        Some(cluster)
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    fn spawn_watchdog(&self) -> std::process::Child {
        let script = format!(
            "while [ -d /proc/{owner} ]; do sleep 0.5; done; {pg_ctl} -D {data} stop -m immediate >/dev/null 2>&1; rm -rf {dir}",
            owner = std::process::id(),
            pg_ctl = pg_bin("pg_ctl").display(),
            data = self.data().display(),
            dir = self.dir.display(),
        );
        let mut watchdog = as_postgres(Path::new("/bin/sh"));
        watchdog
            .arg("-c")
            .arg(script)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        watchdog.spawn().expect("spawn the cluster watchdog")
    }

    /// (Re)starts the server and waits until it accepts connections.
    pub fn start_server(&self) {
        assert!(!self.external, "cannot start an external server");
        let options = format!(
            "-k {} -c listen_addresses='' -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300",
            self.dir.display()
        );
        let mut pg_ctl = as_postgres(&pg_bin("pg_ctl"));
        pg_ctl
            .arg("-D")
            .arg(self.data())
            .args(["-w", "-t", "30", "-l"])
            .arg(self.dir.join("server.log"))
            .args(["-o", &options, "start"]);
        run(pg_ctl, "pg_ctl start");
    }

    /// Stops the server (fast shutdown: clients are disconnected).
    pub fn stop_server(&self) {
        assert!(!self.external, "cannot stop an external server");
        let mut pg_ctl = as_postgres(&pg_bin("pg_ctl"));
        pg_ctl
            .arg("-D")
            .arg(self.data())
            .args(["-w", "-m", "fast", "stop"]);
        run(pg_ctl, "pg_ctl stop");
    }

    /// A fresh, empty database on this cluster.
    pub fn create_database(&self) -> String {
        let name = format!(
            "corvus_test_{}_{}",
            std::process::id(),
            NEXT_DB.fetch_add(1, Ordering::Relaxed)
        );
        let base_url = self.base_url.clone();
        let statement = format!("CREATE DATABASE {name}");
        // Its own thread and runtime, so that async tests may call it too.
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async {
                let admin = Database::connect(base_url)
                    .await
                    .expect("connect to the PostgreSQL cluster");
                admin
                    .execute_unprepared(&statement)
                    .await
                    .expect("create database");
                admin.close().await.ok();
            });
        })
        .join()
        .expect("create database thread");
        self.url_of(&name)
    }

    /// Runs statements one after the other on one connection to the
    /// `postgres` database (e.g. `ALTER SYSTEM`, which no transaction may hold).
    pub fn admin(&self, statements: &[&str]) {
        let url = self.url_of("postgres");
        let statements: Vec<String> = statements.iter().map(|s| s.to_string()).collect();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async {
                let admin = Database::connect(url)
                    .await
                    .expect("connect to the PostgreSQL cluster");
                for statement in &statements {
                    admin
                        .execute_unprepared(statement)
                        .await
                        .unwrap_or_else(|err| panic!("{statement}: {err}"));
                }
                admin.close().await.ok();
            });
        })
        .join()
        .expect("admin thread");
    }

    fn url_of(&self, database: &str) -> String {
        match self.base_url.split_once('?') {
            Some((server, query)) => format!(
                "{}{database}?{query}",
                server.trim_end_matches('/').to_owned() + "/"
            ),
            None => format!("{}/{database}", self.base_url.trim_end_matches('/')),
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if self.external {
            return;
        }
        let mut pg_ctl = as_postgres(&pg_bin("pg_ctl"));
        pg_ctl
            .arg("-D")
            .arg(self.data())
            .args(["-m", "immediate", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let _ = pg_ctl.status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn chown_to_postgres(dir: &Path) -> Command {
    let mut command = Command::new("chown");
    command.arg("-R").arg("postgres:postgres").arg(dir);
    command
}

/// Waits until `check` holds or the deadline passes.
pub fn wait_until(deadline: Duration, mut check: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + deadline;
    while Instant::now() < end {
        if check() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    check()
}
