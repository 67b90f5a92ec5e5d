//! The user-data and meta-data files of the seed. Corvus's own part is a
//! `#cloud-config` written by a YAML emitter (never by string pasting, so a
//! key comment or a hostname cannot inject YAML); user-data given by the
//! user is checked here first: `#cloud-config` must parse as YAML (errors
//! carry line and column), scripts and MIME multipart pass through as they
//! are. With both, the seed's user-data is a MIME multipart whose second
//! part (Corvus's) carries a `Merge-Type` that appends its lists to the
//! user's, so the user's `users:` and Corvus's user both exist.

use super::CloudError;
use super::config::Resolved;
use yaml_rust2::yaml::{Hash, Yaml};
use yaml_rust2::{YamlEmitter, YamlLoader};

/// What fits a seed comfortably (cloud-init reads the files whole).
pub const MAX_TEXT: usize = 1 << 20;
/// cloud-init's merge rule for Corvus's part: lists appended, the user's
/// values kept where both set one.
const MERGE_TYPE: &str = "list(append)+dict(no_replace,recurse_list)+str()";

/// What kind of user-data the user gave, from its first line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    CloudConfig,
    Script,
    Include,
    Boothook,
    Multipart,
}

impl Kind {
    fn of(text: &str) -> Option<Kind> {
        let first = text.lines().next().unwrap_or_default().trim_end();
        let lower = first.to_ascii_lowercase();
        if first.starts_with("#cloud-config") {
            Some(Kind::CloudConfig)
        } else if first.starts_with("#!") {
            Some(Kind::Script)
        } else if first.starts_with("#include") {
            Some(Kind::Include)
        } else if first.starts_with("#cloud-boothook") {
            Some(Kind::Boothook)
        } else if lower.starts_with("content-type:") || lower.starts_with("mime-version:") {
            Some(Kind::Multipart)
        } else {
            None
        }
    }

    fn content_type(self) -> &'static str {
        match self {
            Kind::CloudConfig => "text/cloud-config",
            Kind::Script => "text/x-shellscript",
            Kind::Include => "text/x-include-url",
            Kind::Boothook => "text/cloud-boothook",
            Kind::Multipart => "multipart/mixed",
        }
    }
}

fn size(what: &'static str, text: &str) -> Result<(), CloudError> {
    if text.len() > MAX_TEXT {
        return Err(CloudError::TooLarge {
            what,
            size: text.len(),
            limit: MAX_TEXT,
        });
    }
    Ok(())
}

/// Parses YAML that must be a mapping (or empty).
fn mapping(what: &'static str, text: &str) -> Result<(), CloudError> {
    let documents = YamlLoader::load_from_str(text).map_err(|err| CloudError::Yaml {
        what,
        message: err.info().to_owned(),
        line: err.marker().line(),
        column: err.marker().col() + 1,
    })?;
    match documents.first() {
        None | Some(Yaml::Hash(_)) | Some(Yaml::Null) => Ok(()),
        Some(other) => Err(CloudError::NotMapping {
            what,
            found: match other {
                Yaml::Array(_) => "a list",
                Yaml::String(_) | Yaml::Integer(_) | Yaml::Real(_) | Yaml::Boolean(_) => {
                    "a single value"
                }
                Yaml::Alias(_) | Yaml::Null | Yaml::BadValue | Yaml::Hash(_) => "something else",
            },
        }),
    }
}

/// User-data as given: checked, never rewritten.
pub fn check_user_data(text: &str) -> Result<(), CloudError> {
    size("user-data", text)?;
    match Kind::of(text) {
        Some(Kind::CloudConfig) => mapping("user-data", text),
        Some(Kind::Script | Kind::Include | Kind::Boothook | Kind::Multipart) => Ok(()),
        None => Err(CloudError::UserDataKind),
    }
}

pub fn check_network_config(text: &str) -> Result<(), CloudError> {
    size("network-config", text)?;
    mapping("network-config", text)
}

fn string(text: &str) -> Yaml {
    Yaml::String(text.to_owned())
}

fn emit(document: &Yaml) -> String {
    let mut out = String::new();
    let mut emitter = YamlEmitter::new(&mut out);
    // Writing into a String cannot fail; an empty document is the fallback.
    if emitter.dump(document).is_err() {
        out.clear();
    }
    out.push('\n');
    out
}

fn hash(entries: Vec<(&str, Yaml)>) -> Yaml {
    let mut map = Hash::new();
    for (key, value) in entries {
        map.insert(string(key), value);
    }
    Yaml::Hash(map)
}

/// `meta-data`: the instance-id and the hostname.
pub fn meta_data(config: &Resolved) -> String {
    emit(&hash(vec![
        ("instance-id", string(&config.instance_id)),
        ("local-hostname", string(&config.hostname)),
    ]))
}

