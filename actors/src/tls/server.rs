//! The daemon's side of mutual TLS (`--listen`): the server certificate,
//! client certificates verified against the daemon's own CA only, and the
//! revoked ones refused during the handshake, so that their clients get a
//! `certificate_revoked` alert rather than a silently closed connection.

use super::certificate::ClientCertificate;
use super::store::{CA_CERTIFICATE, SERVER_CERTIFICATE, SERVER_KEY, StoreError, TlsDir};
use corvus_protocol::tls::{TlsError, certificates, private_key, roots};
use rustls::client::danger::HandshakeSignatureValid;
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{ServerConfig, WebPkiClientVerifier};
use rustls::{CertificateError, DigitallySignedStruct, DistinguishedName, SignatureScheme};
use std::collections::HashSet;
use std::path::Path;
use std::sync::{Arc, RwLock};
use tokio_rustls::TlsAcceptor;

#[derive(Debug, thiserror::Error)]
pub enum ServerTlsError {
    #[error(
        "no TLS material for --listen in {}: run `corvus tls init` first (or pass --config-dir)",
        .0.display()
    )]
    NotInitialised(std::path::PathBuf),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the TLS files in the config directory are unusable")]
    Pem(#[from] TlsError),
    #[error("cannot build the client certificate verifier")]
    Verifier(#[from] rustls::server::VerifierBuilderError),
    #[error("the server certificate and key do not go together")]
    ServerCertificate(#[source] rustls::Error),
}

/// Serial numbers of revoked client certificates, as the database holds
/// them; consulted at every handshake.
#[derive(Debug, Default)]
pub struct Revoked {
    serials: RwLock<HashSet<String>>,
}

impl Revoked {
    pub fn contains(&self, serial: &str) -> bool {
        self.serials
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .contains(serial)
    }

    pub fn insert(&self, serial: String) {
        self.serials
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .insert(serial);
    }

    /// Replaces the set with the database's; returns its size.
    pub fn replace(&self, serials: Vec<String>) -> u64 {
        let mut held = self
            .serials
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        *held = serials.into_iter().collect();
        held.len() as u64
    }
}

/// Accepts TLS connections with client certificates from the daemon's CA.
pub struct TlsServer {
    pub acceptor: TlsAcceptor,
    pub revoked: Arc<Revoked>,
}

impl TlsServer {
    /// Reads the CA and the server's certificate from the config directory.
    /// Blocking: call it before the runtime serves anything.
    pub fn load(config_dir: &Path, revoked: Arc<Revoked>) -> Result<TlsServer, ServerTlsError> {
        TlsServer::load_with(config_dir, revoked, ClientAuth::Required)
    }

    /// For the web console (`--http` off loopback): the same certificates,
    /// a client certificate optional (a browser without one logs in with a
    /// `crv web` token), HTTP/1.1 announced.
    pub fn load_web(config_dir: &Path, revoked: Arc<Revoked>) -> Result<TlsServer, ServerTlsError> {
        TlsServer::load_with(config_dir, revoked, ClientAuth::Optional)
    }

    fn load_with(
        config_dir: &Path,
        revoked: Arc<Revoked>,
        client_auth: ClientAuth,
    ) -> Result<TlsServer, ServerTlsError> {
        if !config_dir.join(SERVER_KEY).exists() {
            return Err(ServerTlsError::NotInitialised(config_dir.to_owned()));
        }
        let dir = TlsDir::existing(config_dir)?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let ca = dir.read(CA_CERTIFICATE)?;
        let builder = WebPkiClientVerifier::builder_with_provider(
            Arc::new(roots(ca.as_bytes())?),
            provider.clone(),
        );
        let inner = match client_auth {
            ClientAuth::Required => builder.build()?,
            ClientAuth::Optional => builder.allow_unauthenticated().build()?,
        };
        let verifier = Arc::new(RevocationChecking {
            inner,
            revoked: revoked.clone(),
        });
        let chain = certificates(
            dir.read(SERVER_CERTIFICATE)?.as_bytes(),
            "server certificate",
        )?;
        let key = private_key(dir.read(SERVER_KEY)?.as_bytes(), "server key")?;
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(ServerTlsError::ServerCertificate)?
            .with_client_cert_verifier(verifier)
            .with_single_cert(chain, key)
            .map_err(ServerTlsError::ServerCertificate)?;
        if client_auth == ClientAuth::Optional {
            config.alpn_protocols = vec![b"http/1.1".to_vec()];
        }
        Ok(TlsServer {
            acceptor: TlsAcceptor::from(Arc::new(config)),
            revoked,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ClientAuth {
    Required,
    Optional,
}

/// webpki's verification (chain to the CA, validity window, client-auth key
/// usage), then Corvus's: a name and role it issued, and not revoked.
#[derive(Debug)]
struct RevocationChecking {
    inner: Arc<dyn ClientCertVerifier>,
    revoked: Arc<Revoked>,
}

impl ClientCertVerifier for RevocationChecking {
    fn offer_client_auth(&self) -> bool {
        self.inner.offer_client_auth()
    }

    fn client_auth_mandatory(&self) -> bool {
        self.inner.client_auth_mandatory()
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let verified = self
            .inner
            .verify_client_cert(end_entity, intermediates, now)?;
        let client = ClientCertificate::read(end_entity).map_err(|err| {
            rustls::Error::InvalidCertificate(CertificateError::Other(rustls::OtherError(
                Arc::new(err),
            )))
        })?;
        if self.revoked.contains(&client.serial) {
            return Err(rustls::Error::InvalidCertificate(CertificateError::Revoked));
        }
        Ok(verified)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// The client a verified connection speaks for.
pub fn client_of(connection: &rustls::ServerConnection) -> Option<ClientCertificate> {
    let end_entity = connection.peer_certificates()?.first()?;
    ClientCertificate::read(end_entity).ok()
}
