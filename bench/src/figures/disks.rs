//! Figure 9: `crv disk import` of a local raw image into qcow2, as a
//! process, against `qemu-img convert -f raw -O qcow2` of the same file
//! (what a user would run by hand), interleaved. The source mixes data
//! and zeros in 1 MiB runs, as a cloud image does, and stays in the page
//! cache for both. Each imported disk is deleted before the next round.

use super::{Bench, progress, rotated};
use crate::crv::Crv;
use crate::daemon::Daemon;
use crate::report::{Row, Target, Unit};
use crate::stats::ms;
use anyhow::{Context as _, bail};
use serde_json::json;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[derive(Clone, Copy)]
enum Step {
    Import,
    ImportChecked,
    Convert,
}

pub async fn run(bench: &mut Bench) -> anyhow::Result<()> {
    let mib = bench.plan.import_mib;
    let rounds = bench.plan.import_iterations;
    progress(&format!(
        "figure 9: {rounds} × import of a {mib} MiB raw image"
    ));
    let dir = bench.dir("disks");
    let url = format!("sqlite://{}", dir.join("corvus.db").display());
    let (mut daemon, _) = Daemon::start(&bench.bins, &dir, url, &bench.accel).await?;
    let source = dir.join("source.raw");
    write_source(&source, mib)?;
    let digest = sha256(&source)?;
    let crv = Crv::new(&bench.bins.crv, &daemon.socket);
    let source_text = source.to_str().context("a UTF-8 scratch path")?;
    let target = dir.join("baseline.qcow2");
    let (mut plain, mut checked, mut convert) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..rounds {
        for step in rotated(&[Step::Import, Step::ImportChecked, Step::Convert], round) {
            match step {
                Step::Import => {
                    plain.push(ms(crv.time(&["disk", "import", "bench", source_text])?));
                    crv.time(&["disk", "delete", "bench"])?;
                }
                Step::ImportChecked => {
                    let args = ["disk", "import", "bench", source_text, "--sha256", &digest];
                    checked.push(ms(crv.time(&args)?));
                    crv.time(&["disk", "delete", "bench"])?;
                }
                Step::Convert => {
                    convert.push(ms(qemu_img_convert(&source, &target)?));
                    std::fs::remove_file(&target).context("Cannot remove the baseline's output")?;
                }
            }
        }
    }
    daemon.stop().await?;
    let baseline = "`qemu-img convert -f raw -O qcow2` of the same file";
    let median = crate::stats::Stats::of(&plain)
        .map(|s| s.median)
        .unwrap_or(0.0);
    bench.diagnose(
        "import_throughput_mib_s",
        json!(mib as f64 / (median / 1e3)),
        format!(
            "figure 9: `crv disk import` moved {:.0} MiB/s (median; {mib} MiB raw source in the page cache, qcow2 target on the same filesystem)",
            mib as f64 / (median / 1e3)
        ),
    );
    bench.row(Row::new(
        9,
        format!("disk import: `crv disk import` of a {mib} MiB raw file to qcow2"),
        Unit::Ms,
        &plain,
        Some((baseline, &convert)),
        Target::Ratio { max: 1.1 },
    ));
    bench.row(Row::new(
        9,
        format!("disk import with `--sha256` (the source hashed beside the conversion), {mib} MiB"),
        Unit::Ms,
        &checked,
        Some((baseline, &convert)),
        Target::None,
    ));
    Ok(())
}

/// Data and zeros in alternating 1 MiB runs (three of data to one of zeros).
fn write_source(path: &Path, mib: usize) -> anyhow::Result<()> {
    let mut file = std::io::BufWriter::new(
        std::fs::File::create(path).with_context(|| format!("Cannot create {}", path.display()))?,
    );
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut chunk = vec![0u8; 1 << 20];
    for run in 0..mib {
        if run % 4 == 3 {
            chunk.fill(0);
        } else {
            for byte in chunk.iter_mut() {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                *byte = state as u8;
            }
        }
        file.write_all(&chunk)?;
    }
    file.flush()?;
    Ok(())
}

fn sha256(path: &Path) -> anyhow::Result<String> {
    let output = Command::new("sha256sum")
        .arg(path)
        .output()
        .context("Cannot run sha256sum")?;
    let text = String::from_utf8_lossy(&output.stdout);
    text.split_whitespace()
        .next()
        .map(str::to_owned)
        .context("sha256sum printed no digest")
}

fn qemu_img_convert(source: &Path, target: &Path) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let status = Command::new("qemu-img")
        .args(["convert", "-f", "raw", "-O", "qcow2"])
        .arg(source)
        .arg(target)
        .stdin(Stdio::null())
        .status()
        .context("Cannot run qemu-img")?;
    let elapsed = started.elapsed();
    if !status.success() {
        bail!("qemu-img convert failed: {status}");
    }
    Ok(elapsed)
}
