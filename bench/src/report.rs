//! The results: one row per figure with its baseline, ratio, target and
//! verdict, rendered as a Markdown table and as JSON.

use crate::machine::Machine;
use crate::stats::Stats;
use serde::Serialize;
use std::fmt::Write as _;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Unit {
    Ms,
    Us,
    Mib,
    /// Seconds: boots of a whole guest (figure 12).
    S,
}

impl Unit {
    fn label(self) -> &'static str {
        match self {
            Unit::Ms => "ms",
            Unit::Us => "µs",
            Unit::Mib => "MiB",
            Unit::S => "s",
        }
    }
}

/// What a figure must reach; limits are in the row's unit. A bare "≤ X" in
/// the issue applies to the median.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Target {
    /// Corvus median ≤ `max` × baseline median.
    Ratio { max: f64 },
    /// Corvus median − baseline median ≤ `max`.
    Overhead { max: f64 },
    /// Corvus median ≤ `max`.
    Median { max: f64 },
    /// Corvus p50 ≤ `p50` and p99 ≤ `p99`.
    P50P99 { p50: f64, p99: f64 },
    /// Corvus p99 ≤ `max`.
    P99 { max: f64 },
    /// Reported for insight; the issue sets no target.
    None,
}

impl Target {
    fn describe(self, unit: Unit) -> String {
        let u = unit.label();
        match self {
            Target::Ratio { max } => format!("≤ {max}×"),
            Target::Overhead { max } => format!("≤ +{} {u}", num(max)),
            Target::Median { max } => format!("≤ {} {u}", num(max)),
            Target::P50P99 { p50, p99 } => {
                format!("p50 ≤ {} {u}, p99 ≤ {} {u}", num(p50), num(p99))
            }
            Target::P99 { max } => format!("p99 ≤ {} {u}", num(max)),
            Target::None => "—".to_owned(),
        }
    }

    fn shows_p99(self) -> bool {
        matches!(self, Target::P50P99 { .. } | Target::P99 { .. })
    }

    fn met(self, corvus: &Stats, baseline: Option<&Stats>) -> Option<bool> {
        match self {
            Target::Ratio { max } => baseline.map(|b| corvus.median <= max * b.median),
            Target::Overhead { max } => baseline.map(|b| corvus.median - b.median <= max),
            Target::Median { max } => Some(corvus.median <= max),
            Target::P50P99 { p50, p99 } => Some(corvus.median <= p50 && corvus.p99 <= p99),
            Target::P99 { max } => Some(corvus.p99 <= max),
            Target::None => None,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Baseline {
    pub label: String,
    pub stats: Stats,
}

#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub figure: u8,
    pub name: String,
    pub unit: Unit,
    /// `None` when no sample could be taken (see `note`).
    pub corvus: Option<Stats>,
    pub baseline: Option<Baseline>,
    pub target: Target,
    /// Corvus median / baseline median.
    pub ratio: Option<f64>,
    pub met: Option<bool>,
    pub note: Option<String>,
}

impl Row {
    pub fn new(
        figure: u8,
        name: impl Into<String>,
        unit: Unit,
        corvus: &[f64],
        baseline: Option<(&str, &[f64])>,
        target: Target,
    ) -> Row {
        let corvus = Stats::of(corvus);
        let baseline = baseline.and_then(|(label, samples)| {
            Stats::of(samples).map(|stats| Baseline {
                label: label.to_owned(),
                stats,
            })
        });
        let ratio = match (&corvus, &baseline) {
            (Some(c), Some(b)) if b.stats.median > 0.0 => Some(c.median / b.stats.median),
            _ => None,
        };
        let met = corvus
            .as_ref()
            .and_then(|c| target.met(c, baseline.as_ref().map(|b| &b.stats)));
        Row {
            figure,
            name: name.into(),
            unit,
            corvus,
            baseline,
            target,
            ratio,
            met,
            note: None,
        }
    }

    pub fn with_note(mut self, note: impl Into<String>) -> Row {
        self.note = Some(note.into());
        self
    }

    fn cell(&self, stats: &Stats) -> String {
        let u = self.unit.label();
        if self.target.shows_p99() {
            format!(
                "{} · {} · p99 {} · max {} {u}",
                num(stats.median),
                num(stats.p90),
                num(stats.p99),
                num(stats.max)
            )
        } else {
            format!(
                "{} · {} · {} {u}",
                num(stats.median),
                num(stats.p90),
                num(stats.max)
            )
        }
    }

    fn ratio_cell(&self) -> String {
        let Some(ratio) = self.ratio else {
            return "—".to_owned();
        };
        match (&self.target, &self.corvus, &self.baseline) {
            (Target::Overhead { .. }, Some(c), Some(b)) => format!(
                "{ratio:.2}× (+{} {})",
                num(c.median - b.stats.median),
                self.unit.label()
            ),
            _ if ratio < 0.1 => format!("{ratio:.3}×"),
            _ => format!("{ratio:.2}×"),
        }
    }
}

/// A fact found on the way that explains a figure (CPU per start, payload sizes…).
#[derive(Debug, Clone, Serialize)]
pub struct Diagnostic {
    pub key: String,
    pub text: String,
    pub value: serde_json::Value,
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub mode: &'static str,
    pub started_at: String,
    pub duration_secs: f64,
    pub machine: Machine,
    pub rows: Vec<Row>,
    pub diagnostics: Vec<Diagnostic>,
}

impl Report {
    pub fn diagnose(&mut self, key: &str, value: serde_json::Value, text: impl Into<String>) {
        self.diagnostics.push(Diagnostic {
            key: key.to_owned(),
            text: text.into(),
            value,
        });
    }

    pub fn missed(&self) -> Vec<&Row> {
        self.rows.iter().filter(|r| r.met == Some(false)).collect()
    }

    pub fn markdown(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "Corvus benchmark ({} run, {}, {:.0} s)\n",
            self.mode, self.started_at, self.duration_secs
        );
        let _ = writeln!(out, "Machine: {}\n", self.machine.summary());
        out.push_str(
            "Cells are median · p90 · max over the repeated runs (p99 where the target names it).\n\n",
        );
        out.push_str("| # | Figure | Corvus | Baseline (same run) | Ratio | Target | Met? |\n");
        out.push_str("|---|---|---|---|---|---|---|\n");
        for row in &self.rows {
            let name = match &row.baseline {
                Some(b) => format!("{} — vs {}", row.name, b.label),
                None => row.name.clone(),
            };
            let corvus = row
                .corvus
                .as_ref()
                .map_or_else(|| "not measured".to_owned(), |s| row.cell(s));
            let baseline = row
                .baseline
                .as_ref()
                .map_or_else(|| "—".to_owned(), |b| row.cell(&b.stats));
            let met = match row.met {
                Some(true) => "yes",
                Some(false) => "**no**",
                None => "—",
            };
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} |",
                row.figure,
                name,
                corvus,
                baseline,
                row.ratio_cell(),
                row.target.describe(row.unit),
                met
            );
        }
        let notes: Vec<_> = self
            .rows
            .iter()
            .filter_map(|r| r.note.as_ref().map(|n| (r.figure, &r.name, n)))
            .collect();
        if !notes.is_empty() {
            out.push_str("\nNotes:\n");
            for (figure, name, note) in notes {
                let _ = writeln!(out, "- ({figure}) {name}: {note}");
            }
        }
        if !self.diagnostics.is_empty() {
            out.push_str("\nDiagnostics:\n");
            for d in &self.diagnostics {
                let _ = writeln!(out, "- {}: {}", d.key, d.text);
            }
        }
        out
    }
}

