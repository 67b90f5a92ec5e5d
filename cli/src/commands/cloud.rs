//! `crv vm cloud-init show | set | clear`, and what `vm create` sends for
//! cloud guests: keys read from files (private keys refused here, before
//! anything leaves the machine), user-data and network-config read whole.

use super::Ctx;
use super::definition::{expect_vm, fetch_vm, report};
use crate::args::{CloudInitSetArgs, CloudOptions};
use crate::client::one_shot;
use crate::error::CliError;
use crate::output;
use corvus_protocol::{CloudInitChanges, CloudInitInfo, CloudInitSpec, Request, VmRef};
use std::path::Path;

/// The key types an OpenSSH public key line starts with.
const KEY_PREFIXES: &[&str] = &["ssh-", "ecdsa-sha2-", "sk-ssh-", "sk-ecdsa-"];

/// `--ssh-key`: a key given literally, or the key lines of a file.
fn keys(given: &[String]) -> Result<Vec<String>, CliError> {
    let mut keys = Vec::new();
    for item in given {
        let literal = KEY_PREFIXES.iter().any(|p| item.starts_with(p)) && item.contains(' ');
        if literal {
            keys.push(item.trim().to_owned());
            continue;
        }
        let text = read("--ssh-key", Path::new(item))?;
        if text.contains("PRIVATE KEY") {
            return Err(CliError::Usage(format!(
                "--ssh-key {item} is a private key; give the public one ({item}.pub): Corvus never copies private keys"
            )));
        }
        let lines: Vec<String> = text
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty() && !line.starts_with('#'))
            .map(str::to_owned)
            .collect();
        if lines.is_empty() {
            return Err(CliError::Usage(format!(
                "--ssh-key {item} holds no key; give a .pub file or the key itself"
            )));
        }
        keys.extend(lines);
    }
    Ok(keys)
}

fn read(option: &str, path: &Path) -> Result<String, CliError> {
    std::fs::read_to_string(path)
        .map_err(|err| CliError::Usage(format!("{option} {}: {err}", path.display())))
}

/// `--user-data ''` and `--network-config ''` (for `set`) mean "remove".
fn file_text(option: &str, path: Option<&Path>) -> Result<Option<String>, CliError> {
    match path {
        None => Ok(None),
        Some(path) if path.as_os_str().is_empty() => Ok(Some(String::new())),
        Some(path) => read(option, path).map(Some),
    }
}

/// The invoking user, cloud-init's default account name: $USER, else the
/// password database's name for our uid.
fn login_name() -> Option<String> {
    std::env::var("USER")
        .ok()
        .filter(|name| !name.is_empty())
        .or_else(|| {
            nix::unistd::User::from_uid(nix::unistd::getuid())
                .ok()
                .flatten()
                .map(|user| user.name)
        })
}

/// The configuration `vm create` sends, when any cloud-init option is given.
pub fn spec(options: &CloudOptions) -> Result<Option<CloudInitSpec>, CliError> {
    if !options.any() {
        return Ok(None);
    }
    let user = match options.user.clone().or_else(login_name) {
        Some(user) => user,
        None => {
            return Err(CliError::Usage(
                "cannot tell your user name (no $USER, no passwd entry); pass --user NAME".into(),
            ));
        }
    };
    Ok(Some(CloudInitSpec {
        user: Some(user),
        ssh_keys: keys(&options.ssh_keys)?,
        hostname: options.hostname.clone(),
        user_data: file_text("--user-data", options.user_data.as_deref())?,
        network_config: file_text("--network-config", options.network_config.as_deref())?,
    }))
}

pub async fn show(ctx: &Ctx, vm: &str) -> Result<(), CliError> {
    let vm = fetch_vm(ctx, VmRef::parse(vm)).await?;
    match &vm.cloud_init {
        _ if ctx.json => output::json(&vm.cloud_init),
        None => println!(
            "VM '{}' has no cloud-init configuration",
            output::safe(&vm.name)
        ),
        Some(config) => print(config),
    }
    Ok(())
}

fn print(config: &CloudInitInfo) {
    let line = |key: &str, value: &str| println!("{key:<16}{}", output::safe(value));
    line("instance-id:", &config.instance_id);
    line("user:", &config.user);
    line("hostname:", &config.hostname);
    if config.ssh_keys.is_empty() {
        line("ssh keys:", "none");
    }
    for key in &config.ssh_keys {
        line("ssh key:", key);
    }
    for (name, text) in [
        ("user-data", &config.user_data),
        ("network-config", &config.network_config),
    ] {
        match text {
            None => line(&format!("{name}:"), "none"),
            Some(text) => {
                println!("{name}:");
                for text_line in text.lines() {
                    println!("  {}", output::safe(text_line));
                }
            }
        }
    }
}

pub async fn set(ctx: &Ctx, args: CloudInitSetArgs) -> Result<(), CliError> {
    let o = &args.cloud;
    let changes = CloudInitChanges {
        user: o.user.clone(),
        ssh_keys: (!o.ssh_keys.is_empty())
            .then(|| keys(&o.ssh_keys))
            .transpose()?,
        hostname: o.hostname.clone(),
        user_data: file_text("--user-data", o.user_data.as_deref())?,
        network_config: file_text("--network-config", o.network_config.as_deref())?,
    };
    let request = Request::SetCloudInit {
        vm: VmRef::parse(&args.vm),
        changes,
    };
    let vm = expect_vm(one_shot(&ctx.endpoint, request).await?)?;
    let iid = vm
        .cloud_init
        .as_ref()
        .map_or("", |c| c.instance_id.as_str());
    report(
        ctx,
        &vm,
        &format!(
            "updated the cloud-init configuration of VM '{}' (instance-id {iid}); it applies at the next start",
            vm.name
        ),
    );
    Ok(())
}

pub async fn clear(ctx: &Ctx, vm: &str) -> Result<(), CliError> {
    let request = Request::ClearCloudInit {
        vm: VmRef::parse(vm),
    };
    let vm = expect_vm(one_shot(&ctx.endpoint, request).await?)?;
    report(
        ctx,
        &vm,
        &format!(
            "cleared the cloud-init configuration of VM '{}'; it boots without a seed",
            vm.name
        ),
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_come_literally_or_from_files_and_private_keys_are_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let public = dir.path().join("id.pub");
        std::fs::write(&public, "# mine\nssh-ed25519 AAAAC3Nza alice@a\n\n").expect("write");
        let private = dir.path().join("id");
        std::fs::write(&private, "-----BEGIN OPENSSH PRIVATE KEY-----\nx\n").expect("write");
        let got = keys(&[
            public.display().to_string(),
            "ssh-rsa AAAAB3 bob@b".to_owned(),
        ])
        .expect("keys");
        assert_eq!(
            got,
            ["ssh-ed25519 AAAAC3Nza alice@a", "ssh-rsa AAAAB3 bob@b"]
        );
        let err = keys(&[private.display().to_string()]).unwrap_err();
        assert!(err.to_string().contains("is a private key"), "{err}");
        let err = keys(&[dir.path().join("missing").display().to_string()]).unwrap_err();
        assert!(err.to_string().contains("missing"), "{err}");
    }
}
