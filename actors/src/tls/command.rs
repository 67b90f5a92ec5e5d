//! `corvus tls init | issue | list | revoke`: the certificate authority's
//! commands, run by the daemon's user on the daemon's host. They work on
//! the config directory and the database directly, so they need no running
//! daemon; `revoke` tells one that runs, so that it closes the revoked
//! clients' connections at once.

use super::ca::{Ca, Validity};
use super::certificate::{ClientCertificate, check_name};
use super::store::{CA_CERTIFICATE, CA_KEY, SERVER_CERTIFICATE, SERVER_KEY, TlsDir, write_private};
use crate::config::{Places, TlsCommand};
use anyhow::{Context as _, bail};
use corvus_protocol::{
    ClientMessage, Connection, PROTOCOL_VERSION, Request, Response, Role, ServerMessage,
};
use corvus_storage::Store;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use std::os::unix::fs::DirBuilderExt;
use std::path::Path;
use std::time::Duration;
use time::OffsetDateTime;

/// How long `revoke` waits for the running daemon to confirm.
const DAEMON_TIMEOUT: Duration = Duration::from_secs(10);

pub async fn run(command: TlsCommand, places: &Places) -> anyhow::Result<()> {
    match command {
        TlsCommand::Init { san } => init(places, &san),
        TlsCommand::Issue {
            name,
            role,
            days,
            out,
            not_before,
            not_after,
        } => {
            let mut validity = Validity::days(days);
            if let Some(start) = not_before {
                validity.not_before = rfc3339(&start)?;
            }
            if let Some(end) = not_after {
                validity.not_after = rfc3339(&end)?;
            }
            issue(places, &name, role, validity, &out)
        }
        TlsCommand::List => list(places).await,
        TlsCommand::Revoke { name } => revoke(places, &name).await,
    }
}

fn init(places: &Places, extra: &[String]) -> anyhow::Result<()> {
    let dir = TlsDir::create(&places.config_dir)?;
    let host = hostname();
    let ca = if dir.has_ca() {
        println!(
            "Keeping the CA in {} (certificates issued so far stay valid)",
            dir.path(CA_CERTIFICATE).display()
        );
        Ca::load(&dir.read(CA_CERTIFICATE)?, &dir.read(CA_KEY)?)?
    } else {
        let (ca, pems) = Ca::generate(&host)?;
        dir.write(CA_KEY, &pems.key)?;
        dir.write(CA_CERTIFICATE, &pems.certificate)?;
        println!("Created a CA in {}", dir.path(CA_CERTIFICATE).display());
        ca
    };
    let names = server_names(&host, extra);
    let server = ca.server(&names)?;
    dir.write(SERVER_KEY, &server.key)?;
    dir.write(SERVER_CERTIFICATE, &server.certificate)?;
    println!(
        "Server certificate {} for: {}",
        dir.path(SERVER_CERTIFICATE).display(),
        names.join(", ")
    );
    println!(
        "Next: corvus --listen 0.0.0.0:{}",
        corvus_protocol::tls::DEFAULT_TLS_PORT
    );
    println!("      corvus tls issue NAME --role viewer|operator|admin --out DIR");
    Ok(())
}

/// The names clients may use for this host: its name, loopback, the
/// addresses of its interfaces, and what the administrator adds.
fn server_names(host: &str, extra: &[String]) -> Vec<String> {
    let mut names = vec![host.to_owned(), "localhost".to_owned()];
    names.extend(["127.0.0.1".to_owned(), "::1".to_owned()]);
    if let Ok(interfaces) = nix::ifaddrs::getifaddrs() {
        for interface in interfaces {
            let Some(address) = interface.address else {
                continue;
            };
            let ip = match (address.as_sockaddr_in(), address.as_sockaddr_in6()) {
                (Some(v4), _) => std::net::IpAddr::V4(v4.ip()),
                (None, Some(v6)) if !v6.ip().is_unicast_link_local() => {
                    std::net::IpAddr::V6(v6.ip())
                }
                _ => continue,
            };
            names.push(ip.to_string());
        }
    }
    names.extend(extra.iter().cloned());
    let mut seen = std::collections::HashSet::new();
    names.retain(|name| !name.is_empty() && seen.insert(name.clone()));
    names
}

/// This host's name, as `tls init` puts it in the server certificate.
pub fn hostname() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|name| name.into_string().ok())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}

fn rfc3339(text: &str) -> anyhow::Result<OffsetDateTime> {
    let parsed = chrono::DateTime::parse_from_rfc3339(text)
        .with_context(|| format!("'{text}' is not an RFC 3339 time"))?;
    Ok(OffsetDateTime::from_unix_timestamp(parsed.timestamp())?)
}

