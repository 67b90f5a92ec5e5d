//! The `--quick` benchmark runs from end to end in every test run (and so
//! in CI), so that the benchmark never rots. It needs the workspace's
//! binaries built first (`scripts/test` does that). It checks that every figure was measured, not that targets are met
//! (a debug build on a busy machine says nothing about them).

use std::path::Path;
use std::process::Command;

#[test]
fn the_quick_benchmark_measures_every_figure() {
    let bench = Path::new(env!("CARGO_BIN_EXE_corvus-bench"));
    let bin_dir = bench
        .parent()
        .expect("the benchmark lives in target/<profile>");
    for binary in ["corvus", "crv"] {
        assert!(
            bin_dir.join(binary).is_file(),
            "{binary} is missing from {}: run `cargo build --workspace` first",
            bin_dir.display()
        );
    }
    let out = tempfile::tempdir().expect("temp dir");
    let status = Command::new(bench)
        .arg("--quick")
        .arg("--out")
        .arg(out.path())
        .status()
        .expect("run corvus-bench");
    assert!(status.success(), "corvus-bench --quick failed: {status}");

    let json = std::fs::read_to_string(out.path().join("quick.json")).expect("quick.json");
    let report: serde_json::Value = serde_json::from_str(&json).expect("valid JSON");
    let rows = report["rows"].as_array().expect("rows");
    for figure in (1..=9).chain([13]) {
        assert!(
            rows.iter()
                .any(|row| row["figure"] == figure && !row["corvus"].is_null()),
            "figure {figure} has no measurement in {json}"
        );
    }
    let markdown = std::fs::read_to_string(out.path().join("quick.md")).expect("quick.md");
    assert!(markdown.contains("| # | Figure | Corvus |"), "{markdown}");
}
