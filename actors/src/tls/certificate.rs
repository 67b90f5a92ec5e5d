//! What Corvus reads in a client certificate its CA issued: the client's
//! name (the subject's CN), its role (the subject's OU), the serial number
//! that revocations name, and the validity window.

use corvus_protocol::Role;
use time::OffsetDateTime;
use x509_parser::prelude::{FromDer, X509Certificate};

/// Certificate names: 1–64 ASCII letters, digits, `-`, `_`, `.`, not
/// starting with `-` or `.`; never a `:`, so that no certificate can be
/// mistaken for a `unix:UID` client.
const NAME_MAX: usize = 64;

#[derive(Debug, thiserror::Error)]
pub enum CertificateError {
    #[error("the certificate does not parse as X.509")]
    Parse,
    #[error("the certificate names no client (no subject CN)")]
    NoName,
    #[error("the certificate's name '{0}' is not a Corvus client name")]
    BadName(String),
    #[error("the certificate carries no Corvus role (subject OU: viewer, operator or admin)")]
    NoRole,
}

/// One client certificate, as `corvus tls` issued it.
#[derive(Debug, Clone)]
pub struct ClientCertificate {
    pub name: String,
    pub role: Role,
    /// Lower-case hex of the serial number.
    pub serial: String,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
}

impl ClientCertificate {
    pub fn read(der: &[u8]) -> Result<ClientCertificate, CertificateError> {
        let (_, certificate) =
            X509Certificate::from_der(der).map_err(|_| CertificateError::Parse)?;
        let subject = certificate.subject();
        let name = subject
            .iter_common_name()
            .next()
            .and_then(|cn| cn.as_str().ok())
            .ok_or(CertificateError::NoName)?;
        check_name(name).map_err(|_| CertificateError::BadName(name.to_owned()))?;
        let role = subject
            .iter_organizational_unit()
            .filter_map(|ou| ou.as_str().ok())
            .find_map(|ou| ou.parse::<Role>().ok())
            .ok_or(CertificateError::NoRole)?;
        let validity = certificate.validity();
        Ok(ClientCertificate {
            name: name.to_owned(),
            role,
            serial: hex(certificate.raw_serial()),
            not_before: validity.not_before.to_datetime(),
            not_after: validity.not_after.to_datetime(),
        })
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether `name` may name a client certificate (see [`NAME_MAX`]).
pub fn check_name(name: &str) -> Result<(), String> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    if name.is_empty() || name.len() > NAME_MAX {
        return Err(format!(
            "a client name has 1 to {NAME_MAX} characters, '{name}' has {}",
            name.len()
        ));
    }
    if let Some(bad) = name.chars().find(|c| !allowed(*c)) {
        return Err(format!(
            "a client name holds only ASCII letters, digits, '-', '_' and '.', not {bad:?}"
        ));
    }
    if name.starts_with(['-', '.']) {
        return Err(format!(
            "a client name must not start with '-' or '.': '{name}'"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_names_follow_the_documented_rules() {
        for good in ["alice", "ci-runner.2", "A_b"] {
            assert_eq!(check_name(good), Ok(()), "{good}");
        }
        for bad in ["", "unix:0", "-rm", ".hidden", "é", "a b", &"x".repeat(65)] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
    }
}
