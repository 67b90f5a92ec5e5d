//! Remote access (issue 18), the clients that are turned away: a
//! certificate from another CA, expired, not yet valid, of the wrong kind,
//! none at all, plain TCP or garbage on the TLS port, a stalled handshake,
//! too many connections, and a revoked certificate (whose open stream is
//! closed). Each costs the daemon one log line, and the others keep being
//! served.

use crate::remote_roles::tls_options;
use corvus_protocol::tls::roots;
use corvus_protocol::{ClientMessage, Connection, PROTOCOL_VERSION, ServerMessage};
use harness::access::Via;
use harness::postgres::wait_until;
use harness::prereq::binary;
use harness::remote::Issued;
use harness::{Daemon, DaemonOptions, Db};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

const QUICK: Duration = Duration::from_secs(10);
/// What the daemon logs for each connection it turns away at the handshake.
const HANDSHAKE_LINE: &str = "TLS handshake";

/// Waits for the daemon's log to hold `n` handshake refusals.
#[track_caller]
fn refusals_reach(daemon: &Daemon, n: usize) {
    let reached = wait_until(QUICK, || daemon.log().matches(HANDSHAKE_LINE).count() >= n);
    let count = daemon.log().matches(HANDSHAKE_LINE).count();
    assert!(
        reached && count == n,
        "{count} refusals logged, expected {n}:\n{}",
        daemon.log()
    );
}

/// Reads until the daemon closes the connection; panics if it does not
/// within `within`. Returns how long that took.
#[track_caller]
fn closed_by_daemon(stream: &mut TcpStream, within: Duration) -> Duration {
    let started = Instant::now();
    stream.set_read_timeout(Some(within)).unwrap();
    let mut buffer = [0u8; 4096];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => return started.elapsed(),
            Ok(_) => continue,
            Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => {
                panic!("the daemon left the connection open for {within:?}")
            }
            Err(_) => return started.elapsed(),
        }
    }
}

fn port_of(daemon: &Daemon) -> u16 {
    let address = daemon.listen_address();
    address.rsplit_once(':').unwrap().1.parse().unwrap()
}

/// A TLS client with the daemon's CA but no certificate of its own.
fn without_certificate(daemon: &Daemon) -> std::io::Result<()> {
    let ca = std::fs::read(daemon.config_dir.join("ca.crt")).unwrap();
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_protocol_versions(&[&rustls::version::TLS13])
    .unwrap()
    .with_root_certificates(roots(&ca).unwrap())
    .with_no_client_auth();
    let port = port_of(daemon);
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async move {
            let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
            let name = corvus_protocol::tls::server_name("127.0.0.1").unwrap();
            let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
                .connect(name, tcp)
                .await?;
            let mut conn = Connection::<_, ServerMessage, ClientMessage>::new(tls);
            conn.send(ClientMessage::Hello {
                protocol_version: PROTOCOL_VERSION,
                client: "test".into(),
            })
            .await
            .map_err(std::io::Error::other)?;
            match conn.recv().await {
                Ok(Some(message)) => {
                    panic!("a client without a certificate was answered: {message:?}")
                }
                Ok(None) => Ok(()),
                Err(err) => Err(std::io::Error::other(err)),
            }
        })
}

