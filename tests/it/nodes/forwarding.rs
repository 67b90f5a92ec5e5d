//! Requests for another node's VM, forwarded over mutual TLS with node
//! certificates.

use super::*;

/// Copies the files of `from` (a config directory) into `to`.
pub(super) fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    std::fs::set_permissions(to, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_file() {
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
}

/// Node `name` serving TLS on a port of its own, advertised.
pub(super) fn tls_node(url: &str, name: &str, dir: tempfile::TempDir) -> Daemon {
    tls_node_with(url, name, dir, &[])
}

/// `tls_node` with more daemon arguments.
pub(super) fn tls_node_with(
    url: &str,
    name: &str,
    dir: tempfile::TempDir,
    extra: &[&str],
) -> Daemon {
    let address = format!("127.0.0.1:{}", harness::access::free_port());
    let mut options = node_options(name);
    options.extra_args[5] = address.clone();
    options
        .extra_args
        .extend(extra.iter().map(|arg| arg.to_string()));
    options.listen = Some(address);
    options.tls_sans = vec!["127.0.0.1".into()];
    Daemon::start_on(dir, url.to_owned(), options)
}

/// Nodes named `names` on one fresh database, each with `extra`
/// arguments, sharing the first one's CA, each with its node certificate
/// (so that any of them forwards to any other).
pub(super) fn tls_cluster(names: &[&str], extra: &[&str]) -> Option<Vec<Daemon>> {
    let url = Cluster::shared()?.create_database();
    let first = tls_node_with(&url, names[0], temp_dir(), extra);
    let mut nodes = vec![first];
    for name in &names[1..] {
        let dir = temp_dir();
        copy_dir(&nodes[0].config_dir, &dir.path().join("config"));
        nodes.push(tls_node_with(&url, name, dir, extra));
    }
    for (name, node) in names.iter().zip(&nodes) {
        let out = node.config_dir.join("node");
        nodes[0]
            .corvus(&[
                "tls",
                "issue",
                name,
                "--role",
                "node",
                "--out",
                out.to_str().unwrap(),
            ])
            .ok();
    }
    Some(nodes)
}

/// With node certificates (`corvus tls issue NODE --role node`), a request
/// for another live node's VM is passed to that node: started through b,
/// fw runs as a's child, stops through b, and a records the client as b's.
/// Without a node certificate the same request is refused (as above).
#[test]
fn a_request_for_another_nodes_vm_is_forwarded_to_it() {
    let Some(cluster) = Cluster::shared() else {
        return;
    };
    let url = cluster.create_database();
    let a = tls_node(&url, "a", temp_dir());
    // One CA for both nodes: b gets a copy of a's (and its server certificate).
    let b_dir = temp_dir();
    copy_dir(&a.config_dir, &b_dir.path().join("config"));
    let b = tls_node(&url, "b", b_dir);
    b.create_firmware_vm("fw", &["--node", "a"]);
    b.crv(&["vm", "start", "fw"]).fails(1, "its own socket");

    for (name, node) in [("a", &a), ("b", &b)] {
        let out = node.config_dir.join("node");
        a.corvus(&[
            "tls",
            "issue",
            name,
            "--role",
            "node",
            "--out",
            out.to_str().unwrap(),
        ])
        .ok();
    }
    let started = b.crv(&["--json", "vm", "start", "fw"]).json();
    assert_eq!(
        (started["status"].as_str(), started["node"].as_str()),
        (Some("running"), Some("a")),
        "{started}"
    );
    let pid = started["pid"].as_u64().expect("a pid");
    assert_eq!(parent_of(pid), Some(a.pid().unwrap()), "QEMU is a's child");
    assert!(qemus_in(&b.runtime).is_empty(), "b started no QEMU");
    let stats = b.crv(&["--json", "vm", "stats", "fw"]).json();
    assert_eq!(stats["pid"].as_u64(), Some(pid), "{stats}");
    let history = a.history("fw");
    let cause = history.last().expect("events")["cause"].to_string();
    assert!(cause.contains("via b"), "{cause}");
    // --wait follows fw's events, which b hears from a.
    let stopped = b
        .crv(&["--json", "vm", "stop", "fw", "--timeout", "1", "--wait"])
        .json();
    assert_eq!(stopped["status"], "stopped", "{stopped}");
    assert_eq!(a.show("fw")["status"], "stopped");
    // A node certificate is no client certificate: it only forwards.
    let as_node = b.remote("a", "node");
    b.crv_via(as_node, &["vm", "list"])
        .fails(1, "only passes on");
}

/// Sends `Forwarded` to `daemon`'s TLS listener with the certificate in
/// `files`, as a node would; returns the answer.
fn forward_as(
    daemon: &Daemon,
    files: &harness::remote::Issued,
) -> Result<corvus_protocol::Response, corvus_protocol::WireError> {
    use corvus_protocol::{
        CallError, ClientMessage, Connection, PROTOCOL_VERSION, Request, Role, ServerMessage, VmRef,
    };
    let read = |path: &std::path::Path| std::fs::read(path).unwrap();
    let (certificate, key, ca) = (read(&files.certificate), read(&files.key), read(&files.ca));
    let tls = corvus_protocol::tls::client_config(corvus_protocol::tls::ClientPems {
        ca: &ca,
        certificate: &certificate,
        key: &key,
    })
    .unwrap();
    let (host, port) = daemon.listen_address().rsplit_once(':').unwrap();
    let (host, port) = (host.to_owned(), port.parse::<u16>().unwrap());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let stream = corvus_protocol::tls::connect(tls, &host, port)
            .await
            .unwrap();
        let mut connection: Connection<_, ServerMessage, ClientMessage> = Connection::new(stream);
        connection
            .send(ClientMessage::Hello {
                protocol_version: PROTOCOL_VERSION,
                client: "a node".into(),
            })
            .await
            .unwrap();
        assert!(matches!(
            connection.recv().await.unwrap(),
            Some(ServerMessage::Welcome { .. })
        ));
        let forwarded = Request::Forwarded {
            client: "mallory".into(),
            role: Role::Admin,
            request: Box::new(Request::DeleteVm {
                vm: VmRef::Name("fw".into()),
            }),
        };
        match connection.call(forwarded).await {
            Ok(response) => Ok(response),
            Err(CallError::Refused(err)) => Err(err),
            Err(other) => panic!("{other}"),
        }
    })
}