fn issue(
    places: &Places,
    name: &str,
    role: Role,
    validity: Validity,
    out: &Path,
) -> anyhow::Result<()> {
    check_name(name).map_err(anyhow::Error::msg)?;
    let dir = TlsDir::existing(&places.config_dir)?;
    let ca = Ca::load(&dir.read(CA_CERTIFICATE)?, &dir.read(CA_KEY)?)?;
    let key_path = out.join(format!("{name}.key"));
    if key_path.exists() {
        bail!(
            "{} exists: remove it or pass another --out",
            key_path.display()
        );
    }
    let pems = ca.client(name, role, validity)?;
    let der = CertificateDer::from_pem_slice(pems.certificate.as_bytes())
        .context("the new certificate does not read back")?;
    let issued = ClientCertificate::read(&der)?;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(out)
        .with_context(|| format!("cannot create {}", out.display()))?;
    let cert_path = out.join(format!("{name}.crt"));
    let ca_path = out.join(CA_CERTIFICATE);
    write_private(&key_path, &pems.key)?;
    write_private(&cert_path, &pems.certificate)?;
    write_private(&ca_path, &ca.certificate_pem)?;
    dir.record_issued(&issued.serial, &pems.certificate)?;
    println!(
        "Issued '{name}' ({role}, serial {}), valid until {}",
        issued.serial,
        date(issued.not_after)
    );
    println!(
        "On the client: crv remote add REMOTE HOST --cert {} --key {} --ca {}",
        cert_path.display(),
        key_path.display(),
        ca_path.display()
    );
    Ok(())
}

fn date(at: OffsetDateTime) -> String {
    chrono::DateTime::from_timestamp(at.unix_timestamp(), 0)
        .map(|at| at.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_else(|| at.to_string())
}

async fn store(places: &Places) -> anyhow::Result<Store> {
    let store = Store::connect(&places.database).await?;
    store.migrate().await?;
    Ok(store)
}

async fn list(places: &Places) -> anyhow::Result<()> {
    let issued = TlsDir::existing(&places.config_dir)?.issued()?;
    let store = store(places).await?;
    let revoked: std::collections::HashSet<String> = store
        .revoked_serials()
        .await
        .context("cannot read the revocations")?
        .into_iter()
        .collect();
    store.close().await;
    let now = OffsetDateTime::now_utc();
    println!(
        "{:<24} {:<9} {:<14} {:<21} SERIAL",
        "NAME", "ROLE", "STATE", "VALID UNTIL"
    );
    for certificate in issued {
        let state = if revoked.contains(&certificate.serial) {
            "revoked"
        } else if certificate.not_after < now {
            "expired"
        } else if certificate.not_before > now {
            "not yet valid"
        } else {
            "valid"
        };
        println!(
            "{:<24} {:<9} {:<14} {:<21} {}",
            certificate.name,
            certificate.role.as_str(),
            state,
            date(certificate.not_after),
            certificate.serial
        );
    }
    Ok(())
}

async fn revoke(places: &Places, name: &str) -> anyhow::Result<()> {
    let serials: Vec<String> = TlsDir::existing(&places.config_dir)?
        .issued()?
        .into_iter()
        .filter(|c| c.name == name)
        .map(|c| c.serial)
        .collect();
    if serials.is_empty() {
        bail!("no certificate named '{name}' was issued by this CA (see `corvus tls list`)");
    }
    let store = store(places).await?;
    let added = store
        .revoke_certificates(name, &serials)
        .await
        .context("cannot record the revocation");
    store.close().await;
    let added = added?;
    println!(
        "Revoked '{name}': {} certificate{} ({added} newly)",
        serials.len(),
        if serials.len() == 1 { "" } else { "s" }
    );
    match tell_daemon(&places.socket).await {
        Ok(Some(closed)) => println!("The daemon closed {closed} open connection(s) of theirs"),
        Ok(None) => println!(
            "No daemon answers on {}; the revocation applies when it starts",
            places.socket.display()
        ),
        Err(err) => eprintln!(
            "corvus: warning: the daemon on {} did not confirm ({err:#}); it still refuses the certificate at the next handshake, but open connections stay until they end",
            places.socket.display()
        ),
    }
    Ok(())
}

/// Asks the daemon on `socket` to reload the revocations; `None` when no
/// daemon listens there.
async fn tell_daemon(socket: &Path) -> anyhow::Result<Option<u64>> {
    let stream = match tokio::net::UnixStream::connect(socket).await {
        Ok(stream) => stream,
        Err(err)
            if matches!(
                err.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
            ) =>
        {
            return Ok(None);
        }
        Err(err) => return Err(err.into()),
    };
    let exchange = async {
        let mut conn = Connection::<_, ServerMessage, ClientMessage>::new(stream);
        conn.send(ClientMessage::Hello {
            protocol_version: PROTOCOL_VERSION,
            client: format!("corvus tls {}", env!("CARGO_PKG_VERSION")),
        })
        .await?;
        match conn.recv().await? {
            Some(ServerMessage::Welcome { .. }) => {}
            Some(ServerMessage::Reply(Err(err))) => bail!("{err}"),
            other => bail!("unexpected answer to the handshake: {other:?}"),
        }
        match conn.call(Request::ReloadRevocations).await? {
            Response::RevocationsReloaded { closed, .. } => Ok(Some(closed)),
            other => bail!("unexpected answer: {other:?}"),
        }
    };
    tokio::time::timeout(DAEMON_TIMEOUT, exchange)
        .await
        .unwrap_or_else(|_| bail!("no answer within {} s", DAEMON_TIMEOUT.as_secs()))
}
