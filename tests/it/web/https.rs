//! `--http` off loopback: HTTPS only, with the certificates of `corvus tls
//! init`; a `crv web` token or a client certificate from the daemon's CA
//! logs a browser in, and the cookie is then `Secure`.

use harness::access::{Via, free_port};
use harness::prereq::binary;
use harness::web::{http_client, login_with};
use harness::{Daemon, DaemonOptions, Db};
use reqwest::header::COOKIE;
use std::process::Command;

#[test]
fn off_loopback_without_certificates_the_daemon_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(binary("corvus"))
        .arg("--socket")
        .arg(dir.path().join("corvus.sock"))
        .arg("--runtime-dir")
        .arg(dir.path().join("run"))
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .arg("--config-dir")
        .arg(dir.path().join("config"))
        .arg("--database")
        .arg(format!(
            "sqlite://{}",
            dir.path().join("corvus.db").display()
        ))
        .args(["--http", &format!("0.0.0.0:{}", free_port())])
        .env_remove("CORVUS_SOCKET")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(
        stderr.contains("HTTPS") && stderr.contains("corvus tls init"),
        "says why and what to do: {stderr}"
    );
}

#[test]
fn off_loopback_the_console_is_https_with_a_token_or_a_client_certificate() {
    let port = free_port();
    let options = DaemonOptions {
        listen: Some(format!("127.0.0.1:{}", free_port())),
        extra_args: vec!["--http".into(), format!("0.0.0.0:{port}")],
        ..DaemonOptions::default()
    };
    let Some(daemon) = Daemon::start_with(Db::Sqlite, options) else {
        return;
    };
    let operator = daemon.issue("otto", "operator", &[]);
    let ca = std::fs::read(&operator.ca).unwrap();
    let link = daemon.web_link(Via::Unix);
    assert!(link.starts_with("https://"), "{link}");
    // The link names this host as the certificate does; reach it on loopback.
    let host = link["https://".len()..]
        .split(':')
        .next()
        .unwrap()
        .to_owned();
    let loopback = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let client = reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(&ca).unwrap())
        .resolve(&host, loopback)
        .build()
        .unwrap();
    let base = format!("https://{host}:{port}");
    let session = login_with(client, &base, &link);
    assert!(
        session.set_cookie.contains("Secure"),
        "{}",
        session.set_cookie
    );
    assert_eq!(session.whoami["role"], "admin");

    // Plain HTTP gets no answer from a TLS port.
    let plain = http_client(None)
        .get(format!("http://127.0.0.1:{port}/api/session"))
        .header(COOKIE, &session.cookie)
        .send();
    assert!(
        plain.map_or(true, |answer| !answer.status().is_success()),
        "plain HTTP is not served"
    );

    // A browser holding a client certificate logs in with its role, no token.
    let mut pem = std::fs::read(&operator.certificate).unwrap();
    pem.extend(std::fs::read(&operator.key).unwrap());
    let with_certificate = reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(&ca).unwrap())
        .identity(reqwest::Identity::from_pem(&pem).unwrap())
        .resolve(&host, loopback)
        .build()
        .unwrap();
    let answer = with_certificate
        .get(format!("{base}/login"))
        .send()
        .unwrap();
    assert_eq!(answer.status().as_u16(), 303);
    let cookie = answer.headers()["set-cookie"].to_str().unwrap();
    let cookie = cookie.split(';').next().unwrap().to_owned();
    let whoami: serde_json::Value = with_certificate
        .get(format!("{base}/api/session"))
        .header(COOKIE, cookie)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(whoami["role"], "operator", "{whoami}");
    assert_eq!(whoami["client"], "web:otto", "{whoami}");
}