/// Every bad client of the issue's list, one after the other, while a good
/// client keeps its event stream open and keeps being answered.
#[test]
fn bad_clients_are_refused_with_one_log_line_each_while_others_are_served() {
    let base = DaemonOptions {
        extra_args: [
            "--handshake-timeout",
            "2",
            "--max-connections-per-client",
            "3",
        ]
        .map(String::from)
        .to_vec(),
        ..DaemonOptions::default()
    };
    let Some(daemon) = Daemon::start_with(Db::Sqlite, tls_options(base)) else {
        return;
    };
    let good = daemon.remote("good", "viewer");
    let mut watching = daemon.crv_background(good, &["events"]);
    let serving = || daemon.crv_via(good, &["ping"]).ok();
    let mut refused = 0;

    // A certificate from another CA, made by another `corvus tls`.
    let elsewhere = daemon.dir.path().join("elsewhere");
    let other_ca = |args: &[&str]| {
        let output = std::process::Command::new(binary("corvus"))
            .arg("--config-dir")
            .arg(&elsewhere)
            .args(args)
            .output()
            .unwrap();
        assert!(output.status.success(), "{output:?}");
    };
    other_ca(&["tls", "init"]);
    let out = daemon.dir.path().join("mallory");
    other_ca(&[
        "tls",
        "issue",
        "mallory",
        "--role",
        "admin",
        "--out",
        out.to_str().unwrap(),
    ]);
    let stranger = Issued {
        certificate: out.join("mallory.crt"),
        key: out.join("mallory.key"),
        // The client trusts our daemon; the daemon must not trust the client.
        ca: daemon.config_dir.join("ca.crt"),
    };
    daemon.add_remote("stranger", daemon.listen_address(), &stranger);
    daemon
        .crv_via(Via::Remote("stranger"), &["vm", "list"])
        .fails(1, "this daemon's CA did not issue it");
    refused += 1;
    refusals_reach(&daemon, refused);
    serving();
    // And the other way round: crv does not trust a daemon its CA did not certify.
    let mut wary = daemon.issue("wary", "viewer", &[]);
    wary.ca = elsewhere.join("ca.crt");
    daemon.add_remote("wary", daemon.listen_address(), &wary);
    let distrust = daemon
        .crv_via(Via::Remote("wary"), &["ping"])
        .fails(1, "the daemon's certificate is not trusted");
    assert!(distrust.contains("corvus tls init --san"), "{distrust}");
    refused += 1;
    refusals_reach(&daemon, refused);

    // Expired, and not yet valid: issued with a validity window elsewhere in time.
    for (name, from, to) in [
        ("expired", "2020-01-01T00:00:00Z", "2020-02-01T00:00:00Z"),
        ("early", "2099-01-01T00:00:00Z", "2099-02-01T00:00:00Z"),
    ] {
        let files = daemon.issue(name, "admin", &["--not-before", from, "--not-after", to]);
        daemon.add_remote(name, daemon.listen_address(), &files);
        daemon
            .crv_via(Via::Remote(name), &["ping"])
            .fails(1, "it expired, or is not valid yet");
        refused += 1;
        refusals_reach(&daemon, refused);
    }
    let listed = daemon.corvus(&["tls", "list"]).ok();
    assert!(
        listed
            .lines()
            .any(|l| l.starts_with("expired") && l.contains("expired")),
        "{listed}"
    );
    assert!(
        listed
            .lines()
            .any(|l| l.starts_with("early") && l.contains("not yet valid")),
        "{listed}"
    );

    // The wrong key usage: the daemon's own server certificate as a client's.
    let server = Issued {
        certificate: daemon.config_dir.join("server.crt"),
        key: daemon.config_dir.join("server.key"),
        ca: daemon.config_dir.join("ca.crt"),
    };
    daemon.add_remote("impostor", daemon.listen_address(), &server);
    daemon
        .crv_via(Via::Remote("impostor"), &["ping"])
        .fails(1, "it is not a client certificate");
    refused += 1;
    refusals_reach(&daemon, refused);

    // No client certificate at all.
    let answer = without_certificate(&daemon);
    assert!(answer.is_err(), "{answer:?}");
    refused += 1;
    refusals_reach(&daemon, refused);
    serving();

    // Plain Corvus frames, and garbage, instead of a ClientHello.
    let mut plain = TcpStream::connect(("127.0.0.1", port_of(&daemon))).unwrap();
    let mut hello = Vec::new();
    let frame = postcard::to_stdvec(&ClientMessage::Hello {
        protocol_version: PROTOCOL_VERSION,
        client: "plain".into(),
    })
    .unwrap();
    hello.extend_from_slice(&(frame.len() as u64).to_be_bytes());
    hello.extend_from_slice(&frame);
    plain.write_all(&hello).unwrap();
    closed_by_daemon(&mut plain, QUICK);
    refused += 1;
    refusals_reach(&daemon, refused);
    let mut garbage = TcpStream::connect(("127.0.0.1", port_of(&daemon))).unwrap();
    garbage
        .write_all(b"GET / HTTP/1.1\r\nHost: corvus\r\n\r\n")
        .unwrap();
    closed_by_daemon(&mut garbage, QUICK);
    refused += 1;
    refusals_reach(&daemon, refused);

    // A handshake that starts and stalls: closed after --handshake-timeout,
    // and nobody else waits for it meanwhile.
    let mut stalled = TcpStream::connect(("127.0.0.1", port_of(&daemon))).unwrap();
    stalled
        .write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01])
        .unwrap();
    let started = Instant::now();
    serving();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "served during the stall"
    );
    let waited = closed_by_daemon(&mut stalled, QUICK);
    assert!(
        waited >= Duration::from_millis(1500),
        "closed after {waited:?}"
    );
    refused += 1;
    refusals_reach(&daemon, refused);
    assert!(
        daemon
            .log()
            .contains("TLS handshake not done in time (--handshake-timeout)"),
        "{}",
        daemon.log()
    );

    // Too many connections for one client: `good` holds one (its stream)
    // and may hold three; another client is not affected.
    let hellos = || {
        daemon
            .log()
            .matches("client=good role=viewer program=")
            .count()
    };
    let before = hellos();
    let mut held = vec![
        daemon.crv_background(good, &["events"]),
        daemon.crv_background(good, &["events"]),
    ];
    let full = wait_until(QUICK, || hellos() >= before + 2);
    assert!(full, "{}", daemon.log());
    daemon.crv_via(good, &["ping"]).fails(
        1,
        "good already holds 3 connections, the most one client may",
    );
    assert_eq!(
        daemon
            .log()
            .matches("refusing a client at its connection limit")
            .count(),
        1
    );
    let other = daemon.remote("other", "viewer");
    daemon.crv_via(other, &["ping"]).ok();
    for stream in &mut held {
        stream.kill();
    }
    let freed = wait_until(QUICK, || daemon.crv_via(good, &["ping"]).code() == 0);
    assert!(freed, "the connections held were given back");

    assert!(
        watching.wait_exit(Duration::ZERO).is_none(),
        "the good client's stream survived: {}",
        watching.stderr()
    );
    assert_eq!(daemon.log().matches(HANDSHAKE_LINE).count(), refused);
}