/// Three significant-ish digits: 0.123, 1.23, 12.3, 123.
pub fn num(value: f64) -> String {
    let magnitude = value.abs();
    if magnitude >= 100.0 {
        format!("{value:.0}")
    } else if magnitude >= 10.0 {
        format!("{value:.1}")
    } else if magnitude >= 1.0 {
        format!("{value:.2}")
    } else {
        format!("{value:.3}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ratio_target_compares_medians() {
        let row = Row::new(
            1,
            "start",
            Unit::Ms,
            &[60.0, 62.0, 64.0],
            Some(("bare", &[50.0, 52.0, 54.0])),
            Target::Ratio { max: 1.2 },
        );
        assert_eq!(row.ratio, Some(62.0 / 52.0));
        assert_eq!(row.met, Some(true));
        let slow = Row::new(
            1,
            "start",
            Unit::Ms,
            &[70.0],
            Some(("bare", &[50.0])),
            Target::Ratio { max: 1.2 },
        );
        assert_eq!(slow.met, Some(false));
    }

    #[test]
    fn an_overhead_target_is_a_difference() {
        let row = Row::new(
            2,
            "reset",
            Unit::Ms,
            &[30.0],
            Some(("kill", &[10.0])),
            Target::Overhead { max: 25.0 },
        );
        assert_eq!(row.met, Some(true));
        assert!(
            row.ratio_cell().contains("+20.0 ms"),
            "{}",
            row.ratio_cell()
        );
    }

    #[test]
    fn percentile_targets_use_their_percentiles() {
        let mut samples = vec![10.0; 99];
        samples.push(500.0);
        let row = Row::new(
            4,
            "ping",
            Unit::Us,
            &samples,
            None,
            Target::P50P99 {
                p50: 50.0,
                p99: 200.0,
            },
        );
        // One slow sample in a hundred is above p99 by nearest rank.
        assert_eq!(row.met, Some(true));
        samples.push(500.0);
        let row = Row::new(
            6,
            "events",
            Unit::Ms,
            &samples,
            None,
            Target::P99 { max: 200.0 },
        );
        assert_eq!(row.met, Some(false));
    }

    #[test]
    fn a_row_without_samples_has_no_verdict() {
        let row = Row::new(5, "list", Unit::Ms, &[], None, Target::Median { max: 10.0 });
        assert_eq!((row.corvus, row.met), (None, None));
    }

    #[test]
    fn numbers_keep_about_three_digits() {
        assert_eq!(num(0.01234), "0.012");
        assert_eq!(num(1.234), "1.23");
        assert_eq!(num(12.34), "12.3");
        assert_eq!(num(1234.4), "1234");
    }
}
