//! `crv remote add | list | remove | default`: the daemons crv reaches over
//! mutual TLS, kept in `remotes.toml` with a copy of their certificates.

use crate::args::RemoteAddArgs;
use crate::error::{CliError, chain};
use crate::output;
use crate::remotes::{self, LOCAL, Remote, Remotes, config_dir, remote_dir, write_private};
use corvus_protocol::tls::{ClientPems, client_config};

/// Remote names: what `corvus tls` allows for client names, and not `local`.
fn check_name(name: &str) -> Result<(), CliError> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    let valid = !name.is_empty()
        && name.len() <= 64
        && name.chars().all(allowed)
        && !name.starts_with(['-', '.']);
    if !valid {
        return Err(CliError::Usage(format!(
            "invalid remote name '{name}': use 1 to 64 ASCII letters, digits, '-', '_' and '.', not starting with '-' or '.'"
        )));
    }
    if name == LOCAL {
        return Err(CliError::Usage(format!(
            "'{LOCAL}' always means the local Unix socket: choose another name"
        )));
    }
    Ok(())
}

pub fn add(args: RemoteAddArgs) -> Result<(), CliError> {
    check_name(&args.name)?;
    remotes::split_address(&args.address)?;
    let dir = config_dir()?;
    let mut known = Remotes::load(&dir)?;
    if known.remotes.contains_key(&args.name) {
        return Err(CliError::Usage(format!(
            "there is already a remote '{0}': remove it first (`crv remote remove {0}`)",
            args.name
        )));
    }
    let read = |path: &std::path::Path| {
        std::fs::read(path)
            .map_err(|err| CliError::Usage(format!("cannot read {}: {err}", path.display())))
    };
    let (ca, certificate, key) = (read(&args.ca)?, read(&args.cert)?, read(&args.key)?);
    client_config(ClientPems {
        ca: &ca,
        certificate: &certificate,
        key: &key,
    })
    .map_err(|err| CliError::Usage(format!("cannot use these files: {}", chain(&err))))?;
    let files = remote_dir(&dir, &args.name);
    write_private(&files.join(remotes::CA), &ca)?;
    write_private(&files.join(remotes::CERTIFICATE), &certificate)?;
    write_private(&files.join(remotes::KEY), &key)?;
    known.remotes.insert(
        args.name.clone(),
        Remote {
            address: args.address.clone(),
        },
    );
    known.save(&dir)?;
    eprintln!(
        "Added remote '{0}' ({1}); use it with `crv --remote {0} …`, or by default after `crv remote default {0}`",
        args.name, args.address
    );
    Ok(())
}

pub fn list(json: bool) -> Result<(), CliError> {
    let known = Remotes::load(&config_dir()?)?;
    let default = known.default.as_deref().unwrap_or(LOCAL);
    if json {
        let rows: Vec<serde_json::Value> = known
            .remotes
            .iter()
            .map(|(name, remote)| {
                serde_json::json!({ "name": name, "address": remote.address, "default": name == default })
            })
            .collect();
        output::json(&rows);
        return Ok(());
    }
    let mark = |name: &str| if name == default { "*" } else { "" };
    println!("  {:<20} ADDRESS", "NAME");
    println!("{:1} {:<20} the Unix socket", mark(LOCAL), LOCAL);
    for (name, remote) in &known.remotes {
        println!(
            "{:1} {:<20} {}",
            mark(name),
            name,
            output::safe(&remote.address)
        );
    }
    Ok(())
}

pub fn remove(name: &str) -> Result<(), CliError> {
    let dir = config_dir()?;
    let mut known = Remotes::load(&dir)?;
    known.get(name)?;
    known.remotes.remove(name);
    if known.default.as_deref() == Some(name) {
        known.default = None;
    }
    known.save(&dir)?;
    let files = remote_dir(&dir, name);
    std::fs::remove_dir_all(&files).or_else(|err| match err.kind() {
        std::io::ErrorKind::NotFound => Ok(()),
        _ => Err(CliError::Failed(format!(
            "removed remote '{name}', but not its files in {}: {err}",
            files.display()
        ))),
    })
}

pub fn default(name: Option<String>, json: bool) -> Result<(), CliError> {
    let dir = config_dir()?;
    let mut known = Remotes::load(&dir)?;
    let Some(name) = name else {
        let current = known.default.as_deref().unwrap_or(LOCAL);
        if json {
            output::json(&serde_json::json!({ "default": current }));
        } else {
            println!("{current}");
        }
        return Ok(());
    };
    if name == LOCAL {
        known.default = None;
    } else {
        known.get(&name)?;
        known.default = Some(name);
    }
    known.save(&dir)
}
