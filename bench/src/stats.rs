//! Summaries of repeated measurements.

use serde::Serialize;
use std::time::Duration;

/// Order statistics of one set of samples, in the samples' unit.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Stats {
    pub n: usize,
    pub min: f64,
    pub median: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
    pub mean: f64,
}

impl Stats {
    /// `None` for an empty set: a figure with no sample is reported as missing.
    pub fn of(samples: &[f64]) -> Option<Stats> {
        if samples.is_empty() {
            return None;
        }
        let mut sorted = samples.to_vec();
        sorted.sort_by(f64::total_cmp);
        let n = sorted.len();
        Some(Stats {
            n,
            min: sorted[0],
            median: percentile(&sorted, 50.0),
            p90: percentile(&sorted, 90.0),
            p99: percentile(&sorted, 99.0),
            max: sorted[n - 1],
            mean: sorted.iter().sum::<f64>() / n as f64,
        })
    }
}

/// Nearest-rank percentile of sorted samples: an observed value, never an
/// interpolation, so "p99" is a latency that really happened.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

pub fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e3
}

pub fn us(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e6
}

pub fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let samples: Vec<f64> = (1..=100).map(f64::from).collect();
        let stats = Stats::of(&samples).expect("samples");
        assert_eq!(stats.median, 50.0);
        assert_eq!(stats.p90, 90.0);
        assert_eq!(stats.p99, 99.0);
        assert_eq!(stats.max, 100.0);
        assert_eq!(stats.min, 1.0);
        assert_eq!(stats.mean, 50.5);
    }

    #[test]
    fn one_sample_is_every_percentile() {
        let stats = Stats::of(&[7.0]).expect("one sample");
        assert_eq!((stats.median, stats.p90, stats.max), (7.0, 7.0, 7.0));
        assert!(Stats::of(&[]).is_none());
    }

    #[test]
    fn order_of_samples_does_not_matter() {
        let a = Stats::of(&[3.0, 1.0, 2.0]).expect("samples");
        assert_eq!(a.median, 2.0);
        assert_eq!(a.max, 3.0);
    }
}
