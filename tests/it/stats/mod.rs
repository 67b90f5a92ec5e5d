//! What VMs consume (issue 20), end to end: `crv vm stats`, `crv top` and
//! the `/metrics` endpoint against real QEMUs, the busy test guest under
//! TCG and firmware VMs. The helpers every scenario shares are here.

mod endpoint;
mod firmware;
mod guest;
mod net;
mod terminal;

use harness::access::free_port;
use harness::postgres::wait_until;
use harness::{Daemon, DaemonOptions, Db};
use serde_json::Value;
use std::time::Duration;

pub const QUICK: Duration = Duration::from_secs(15);
/// TCG on a loaded CI machine: generous, as the guest's own waits are.
pub const SLOW: Duration = Duration::from_secs(60);

/// A daemon reading VMs every second, serving `/metrics` on a free port.
pub fn daemon_with_metrics(mut options: DaemonOptions) -> (Daemon, u16) {
    let port = free_port();
    options.extra_args.extend([
        "--stats-interval".to_owned(),
        "1".to_owned(),
        "--metrics".to_owned(),
        port.to_string(),
    ]);
    let daemon = Daemon::start_with(Db::Sqlite, options).expect("SQLite is always there");
    (daemon, port)
}

pub fn stats(daemon: &Daemon, vm: &str) -> Value {
    daemon.crv(&["--json", "vm", "stats", vm]).json()
}

pub fn top(daemon: &Daemon) -> Vec<Value> {
    let all = daemon.crv(&["--json", "top", "--once"]).json();
    all.as_array().expect("top --json is an array").clone()
}

pub fn cpu_seconds(stats: &Value) -> f64 {
    stats["cpu"]["seconds"].as_f64().unwrap_or(0.0)
}

/// The stats of the drive with this id.
pub fn drive(stats: &Value, id: i64) -> Option<&Value> {
    stats["block"]["drives"]
        .as_array()?
        .iter()
        .find(|d| d["drive_id"] == id)
}

/// A raw image of `mib` MiB in the daemon's directory, attached as virtio.
pub fn add_disk(daemon: &Daemon, vm: &str, mib: u64) -> i64 {
    let path = daemon.dir.path().join(format!("{vm}.raw"));
    std::fs::File::create(&path)
        .and_then(|file| file.set_len(mib << 20))
        .expect("a disk image");
    let added = daemon
        .crv(&[
            "--json",
            "vm",
            "drive",
            "add",
            vm,
            "--file",
            path.to_str().expect("a UTF-8 path"),
            "--interface",
            "virtio",
        ])
        .json();
    added["drives"][0]["id"].as_i64().expect("the drive's id")
}

/// Waits until `check` holds for the VM's stats; returns the last ones.
#[track_caller]
pub fn wait_for_stats(
    daemon: &Daemon,
    vm: &str,
    what: &str,
    check: impl Fn(&Value) -> bool,
) -> Value {
    let mut last = Value::Null;
    let seen = wait_until(SLOW, || {
        last = stats(daemon, vm);
        check(&last)
    });
    assert!(
        seen,
        "{what}: not within {SLOW:?}; last stats: {last:#}\n{}",
        daemon.log()
    );
    last
}
