//! The memory a daemon lets half-received frames hold, shared by all its
//! connections.
//!
//! A frame's length arrives first and the decoder reserves a buffer of that
//! size; without a shared cap, fifty clients each announcing 16 MiB and
//! sending half of it pinned 800 MiB of daemon memory. Each announced length
//! is charged here before its buffer is reserved, and given back when the
//! frame is complete or its connection ends.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Frames up to this long are not charged: every request crv sends is
/// smaller, so clients that exhaust the budget with huge frames cannot lock
/// out ordinary requests, and the memory such frames hold is bounded by the
/// connection limit times this (64 MiB at the default 1024 connections).
pub const UNCHARGED_FRAME_LEN: u64 = 64 * 1024;

/// A pool of bytes that frames being received draw from.
#[derive(Debug, Clone)]
pub struct FrameBudget {
    inner: Arc<Pool>,
}

#[derive(Debug)]
struct Pool {
    total: u64,
    available: AtomicU64,
}

/// A frame's share of the budget, returned when dropped.
#[derive(Debug)]
pub struct Reservation {
    pool: Arc<Pool>,
    len: u64,
}

/// A frame whose announced length the budget cannot cover right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OverBudget {
    pub len: u64,
    pub available: u64,
    pub total: u64,
}

impl FrameBudget {
    pub fn new(total: u64) -> FrameBudget {
        FrameBudget {
            inner: Arc::new(Pool {
                total,
                available: AtomicU64::new(total),
            }),
        }
    }

    pub fn total(&self) -> u64 {
        self.inner.total
    }

    /// What is left for new frames.
    pub fn available(&self) -> u64 {
        self.inner.available.load(Ordering::Acquire)
    }

    /// Takes `len` bytes, or refuses without taking anything.
    pub fn reserve(&self, len: u64) -> Result<Reservation, OverBudget> {
        self.inner
            .available
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |available| {
                available.checked_sub(len)
            })
            .map(|_| Reservation {
                pool: self.inner.clone(),
                len,
            })
            .map_err(|available| OverBudget {
                len,
                available,
                total: self.inner.total,
            })
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.pool.available.fetch_add(self.len, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservations_are_refused_past_the_total_and_given_back_when_dropped() {
        let budget = FrameBudget::new(100);
        let first = budget.reserve(60).unwrap();
        assert_eq!(budget.available(), 40);
        assert_eq!(
            budget.reserve(41).unwrap_err(),
            OverBudget {
                len: 41,
                available: 40,
                total: 100
            }
        );
        let second = budget.reserve(40).unwrap();
        assert_eq!(budget.available(), 0);
        drop(first);
        drop(second);
        assert_eq!(budget.available(), 100);
    }
}