/// A revoked certificate is refused at the next handshake and its open
/// event stream is closed; revocations live in the database, so a
/// revocation the daemon was not told about is caught at the handshake,
/// and a restarted daemon still refuses them.
fn a_revoked_certificate_is_refused_and_its_stream_closed(db: Db) {
    let Some(mut daemon) = Daemon::start_with(db, tls_options(DaemonOptions::default())) else {
        return;
    };
    let carol = daemon.remote("carol", "viewer");
    let dave = daemon.remote("dave", "viewer");
    let mut stream = daemon.crv_background(carol, &["events"]);
    // Subscribed, not only connected: the daemon names the stream's connection.
    let streaming = wait_until(QUICK, || {
        let log = daemon.log();
        let connection = log
            .lines()
            .find(|line| line.contains("client=carol role=viewer program="))
            .and_then(|line| line.split("connection=").nth(1))
            .and_then(|rest| rest.split_whitespace().next())
            .map(|id| format!("connection={id}"));
        connection.is_some_and(|id| {
            log.lines().any(|line| {
                line.contains("event stream open")
                    && line.split_whitespace().any(|field| field == id)
            })
        })
    });
    assert!(streaming, "{}", daemon.log());

    let revoked = daemon.corvus(&["tls", "revoke", "carol"]).ok();
    assert!(
        revoked.contains("Revoked 'carol'") && revoked.contains("closed 1 open connection"),
        "{revoked}"
    );
    stream.expect_exit(1, QUICK);
    assert!(
        stream
            .stderr()
            .contains("the daemon ended the event stream"),
        "{}",
        stream.stderr()
    );
    daemon.crv_via(carol, &["ping"]).fails(1, "it was revoked");
    daemon.crv_via(dave, &["ping"]).ok();
    let listed = daemon.corvus(&["tls", "list"]).ok();
    assert!(
        listed
            .lines()
            .any(|l| l.starts_with("carol") && l.contains("revoked")),
        "{listed}"
    );
    assert!(
        listed
            .lines()
            .any(|l| l.starts_with("dave") && l.contains("valid")),
        "{listed}"
    );

    // Revoked while the daemon was not told (another socket): the database
    // says so at the next handshake, and the daemon remembers.
    let erin = daemon.remote("erin", "viewer");
    daemon.crv_via(erin, &["ping"]).ok();
    let unannounced = daemon
        .corvus_command()
        .arg("--socket")
        .arg(daemon.dir.path().join("nobody-here.sock"))
        .args(["tls", "revoke", "erin"])
        .output()
        .unwrap();
    assert!(unannounced.status.success(), "{unannounced:?}");
    assert!(String::from_utf8_lossy(&unannounced.stdout).contains("No daemon answers"));
    daemon
        .crv_via(erin, &["ping"])
        .fails(1, "the certificate of 'erin' was revoked");
    assert!(
        daemon
            .log()
            .contains("TLS client with a revoked certificate; connection closed"),
        "{}",
        daemon.log()
    );
    daemon.crv_via(erin, &["ping"]).fails(1, "it was revoked");

    daemon.restart();
    daemon.crv_via(carol, &["ping"]).fails(1, "it was revoked");
    daemon.crv_via(erin, &["ping"]).fails(1, "it was revoked");
    daemon.crv_via(dave, &["ping"]).ok();
    // Revoking a name the CA never issued is an error.
    daemon
        .corvus(&["tls", "revoke", "zed"])
        .fails(1, "no certificate named 'zed' was issued by this CA");
}

