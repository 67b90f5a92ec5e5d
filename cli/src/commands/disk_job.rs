//! `crv disk import | clone`: long jobs. On a terminal a progress bar
//! (bytes, rate, ETA) runs on stderr; piped, only the result is printed.
//! Ctrl+C asks the daemon to cancel, and waits for it to say that nothing
//! was kept.

use super::Ctx;
use super::disk::{expect_disk, report};
use crate::disk_args::{DiskCloneArgs, DiskImportArgs};
use crate::error::CliError;
use corvus_protocol::{DiskFormat, DiskRef, ImportSpec, JobProgress, Request};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;

pub async fn import(ctx: &Ctx, args: DiskImportArgs) -> Result<(), CliError> {
    let source = match args.source.as_str() {
        url if url.starts_with("http://") || url.starts_with("https://") => url.to_owned(),
        path => absolute(path)?,
    };
    let spec = ImportSpec {
        name: args.name,
        source,
        format: args.format.unwrap_or(DiskFormat::Qcow2),
        sha256: args.sha256,
        flatten: args.flatten,
    };
    run(ctx, Request::ImportDisk { spec }, "imported disk").await
}

pub async fn clone(ctx: &Ctx, args: DiskCloneArgs) -> Result<(), CliError> {
    let request = Request::CloneDisk {
        name: args.name,
        source: DiskRef::parse(&args.source),
    };
    run(ctx, request, "cloned into disk").await
}

/// The daemon reads the source, so a relative path is made absolute here,
/// where the user typed it.
fn absolute(path: &str) -> Result<String, CliError> {
    std::path::absolute(path)
        .map(|p| p.to_string_lossy().into_owned())
        .map_err(|err| CliError::Usage(format!("cannot resolve '{path}': {err}")))
}

async fn run(ctx: &Ctx, request: Request, verb: &str) -> Result<(), CliError> {
    let bar = Bar::new();
    let answer = super::job::follow(
        ctx,
        request,
        |progress| bar.update(progress),
        || bar.cancelling(),
    )
    .await;
    bar.finish();
    let disk = expect_disk(answer?)?;
    report(ctx, &disk, verb);
    Ok(())
}

/// The progress bar, or nothing off a terminal.
struct Bar(Option<ProgressBar>, std::cell::RefCell<String>);

impl Bar {
    fn new() -> Bar {
        let terminal = std::io::stdout().is_terminal() && std::io::stderr().is_terminal();
        Bar(terminal.then(ProgressBar::new_spinner), Default::default())
    }

    fn update(&self, progress: &JobProgress) {
        let Some(bar) = &self.0 else { return };
        let mut phase = self.1.borrow_mut();
        if *phase != progress.phase {
            *phase = progress.phase.clone();
            let template = match progress.total {
                Some(_) => "{msg:>10} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} ETA {eta}",
                None => "{spinner} {msg:>10} {bytes} {bytes_per_sec}",
            };
            if let Ok(style) = ProgressStyle::with_template(template) {
                bar.set_style(style.progress_chars("=> "));
            }
            bar.reset();
            bar.set_message(progress.phase.clone());
        }
        if let Some(total) = progress.total {
            bar.set_length(total);
        }
        bar.set_position(progress.done);
    }

    fn cancelling(&self) {
        if let Some(bar) = &self.0 {
            bar.set_message("cancelling");
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.0 {
            bar.finish_and_clear();
        }
    }
}
