//! The built-in certificate authority behind `corvus tls`: one ECDSA P-256
//! CA per daemon, the daemon's server certificate, and client certificates
//! that carry their role. Pure: keys and PEM texts in, PEM texts out; the
//! files are `store.rs`'s.

use corvus_protocol::Role;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType, SerialNumber,
};
use std::net::IpAddr;
use time::{Duration, OffsetDateTime};

/// The CA and the server certificate outlive any deployment one plans for;
/// client certificates are what expire (`--days`).
const CA_YEARS: i64 = 20;
const SERVER_YEARS: i64 = 10;
/// Certificates start a little in the past, so that a client whose clock
/// is slightly behind the CA's can use a fresh one at once.
const CLOCK_SKEW: Duration = Duration::minutes(5);

#[derive(Debug, thiserror::Error)]
pub enum CaError {
    #[error("cannot generate a key")]
    Key(#[source] rcgen::Error),
    #[error("cannot read the CA's key")]
    CaKey(#[source] rcgen::Error),
    #[error("cannot read the CA's certificate")]
    CaCertificate(#[source] rcgen::Error),
    #[error("cannot sign the certificate")]
    Sign(#[source] rcgen::Error),
    #[error("'{0}' cannot be a name in a certificate (only ASCII is allowed)")]
    Name(String),
    #[error("no random numbers for a serial number")]
    Random,
}

/// A certificate and its private key, as PEM.
pub struct Pems {
    pub certificate: String,
    pub key: String,
}

/// A CA able to sign.
pub struct Ca {
    issuer: Issuer<'static, KeyPair>,
    pub certificate_pem: String,
}

/// When a client certificate is valid.
#[derive(Debug, Clone, Copy)]
pub struct Validity {
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
}

impl Validity {
    /// From now (less the clock skew) for `days`.
    pub fn days(days: u32) -> Validity {
        let now = OffsetDateTime::now_utc();
        Validity {
            not_before: now - CLOCK_SKEW,
            not_after: now + Duration::days(i64::from(days)),
        }
    }
}

impl Ca {
    /// A new CA named after the host it serves.
    pub fn generate(host: &str) -> Result<(Ca, Pems), CaError> {
        let key = KeyPair::generate().map_err(CaError::Key)?;
        let mut params = CertificateParams::default();
        params.distinguished_name = name(&[
            (DnType::CommonName, format!("Corvus CA on {host}")),
            (DnType::OrganizationName, "Corvus".to_owned()),
        ]);
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let now = OffsetDateTime::now_utc();
        params.not_before = now - CLOCK_SKEW;
        params.not_after = now + Duration::days(365 * CA_YEARS);
        params.serial_number = Some(serial()?);
        let certificate = params.self_signed(&key).map_err(CaError::Sign)?;
        let pems = Pems {
            certificate: certificate.pem(),
            key: key.serialize_pem(),
        };
        let ca = Ca {
            issuer: Issuer::new(params, key),
            certificate_pem: pems.certificate.clone(),
        };
        Ok((ca, pems))
    }

    /// The CA `generate` made, from its files.
    pub fn load(certificate_pem: &str, key_pem: &str) -> Result<Ca, CaError> {
        let key = KeyPair::from_pem(key_pem).map_err(CaError::CaKey)?;
        let issuer =
            Issuer::from_ca_cert_pem(certificate_pem, key).map_err(CaError::CaCertificate)?;
        Ok(Ca {
            issuer,
            certificate_pem: certificate_pem.to_owned(),
        })
    }

    /// The daemon's certificate, valid for `hosts` (names and addresses).
    pub fn server(&self, hosts: &[String]) -> Result<Pems, CaError> {
        let mut params = CertificateParams::default();
        let first = hosts.first().map_or("corvus", String::as_str);
        params.distinguished_name = name(&[
            (DnType::CommonName, first.to_owned()),
            (DnType::OrganizationName, "Corvus".to_owned()),
        ]);
        params.subject_alt_names = hosts
            .iter()
            .map(|host| match host.parse::<IpAddr>() {
                Ok(address) => Ok(SanType::IpAddress(address)),
                Err(_) => host
                    .as_str()
                    .try_into()
                    .map(SanType::DnsName)
                    .map_err(|_| CaError::Name(host.clone())),
            })
            .collect::<Result<_, _>>()?;
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let now = OffsetDateTime::now_utc();
        self.sign(
            params,
            Validity {
                not_before: now - CLOCK_SKEW,
                not_after: now + Duration::days(365 * SERVER_YEARS),
            },
        )
    }

    /// A client certificate: `name` as the subject's CN, `role` as its OU.
    pub fn client(&self, client: &str, role: Role, validity: Validity) -> Result<Pems, CaError> {
        let mut params = CertificateParams::default();
        params.distinguished_name = name(&[
            (DnType::CommonName, client.to_owned()),
            (DnType::OrganizationalUnitName, role.as_str().to_owned()),
            (DnType::OrganizationName, "Corvus".to_owned()),
        ]);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        self.sign(params, validity)
    }

    fn sign(&self, mut params: CertificateParams, validity: Validity) -> Result<Pems, CaError> {
        let key = KeyPair::generate().map_err(CaError::Key)?;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.use_authority_key_identifier_extension = true;
        params.not_before = validity.not_before;
        params.not_after = validity.not_after;
        params.serial_number = Some(serial()?);
        let certificate = params
            .signed_by(&key, &self.issuer)
            .map_err(CaError::Sign)?;
        Ok(Pems {
            certificate: certificate.pem(),
            key: key.serialize_pem(),
        })
    }
}

fn name(parts: &[(DnType, String)]) -> DistinguishedName {
    let mut name = DistinguishedName::new();
    for (kind, value) in parts {
        name.push(kind.clone(), value.as_str());
    }
    name
}

/// 16 random bytes, positive and without a leading zero, so that the bytes
/// written are the bytes a parser reads back (revocations compare them).
fn serial() -> Result<SerialNumber, CaError> {
    let mut bytes = [0u8; 16];
    rustls::crypto::ring::default_provider()
        .secure_random
        .fill(&mut bytes)
        .map_err(|_| CaError::Random)?;
    bytes[0] = (bytes[0] & 0x7f) | 0x40;
    Ok(SerialNumber::from_slice(&bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::certificate::ClientCertificate;
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;

    #[test]
    fn a_client_certificate_carries_its_name_role_and_window_and_a_reloaded_ca_signs_alike() {
        let (ca, pems) = Ca::generate("host").unwrap();
        let reloaded = Ca::load(&pems.certificate, &pems.key).unwrap();
        let validity = Validity::days(30);
        for (signer, role) in [(&ca, Role::Viewer), (&reloaded, Role::Admin)] {
            let issued = signer.client("alice", role, validity).unwrap();
            let der = CertificateDer::from_pem_slice(issued.certificate.as_bytes()).unwrap();
            let read = ClientCertificate::read(&der).unwrap();
            assert_eq!((read.name.as_str(), read.role), ("alice", role));
            assert_eq!(read.serial.len(), 32, "{}", read.serial);
            assert_eq!(
                read.not_after.unix_timestamp(),
                validity.not_after.unix_timestamp()
            );
        }
    }
}
