//! What `crv status` shows of the persistence actor: how many state changes
//! wait for the database, and why the database is not taking them.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

#[derive(Clone, Default)]
pub struct PersistenceStatus {
    backlog: Arc<AtomicU64>,
    problem: Arc<Mutex<Option<String>>>,
}

impl PersistenceStatus {
    /// State changes waiting to be written.
    pub fn backlog(&self) -> u64 {
        self.backlog.load(Ordering::Relaxed)
    }

    /// "database refuses writes: …" or "database unreachable: …" while the
    /// database does not take writes.
    pub fn database_error(&self) -> Option<String> {
        // Only whole values are stored, so a poisoned lock still holds one.
        self.problem
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub(super) fn set(&self, backlog: u64, problem: Option<String>) {
        self.backlog.store(backlog, Ordering::Relaxed);
        *self.problem.lock().unwrap_or_else(PoisonError::into_inner) = problem;
    }
}