/// Corvus's `#cloud-config`: the user with passwordless sudo and the keys,
/// the hostname, no password logins.
pub fn corvus_cloud_config(config: &Resolved) -> String {
    let keys = Yaml::Array(config.ssh_keys.iter().map(|k| string(k)).collect());
    let user = hash(vec![
        ("name", string(&config.user)),
        ("sudo", string("ALL=(ALL) NOPASSWD:ALL")),
        ("shell", string("/bin/bash")),
        ("lock_passwd", Yaml::Boolean(true)),
        ("ssh_authorized_keys", keys),
    ]);
    let mut entries = vec![
        ("hostname", string(&config.hostname)),
        ("preserve_hostname", Yaml::Boolean(false)),
        ("users", Yaml::Array(vec![user])),
        ("ssh_pwauth", Yaml::Boolean(false)),
    ];
    if config.user == "root" {
        // Otherwise cloud-init points root's keys at "login as the default user".
        entries.push(("disable_root", Yaml::Boolean(false)));
    }
    format!("#cloud-config\n{}", emit(&hash(entries)))
}

/// The seed's `user-data`: Corvus's part alone, or a multipart of the
/// user's part and Corvus's.
pub fn user_data(config: &Resolved) -> String {
    let ours = corvus_cloud_config(config);
    let Some(theirs) = &config.user_data else {
        return ours;
    };
    let kind = Kind::of(theirs).unwrap_or(Kind::Script);
    let mut boundary = format!("==corvus-{}==", config.instance_id);
    while theirs.contains(&boundary) {
        boundary.push('=');
    }
    let mut out =
        format!("Content-Type: multipart/mixed; boundary=\"{boundary}\"\nMIME-Version: 1.0\n\n");
    out.push_str(&format!("--{boundary}\n"));
    match kind {
        // A multipart's own headers head its part: a nested message.
        Kind::Multipart => out.push_str(theirs),
        Kind::CloudConfig | Kind::Script | Kind::Include | Kind::Boothook => {
            out.push_str(&format!(
                "Content-Type: {}; charset=\"utf-8\"\nMIME-Version: 1.0\nContent-Disposition: attachment; filename=\"user-data\"\n\n",
                kind.content_type()
            ));
            out.push_str(theirs);
        }
    }
    if !out.ends_with('\n') {
        out.push('\n');
    }
    out.push_str(&format!(
        "--{boundary}\nContent-Type: text/cloud-config; charset=\"utf-8\"\nMIME-Version: 1.0\nMerge-Type: {MERGE_TYPE}\nContent-Disposition: attachment; filename=\"corvus.cfg\"\n\n{ours}--{boundary}--\n"
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolved(user_data: Option<&str>) -> Resolved {
        Resolved {
            user: "alice".into(),
            ssh_keys: vec!["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDx alice: #not a comment".into()],
            hostname: "web".into(),
            user_data: user_data.map(str::to_owned),
            network_config: None,
            instance_id: "iid-corvus-1-abc".into(),
        }
    }

    #[test]
    fn a_yaml_error_names_its_line_and_column() {
        let err = check_user_data("#cloud-config\npackages:\n  - a\n - b\n").unwrap_err();
        let CloudError::Yaml { line, column, .. } = &err else {
            panic!("{err:?}");
        };
        assert_eq!((*line, *column), (4, 2), "{err}");
        assert!(err.to_string().contains("line 4, column 2"), "{err}");
        let list = check_user_data("#cloud-config\n- a\n").unwrap_err();
        assert!(matches!(list, CloudError::NotMapping { .. }), "{list:?}");
    }

    #[test]
    fn scripts_and_multipart_pass_and_anything_else_is_refused() {
        assert_eq!(check_user_data("#!/bin/sh\n: {{{ not yaml\n"), Ok(()));
        assert_eq!(
            check_user_data("Content-Type: multipart/mixed; boundary=x\n\n--x--\n"),
            Ok(())
        );
        assert_eq!(check_user_data("#cloud-config\n"), Ok(()));
        assert_eq!(
            check_user_data("packages: [vim]\n"),
            Err(CloudError::UserDataKind)
        );
    }

    #[test]
    fn corvus_cloud_config_is_yaml_that_keeps_the_key_whole() {
        let text = corvus_cloud_config(&resolved(None));
        assert!(text.starts_with("#cloud-config\n"), "{text}");
        let parsed = YamlLoader::load_from_str(&text).expect("yaml");
        let users = &parsed[0]["users"];
        assert_eq!(users[0]["name"].as_str(), Some("alice"));
        assert_eq!(
            users[0]["ssh_authorized_keys"][0].as_str(),
            Some("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDx alice: #not a comment")
        );
        assert_eq!(parsed[0]["hostname"].as_str(), Some("web"));
        let meta = YamlLoader::load_from_str(&meta_data(&resolved(None))).expect("meta");
        assert_eq!(meta[0]["instance-id"].as_str(), Some("iid-corvus-1-abc"));
    }

    #[test]
    fn given_user_data_is_merged_as_a_multipart_that_appends() {
        let text = user_data(&resolved(Some("#!/bin/sh\necho hi\n")));
        assert!(
            text.starts_with(
                "Content-Type: multipart/mixed; boundary=\"==corvus-iid-corvus-1-abc==\""
            ),
            "{text}"
        );
        assert!(text.contains("Content-Type: text/x-shellscript"), "{text}");
        assert!(text.contains("#!/bin/sh\necho hi\n--==corvus"), "{text}");
        assert!(
            text.contains(&format!("Merge-Type: {MERGE_TYPE}")),
            "{text}"
        );
        assert!(
            text.trim_end().ends_with("--==corvus-iid-corvus-1-abc==--"),
            "{text}"
        );
        assert_eq!(
            user_data(&resolved(None)),
            corvus_cloud_config(&resolved(None))
        );
    }
}