/// Only a registered node forwards: a node certificate of another name is
/// refused, and a node's own name sent to itself too; nothing is done.
#[test]
fn a_node_certificate_of_no_registered_node_is_refused() {
    let Some(cluster) = Cluster::shared() else {
        return;
    };
    let url = cluster.create_database();
    let a = tls_node(&url, "a", temp_dir());
    a.create_firmware_vm("fw", &[]);
    for name in ["ghost", "a"] {
        let files = a.issue(name, "node", &[]);
        let refused = forward_as(&a, &files).expect_err("refused");
        assert!(
            matches!(
                refused.kind,
                corvus_protocol::ErrorKind::PermissionDenied { .. }
            ),
            "{refused:?}"
        );
        assert!(refused.message.contains("no other node"), "{refused:?}");
    }
    assert_eq!(a.show("fw")["name"], "fw", "still there");
}

/// Established TCP connections of process `pid` to local port `port`.
fn connections_to(pid: u32, port: &str) -> usize {
    let out = std::process::Command::new("ss")
        .args(["-Htnp", "state", "established"])
        .output()
        .expect("ss (iproute2)");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|line| {
            let peer = line.split_whitespace().nth(3).unwrap_or("");
            peer.ends_with(&format!(":{port}")) && line.contains(&format!("pid={pid},"))
        })
        .count()
}

/// Forwards go out on a kept connection rather than a new TLS handshake
/// each; and a kept connection the owner closed (it restarted) is seen
/// before a request goes out on it, so the next forward simply works.
#[test]
fn forwards_reuse_a_kept_connection_and_survive_an_owner_restart() {
    let Some(mut nodes) = tls_cluster(&["a", "b"], &[]) else {
        return;
    };
    let b = nodes.pop().unwrap();
    let mut a = nodes.pop().unwrap();
    let port = a.options.listen.clone().unwrap();
    let port = port.rsplit_once(':').unwrap().1.to_owned();
    b.create_firmware_vm("fw", &["--node", "a"]);
    for _ in 0..10 {
        b.crv(&["vm", "snapshot", "list", "fw"]).ok();
    }
    let b_pid = b.pid().unwrap();
    assert_eq!(
        connections_to(b_pid, &port),
        1,
        "ten forwards in a row share one connection to a"
    );

    a.restart();
    let listed = b.crv(&["vm", "snapshot", "list", "fw"]);
    listed.ok();
    assert_eq!(connections_to(b_pid, &port), 1);
}
