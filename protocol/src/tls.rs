//! The client side of mutual TLS (`corvus --listen`): a configuration that
//! trusts only the daemon's own CA and presents the client's certificate,
//! and connecting with it. TLS 1.3 only, on ring: both ends are Corvus, so
//! there is no older peer to accommodate.

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use std::sync::Arc;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

/// The port of `corvus --listen` and `crv remote add` when none is given.
pub const DEFAULT_TLS_PORT: u16 = 9877;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("the {what} is not PEM")]
    Pem {
        what: &'static str,
        #[source]
        source: rustls::pki_types::pem::Error,
    },
    #[error("the {what} holds no certificate")]
    NoCertificate { what: &'static str },
    #[error("the CA certificate cannot be trusted")]
    Ca(#[source] rustls::Error),
    #[error("the client certificate and key do not go together")]
    ClientCertificate(#[source] rustls::Error),
    #[error("'{0}' is neither a host name nor an IP address")]
    ServerName(String),
}

/// The PEM texts a client needs: the daemon's CA, its own certificate and key.
pub struct ClientPems<'a> {
    pub ca: &'a [u8],
    pub certificate: &'a [u8],
    pub key: &'a [u8],
}

pub fn certificates(
    pem: &[u8],
    what: &'static str,
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certificates = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| TlsError::Pem { what, source })?;
    if certificates.is_empty() {
        return Err(TlsError::NoCertificate { what });
    }
    Ok(certificates)
}

pub fn private_key(pem: &[u8], what: &'static str) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_slice(pem).map_err(|source| TlsError::Pem { what, source })
}

/// Roots holding exactly the certificates of `ca_pem`.
pub fn roots(ca_pem: &[u8]) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    for certificate in certificates(ca_pem, "CA certificate")? {
        roots.add(certificate).map_err(TlsError::Ca)?;
    }
    Ok(roots)
}

pub fn client_config(pems: ClientPems<'_>) -> Result<Arc<ClientConfig>, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(TlsError::ClientCertificate)?
        .with_root_certificates(roots(pems.ca)?)
        .with_client_auth_cert(
            certificates(pems.certificate, "client certificate")?,
            private_key(pems.key, "client key")?,
        )
        .map_err(TlsError::ClientCertificate)?;
    Ok(Arc::new(config))
}

/// The name the daemon's certificate must carry for `host`.
pub fn server_name(host: &str) -> Result<ServerName<'static>, TlsError> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    ServerName::try_from(bare.to_owned()).map_err(|_| TlsError::ServerName(host.to_owned()))
}

/// Connects over TCP and completes the TLS handshake. With TLS 1.3 the
/// daemon judges the client's certificate after this returns: a refusal
/// arrives as an alert on the first read.
pub async fn connect(
    config: Arc<ClientConfig>,
    host: &str,
    port: u16,
) -> std::io::Result<TlsStream<TcpStream>> {
    let name = server_name(host)
        .map_err(|err| std::io::Error::new(std::io::ErrorKind::InvalidInput, err))?;
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let tcp = TcpStream::connect((bare, port)).await?;
    let _ = tcp.set_nodelay(true);
    TlsConnector::from(config).connect(name, tcp).await
}

/// Why TLS broke a connection, in words for the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The daemon refused this client (its certificate, or the lack of one).
    ByDaemon(String),
    /// This client does not trust the daemon's certificate.
    OfDaemon(String),
    /// Anything else TLS reported.
    Other(String),
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::ByDaemon(why) | Refusal::OfDaemon(why) | Refusal::Other(why) => {
                f.write_str(why)
            }
        }
    }
}

/// The TLS alert or certificate error inside an I/O error, if that is what
/// broke a connection.
pub fn refusal(err: &std::io::Error) -> Option<Refusal> {
    use rustls::AlertDescription as Alert;
    let tls = err.get_ref()?.downcast_ref::<rustls::Error>()?;
    Some(match tls {
        rustls::Error::AlertReceived(alert) => {
            let why = match alert {
                Alert::CertificateRevoked => "it was revoked",
                Alert::CertificateExpired => "it expired, or is not valid yet",
                Alert::UnknownCA | Alert::BadCertificate | Alert::DecryptError => {
                    "this daemon's CA did not issue it"
                }
                Alert::UnsupportedCertificate => "it is not a client certificate",
                Alert::CertificateRequired => "none was sent",
                _ => {
                    return Some(Refusal::Other(format!(
                        "the daemon refused the connection ({alert:?})"
                    )));
                }
            };
            Refusal::ByDaemon(format!(
                "the daemon refused this client's certificate: {why}"
            ))
        }
        rustls::Error::InvalidCertificate(reason) => Refusal::OfDaemon(format!(
            "the daemon's certificate is not trusted ({reason:?})"
        )),
        other => Refusal::Other(other.to_string()),
    })
}
