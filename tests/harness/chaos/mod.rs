//! The fault-injection run of issue 12: rounds of ordinary work on a real
//! daemon, each with one fault injected at a random moment (the database
//! full, read-only or gone; the daemon killed, stopped or hung up on; QEMU
//! killed or frozen; virtiofsd killed; descriptors and frame buffers
//! flooded), then recovery, then the invariants checked:
//!
//! - every acknowledged change is in the database;
//! - every QEMU of this daemon is the one its row records, and every row
//!   that records a QEMU has it (none orphaned, none doubled);
//! - no child of the daemon is a zombie;
//! - no event sequence number repeats;
//! - `crv` answers within a second.
//!
//! `tests/it/faults.rs` runs a CI-sized budget; `scripts/chaos --minutes N`
//! a long one. The seed is printed so that a failing run can be replayed.

mod checks;
mod faults;
mod workload;

use crate::daemon::{Daemon, DaemonOptions, Db};
use crate::postgres::Cluster;
use crate::tmpfs::Tmpfs;
use faults::Fault;
use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, Instant};
use workload::Ledger;

/// What a run did and found.
#[derive(Debug, Default)]
pub struct Report {
    pub db: String,
    pub seed: u64,
    pub rounds: u32,
    /// Faults injected, by kind.
    pub faults: BTreeMap<&'static str, u32>,
    /// Operations run, and how many of them were acknowledged.
    pub operations: u32,
    pub acknowledged: u32,
    /// Invariant checks made (each round checks every invariant).
    pub checks: u32,
    pub violations: Vec<String>,
    /// Pings over the 1 s bound while the machine itself was as slow: the
    /// same crv binary without a connection took nearly as long.
    pub starved_pings: Vec<String>,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let injected: u32 = self.faults.values().sum();
        writeln!(
            f,
            "chaos on {} (seed {}): {} rounds, {} faults injected, {} operations ({} acknowledged), {} invariant checks, {} violations",
            self.db,
            self.seed,
            self.rounds,
            injected,
            self.operations,
            self.acknowledged,
            self.checks,
            self.violations.len()
        )?;
        for (fault, count) in &self.faults {
            writeln!(f, "  {fault}: {count}")?;
        }
        for violation in &self.violations {
            writeln!(f, "  VIOLATION: {violation}")?;
        }
        for starved in &self.starved_pings {
            writeln!(f, "  slow machine, not a violation: {starved}")?;
        }
        Ok(())
    }
}

/// One chaos run against one database.
pub struct Chaos {
    daemon: Daemon,
    db: Db,
    /// The daemon's own PostgreSQL cluster (stopped and made read-only).
    cluster: Option<Cluster>,
    /// The filesystem the SQLite database lives on (filled up).
    disk: Option<Tmpfs>,
    rng: fastrand::Rng,
    ledger: Ledger,
    report: Report,
}

impl Chaos {
    /// A daemon on a database of its own, or `None` when a prerequisite
    /// (root for the tmpfs, PostgreSQL) is missing outside CI.
    pub fn new(db: Db, seed: u64) -> Option<Chaos> {
        let dir = tempfile::Builder::new()
            .prefix("crv-chaos")
            .tempdir()
            .expect("temp dir");
        let (url, cluster, disk) = match db {
            Db::Sqlite => {
                let disk = Tmpfs::mount("16m")?;
                let url = format!("sqlite://{}", disk.path().join("corvus.db").display());
                (url, None, Some(disk))
            }
            Db::Postgres => {
                let cluster = Cluster::start()?;
                (cluster.create_database(), Some(cluster), None)
            }
        };
        let daemon = Daemon::start_on(dir, url, DaemonOptions::default());
        let mut chaos = Chaos {
            daemon,
            db,
            cluster,
            disk,
            rng: fastrand::Rng::with_seed(seed),
            ledger: Ledger::default(),
            report: Report {
                db: format!("{db:?}").to_lowercase(),
                seed,
                ..Report::default()
            },
        };
        chaos.populate();
        Some(chaos)
    }

    /// Rounds until the budget is spent; every round ends with the checks.
    pub fn run(mut self, budget: Duration) -> Report {
        let until = Instant::now() + budget;
        while Instant::now() < until {
            let fault = Fault::pick(&mut self.rng, self.db);
            *self.report.faults.entry(fault.name()).or_default() += 1;
            self.report.rounds += 1;
            self.inject(fault);
            self.recover();
            self.check();
            if self.report.violations.len() > 20 {
                break;
            }
        }
        self.report
    }

    fn violation(&mut self, what: String) {
        let round = self.report.rounds;
        self.report
            .violations
            .push(format!("round {round}: {what}"));
    }
}

/// A deadline for one `crv` command under chaos: long enough for a start
/// waiting on a database that just came back.
pub(crate) const OPERATION_DEADLINE: Duration = Duration::from_secs(60);
