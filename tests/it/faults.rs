//! The fault-injection run (issue 12), CI-sized: rounds of work with one
//! fault each, on both databases, and not one invariant may break. The
//! budget per database is CORVUS_CHAOS_SECONDS (default 60); `scripts/chaos
//! --minutes N` makes it long. The seed (CORVUS_CHAOS_SEED, else random) is
//! in the report, so a failing run can be replayed.

use harness::Db;
use harness::chaos::Chaos;
use std::time::Duration;

fn budget() -> Duration {
    let seconds = std::env::var("CORVUS_CHAOS_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    Duration::from_secs(seconds)
}

fn seed() -> u64 {
    std::env::var("CORVUS_CHAOS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| fastrand::u64(..))
}

fn chaos(db: Db) {
    let Some(chaos) = Chaos::new(db, seed()) else {
        return;
    };
    let report = chaos.run(budget());
    // Printed for the CI log and scripts/chaos, failing or not.
    eprintln!("{report}");
    if let Ok(path) = std::env::var("CORVUS_CHAOS_REPORT") {
        let _ = std::fs::write(format!("{path}.{}", report.db), report.to_string());
    }
    assert!(report.rounds > 0, "no round ran");
    assert!(report.violations.is_empty(), "{report}");
}

on_both_databases!(chaos);
