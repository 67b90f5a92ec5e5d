//! `crv completions` and `crv man`: generated from the clap definition, so
//! they never drift from the real command line. Neither needs the daemon.

use crate::args::Cli;
use crate::error::CliError;
use clap::CommandFactory;
use clap_complete::Shell;
use std::io::Write;
use std::path::{Path, PathBuf};

pub fn completions(shell: Shell) -> Result<(), CliError> {
    let mut command = Cli::command();
    let mut stdout = std::io::stdout().lock();
    clap_complete::generate(shell, &mut command, "crv", &mut stdout);
    stdout
        .flush()
        .map_err(|err| CliError::Failed(format!("cannot print the completions: {err}")))
}

/// Prints crv(1), or writes every page to `dir` and lists them.
pub fn man(dir: Option<&Path>, json: bool) -> Result<(), CliError> {
    let mut command = Cli::command().disable_help_subcommand(true);
    command.build();
    let Some(dir) = dir else {
        let mut stdout = std::io::stdout().lock();
        return clap_mangen::Man::new(command)
            .render(&mut stdout)
            .and_then(|()| stdout.flush())
            .map_err(|err| CliError::Failed(format!("cannot print the man page: {err}")));
    };
    std::fs::create_dir_all(dir)
        .map_err(|err| CliError::Failed(format!("cannot create {}: {err}", dir.display())))?;
    let mut written = Vec::new();
    write_pages(command, dir, &mut written).map_err(|err| {
        CliError::Failed(format!(
            "cannot write man pages to {}: {err}",
            dir.display()
        ))
    })?;
    if json {
        crate::output::json(&written);
    } else {
        for path in &written {
            println!("{}", path.display());
        }
    }
    Ok(())
}

/// crv.1 first, then each subcommand's page (crv-vm-start.1), depth first.
fn write_pages(
    command: clap::Command,
    dir: &Path,
    written: &mut Vec<PathBuf>,
) -> std::io::Result<()> {
    let subcommands: Vec<_> = command
        .get_subcommands()
        .filter(|sub| !sub.is_hide_set())
        .cloned()
        .collect();
    written.push(clap_mangen::Man::new(command).generate_to(dir)?);
    for sub in subcommands {
        write_pages(sub, dir, written)?;
    }
    Ok(())
}
