//! A VM's cloud-init configuration as stored: resolved from what the client
//! sent (defaults filled in, every field checked) with an instance-id that
//! is a digest of the configuration, so it stays the same until the
//! configuration changes and changes with it — which is what makes
//! cloud-init apply a new user or new keys at the next boot.

use super::CloudError;
use super::userdata::{check_network_config, check_user_data};
use corvus_protocol::{CloudInitChanges, CloudInitInfo, CloudInitSpec};
use sha2::{Digest, Sha256};

/// A whole configuration, ready to store and to write into a seed.
pub type Resolved = corvus_storage::NewCloudInit;

/// The key types OpenSSH's authorized_keys takes.
const KEY_TYPES: &[&str] = &[
    "ssh-ed25519",
    "ssh-rsa",
    "ssh-dss",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
];

/// A configuration for a new VM; the hostname defaults to the VM's name.
pub fn resolve(vm_name: &str, spec: &CloudInitSpec) -> Result<Resolved, CloudError> {
    let user = spec.user.clone().unwrap_or_default();
    let hostname = spec
        .hostname
        .clone()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| default_hostname(vm_name));
    finish(
        vm_name,
        user,
        spec.ssh_keys.clone(),
        hostname,
        spec.user_data.clone().filter(|t| !t.is_empty()),
        spec.network_config.clone().filter(|t| !t.is_empty()),
    )
}

/// `vm cloud-init set`: the current configuration (or an empty one) with
/// the changes applied.
pub fn change(
    vm_name: &str,
    current: Option<&CloudInitInfo>,
    changes: &CloudInitChanges,
) -> Result<Resolved, CloudError> {
    if changes.is_empty() {
        return Err(CloudError::NothingToChange);
    }
    let text = |change: &Option<String>, current: Option<&String>| match change {
        Some(text) if text.is_empty() => None,
        Some(text) => Some(text.clone()),
        None => current.cloned(),
    };
    let user = text(&changes.user, current.map(|c| &c.user)).unwrap_or_default();
    let hostname = text(&changes.hostname, current.map(|c| &c.hostname))
        .unwrap_or_else(|| default_hostname(vm_name));
    let keys = match (&changes.ssh_keys, current) {
        (Some(keys), _) => keys.clone(),
        (None, Some(current)) => current.ssh_keys.clone(),
        (None, None) => Vec::new(),
    };
    finish(
        vm_name,
        user,
        keys,
        hostname,
        text(
            &changes.user_data,
            current.and_then(|c| c.user_data.as_ref()),
        ),
        text(
            &changes.network_config,
            current.and_then(|c| c.network_config.as_ref()),
        ),
    )
}

#[cfg(test)]
pub fn info(resolved: &Resolved) -> CloudInitInfo {
    CloudInitInfo {
        user: resolved.user.clone(),
        ssh_keys: resolved.ssh_keys.clone(),
        hostname: resolved.hostname.clone(),
        user_data: resolved.user_data.clone(),
        network_config: resolved.network_config.clone(),
        instance_id: resolved.instance_id.clone(),
    }
}

/// What a stored configuration writes into the seed.
pub fn from_info(info: &CloudInitInfo) -> Resolved {
    Resolved {
        user: info.user.clone(),
        ssh_keys: info.ssh_keys.clone(),
        hostname: info.hostname.clone(),
        user_data: info.user_data.clone(),
        network_config: info.network_config.clone(),
        instance_id: info.instance_id.clone(),
    }
}

/// VM names may hold `_` and `.`, hostnames may not.
fn default_hostname(vm_name: &str) -> String {
    let name: String = vm_name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let name = name.trim_matches('-');
    if name.is_empty() {
        "corvus".to_owned()
    } else {
        name.chars().take(63).collect()
    }
}

fn finish(
    vm_name: &str,
    user: String,
    keys: Vec<String>,
    hostname: String,
    user_data: Option<String>,
    network_config: Option<String>,
) -> Result<Resolved, CloudError> {
    check_user(&user)?;
    check_hostname(&hostname)?;
    let ssh_keys = keys
        .iter()
        .enumerate()
        .map(|(index, key)| public_key(index + 1, key))
        .collect::<Result<Vec<_>, _>>()?;
    if let Some(text) = &user_data {
        check_user_data(text)?;
    }
    if let Some(text) = &network_config {
        check_network_config(text)?;
    }
    let mut resolved = Resolved {
        user,
        ssh_keys,
        hostname,
        user_data,
        network_config,
        instance_id: String::new(),
    };
    resolved.instance_id = instance_id(vm_name, &resolved);
    Ok(resolved)
}