on_both_databases!(a_revoked_certificate_is_refused_and_its_stream_closed);

/// Past `--max-connections`, a TLS client is told so, inside TLS, like a
/// local one.
#[test]
fn past_max_connections_a_tls_client_is_told_the_limit() {
    let base = DaemonOptions {
        extra_args: ["--max-connections", "2"].map(String::from).to_vec(),
        ..DaemonOptions::default()
    };
    let Some(daemon) = Daemon::start_with(Db::Sqlite, tls_options(base)) else {
        return;
    };
    let far = daemon.remote("far", "viewer");
    let held = [
        daemon.crv_background(Via::Unix, &["events"]),
        daemon.crv_background(far, &["events"]),
    ];
    let full = wait_until(QUICK, || {
        daemon.log().matches("program=").count() >= 2 && daemon.crv_via(far, &["ping"]).code() == 1
    });
    assert!(full, "{}", daemon.log());
    daemon
        .crv_via(far, &["ping"])
        .fails(1, "the daemon already serves 2 connections, its maximum");
    drop(held);
    let served = wait_until(QUICK, || daemon.crv_via(far, &["ping"]).code() == 0);
    assert!(served, "{}", daemon.log());
}

/// Clients that stall in their TLS handshake never take every place under
/// `--max-connections`: past 128 handshakes under way, new TLS clients are
/// closed at once, and local clients are still served.
#[test]
fn stalled_handshakes_never_take_every_place() {
    let base = DaemonOptions {
        extra_args: ["--max-connections", "130", "--handshake-timeout", "60"]
            .map(String::from)
            .to_vec(),
        ..DaemonOptions::default()
    };
    let Some(daemon) = Daemon::start_with(Db::Sqlite, tls_options(base)) else {
        return;
    };
    let port = port_of(&daemon);
    let stalled: Vec<TcpStream> = (0..140)
        .map(|_| {
            let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
            stream.write_all(&[0x16, 0x03, 0x01]).unwrap();
            stream
        })
        .collect();
    let warned = wait_until(QUICK, || {
        daemon
            .log()
            .contains("closing new TLS clients at once: too many handshakes are under way")
    });
    assert!(warned, "{}", daemon.log());
    daemon.crv(&["ping"]).ok();
    // The ones past the limit were closed; the first 128 are still waiting.
    let closed = stalled.iter().filter(|stream| is_closed(stream)).count();
    assert_eq!(closed, 140 - 128, "{}", daemon.log());
}

/// Whether the daemon closed `stream` (it sends nothing to a stalled one).
fn is_closed(mut stream: &TcpStream) -> bool {
    stream
        .set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    match stream.read(&mut [0u8; 16]) {
        // Closed (0), or an alert before closing: either way not waiting.
        Ok(_read) => true,
        Err(err) => !matches!(
            err.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
    }
}