/// `iid-corvus-<digest>`: the digest covers the VM's name (VMs are never
/// renamed), which keeps two VMs with the same configuration apart, and
/// every field, so it changes with any of them. The name, not the id: the
/// configuration is resolved before the VM's row (and its id) exists.
fn instance_id(vm_name: &str, config: &Resolved) -> String {
    let mut digest = Sha256::new();
    let fields = [
        Some(vm_name),
        Some(config.user.as_str()),
        Some(config.hostname.as_str()),
        Some(&config.ssh_keys.join("\n")),
        config.user_data.as_deref(),
        config.network_config.as_deref(),
    ];
    for field in fields {
        // Length-prefixed, so that no two configurations hash alike.
        match field {
            Some(text) => {
                digest.update((text.len() as u64 + 1).to_be_bytes());
                digest.update(text.as_bytes());
            }
            None => digest.update(0u64.to_be_bytes()),
        }
    }
    let hex = hex::encode(digest.finalize());
    format!("iid-corvus-{}", &hex[..16])
}

/// The names `useradd` takes on Debian by default.
fn check_user(user: &str) -> Result<(), CloudError> {
    let mut chars = user.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_');
    let rest_ok =
        chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if first_ok && rest_ok && user.len() <= 32 {
        Ok(())
    } else {
        Err(CloudError::UserName(user.to_owned()))
    }
}

fn check_hostname(hostname: &str) -> Result<(), CloudError> {
    let label_ok = |label: &str| {
        !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    };
    if hostname.len() <= 253 && hostname.split('.').all(label_ok) {
        Ok(())
    } else {
        Err(CloudError::Hostname(hostname.to_owned()))
    }
}

/// One authorized_keys line: `TYPE BASE64 [comment]`, options refused. A
/// private key is refused whatever its form, and never echoed.
pub fn public_key(index: usize, text: &str) -> Result<String, CloudError> {
    if text.contains("PRIVATE KEY") || text.contains("PuTTY-User-Key-File") {
        return Err(CloudError::PrivateKey);
    }
    let line = text.trim();
    let bad = |reason: &str| CloudError::PublicKey {
        index,
        reason: reason.to_owned(),
    };
    if line.contains('\n') || line.contains('\r') {
        return Err(bad("one key per line"));
    }
    let mut fields = line.split_whitespace();
    let key_type = fields.next().ok_or_else(|| bad("it is empty"))?;
    if !KEY_TYPES.contains(&key_type) {
        return Err(bad(&format!(
            "unknown key type '{}' (expected one of {})",
            key_type.chars().take(40).collect::<String>(),
            KEY_TYPES.join(", ")
        )));
    }
    let body = fields
        .next()
        .ok_or_else(|| bad("the key itself is missing"))?;
    let base64 = body
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/' || b == b'=');
    if !base64 || body.len() < 16 {
        return Err(bad("the key is not base64"));
    }
    Ok(line.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBq1k6ExampleKeyOnlyForTests alice@host";

    fn spec(keys: &[&str]) -> CloudInitSpec {
        CloudInitSpec {
            user: Some("alice".into()),
            ssh_keys: keys.iter().map(|k| (*k).to_owned()).collect(),
            ..CloudInitSpec::default()
        }
    }

    #[test]
    fn the_instance_id_changes_with_the_configuration_only() {
        let first = resolve("web_1", &spec(&[KEY])).expect("valid");
        assert_eq!(first.hostname, "web-1");
        assert_eq!(first, resolve("web_1", &spec(&[KEY])).expect("valid"));
        assert!(first.instance_id.starts_with("iid-corvus-"));
        let other_vm = resolve("web_2", &spec(&[KEY])).expect("valid");
        assert_ne!(first.instance_id, other_vm.instance_id);
        let new_key = change(
            "web_1",
            Some(&info(&first)),
            &CloudInitChanges {
                ssh_keys: Some(vec![KEY.replace("alice@host", "alice@laptop")]),
                ..CloudInitChanges::default()
            },
        )
        .expect("valid");
        assert_ne!(first.instance_id, new_key.instance_id);
        assert_eq!(new_key.user, "alice");
    }

    #[test]
    fn private_keys_and_garbage_are_refused() {
        let private = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n";
        assert_eq!(
            resolve("web", &spec(&[private])),
            Err(CloudError::PrivateKey)
        );
        let err = resolve("web", &spec(&[KEY, "hello world"])).unwrap_err();
        assert!(
            matches!(err, CloudError::PublicKey { index: 2, .. }),
            "{err:?}"
        );
        let err = resolve("web", &spec(&["ssh-ed25519 not/base64!"])).unwrap_err();
        assert!(err.to_string().contains("not base64"), "{err}");
    }

    #[test]
    fn users_and_hostnames_follow_the_system_rules() {
        let mut bad = spec(&[]);
        bad.user = Some("Alice Smith".into());
        assert!(matches!(resolve("web", &bad), Err(CloudError::UserName(_))));
        let mut bad = spec(&[]);
        bad.hostname = Some("-web".into());
        assert!(matches!(resolve("web", &bad), Err(CloudError::Hostname(_))));
        let mut bad = spec(&[]);
        bad.user_data = Some("#cloud-config\nusers: [\n".into());
        assert!(matches!(resolve("web", &bad), Err(CloudError::Yaml { .. })));
    }
}
