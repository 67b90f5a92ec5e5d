//! Cloud guests (issue 15): the cloud-init seed a VM gets at each start,
//! `vm cloud-init show|set|clear`, and port forwards on user NICs, checked
//! on a real QEMU through its monitor (`info block`, `info usernet`).

use harness::access::{free_port, hmp};
use harness::{Daemon, Db};
use serde_json::Value;
use std::path::{Path, PathBuf};

const KEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGJ4Y29ydnVzLXRlc3Qta2V5LW9ubHktZm9yLXRlc3Rz alice@test";
const OTHER_KEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHNlY29uZC1jb3J2dXMtdGVzdC1rZXktZm9yLXRlc3Rz alice@laptop";

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_owned()
}

fn seed_of(vm: &Value) -> PathBuf {
    Path::new(vm["runtime"]["dir"].as_str().unwrap()).join("seed.img")
}

/// The seed's bytes hold its files' text as is (FAT does not compress).
fn seed_holds(seed: &Path, text: &str) -> bool {
    let bytes = std::fs::read(seed).unwrap_or_default();
    bytes
        .windows(text.len())
        .any(|window| window == text.as_bytes())
}

fn cloud_init_and_forwards_reach_qemu(db: Db) {
    let Some(daemon) = Daemon::start(db) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let key = write(dir.path(), "id_test.pub", &format!("{KEY}\n"));
    let user_data = write(
        dir.path(),
        "user-data",
        "#cloud-config\nwrite_files:\n  - path: /etc/corvus-test\n    content: hello\n",
    );
    let port = free_port();
    let forward = format!("tcp:{port}:22");
    daemon.create_firmware_vm(
        "web",
        &[
            "--user",
            "alice",
            "--ssh-key",
            &key,
            "--hostname",
            "webhost",
            "--user-data",
            &user_data,
            "--forward",
            &forward,
        ],
    );
    let vm = daemon.show("web");
    assert_eq!(vm["cloud_init"]["user"], "alice", "{vm}");
    assert_eq!(vm["cloud_init"]["hostname"], "webhost");
    assert_eq!(vm["cloud_init"]["ssh_keys"][0], KEY);
    assert_eq!(vm["guest_agent"], true, "cloud-init turns the agent on");
    let nic = &vm["network_interfaces"][0];
    assert_eq!(nic["type"], "user");
    assert_eq!(nic["forwards"][0]["host_port"], port);
    assert_eq!(nic["forwards"][0]["host_address"], "127.0.0.1");
    assert_eq!(nic["forwards"][0]["guest_port"], 22);
    let iid = vm["cloud_init"]["instance_id"].as_str().unwrap().to_owned();
    let shown = daemon.crv(&["vm", "cloud-init", "show", "web"]).ok();
    assert!(
        shown.contains(&iid) && shown.contains("write_files"),
        "{shown}"
    );
    let human = daemon.crv(&["vm", "show", "web"]).ok();
    assert!(
        human.contains(&forward.replace("tcp:", "tcp:127.0.0.1:")),
        "{human}"
    );

    daemon.crv(&["vm", "start", "web"]).ok();
    let seed = seed_of(&vm);
    assert!(seed_holds(&seed, "CIDATA"), "the seed is labelled CIDATA");
    assert!(seed_holds(&seed, &format!("instance-id: {iid}")));
    assert!(seed_holds(&seed, "local-hostname: webhost"));
    assert!(
        seed_holds(&seed, "Merge-Type: list(append)"),
        "user-data merged"
    );
    assert!(seed_holds(&seed, "/etc/corvus-test"));
    let block = hmp(&daemon, "web", "info block");
    let seed_line = block
        .lines()
        .find(|line| line.starts_with("seed"))
        .unwrap_or_else(|| panic!("no seed drive: {block}"));
    assert!(seed_line.contains("read-only"), "{seed_line}");
    let usernet = hmp(&daemon, "web", "info usernet");
    assert!(
        usernet.contains("HOST_FORWARD") && usernet.contains(&format!(" {port} ")),
        "{usernet}"
    );
    assert!(
        std::net::TcpListener::bind(("127.0.0.1", port)).is_err(),
        "QEMU holds the forwarded port"
    );

    // The agent's channel is there, but no agent answers in firmware.
    let started = std::time::Instant::now();
    daemon
        .crv(&["vm", "exec", "web", "--timeout", "2", "--", "true"])
        .fails(1, "did not answer");
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    daemon
        .crv(&["vm", "ip", "web", "--timeout", "1"])
        .fails(1, "did not answer");
    assert_eq!(daemon.show("web")["agent"], "not responding");

    // A second VM asking for the same port fails to start, naming the first.
    daemon.create_firmware_vm("copy", &["--forward", &forward]);
    let refused = daemon
        .crv(&["vm", "start", "copy"])
        .fails(1, &format!("host port {port}"));
    assert!(refused.contains("VM 'web'"), "{refused}");

    // Changes wait for a stopped VM; a new key makes a new instance-id.
    daemon
        .crv(&["vm", "cloud-init", "set", "web", "--ssh-key", OTHER_KEY])
        .fails(1, "stop");
    daemon.crv(&["vm", "reset", "web"]).ok();
    let changed = daemon
        .crv(&[
            "--json",
            "vm",
            "cloud-init",
            "set",
            "web",
            "--ssh-key",
            OTHER_KEY,
        ])
        .json();
    let new_iid = changed["cloud_init"]["instance_id"].as_str().unwrap();
    assert_ne!(new_iid, iid);
    assert_eq!(
        changed["cloud_init"]["ssh_keys"],
        serde_json::json!([OTHER_KEY])
    );
    assert_eq!(changed["cloud_init"]["user"], "alice", "the rest is kept");
    daemon.crv(&["vm", "start", "web"]).ok();
    assert!(seed_holds(&seed, &format!("instance-id: {new_iid}")));
    daemon.crv(&["vm", "reset", "web"]).ok();

    // Cleared: no seed at the next start.
    daemon.crv(&["vm", "cloud-init", "clear", "web"]).ok();
    assert_eq!(daemon.show("web")["cloud_init"], Value::Null);
    daemon
        .crv(&["vm", "cloud-init", "clear", "web"])
        .fails(1, "no cloud-init configuration");
    daemon.crv(&["vm", "start", "web"]).ok();
    let block = hmp(&daemon, "web", "info block");
    assert!(!block.lines().any(|l| l.starts_with("seed")), "{block}");
    daemon.crv(&["vm", "reset", "web"]).ok();
}

on_both_databases!(cloud_init_and_forwards_reach_qemu);

#[test]
fn bad_cloud_input_is_refused_clearly() {
    let Some(daemon) = Daemon::start(Db::Sqlite) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let private = write(
        dir.path(),
        "id_ed25519",
        "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjE=\n-----END OPENSSH PRIVATE KEY-----\n",
    );
    let create = |extra: &[&str]| {
        let mut args = vec!["vm", "create", "bad", "--cpus", "1", "--ram", "64"];
        args.extend_from_slice(extra);
        daemon.crv(&args)
    };
    create(&["--ssh-key", &private]).fails(2, "is a private key");
    create(&["--ssh-key", "/nonexistent/key.pub"]).fails(2, "/nonexistent/key.pub");
    create(&["--ssh-key", "ssh-ed25519 !!!notbase64 x"]).fails(1, "not base64");
    let yaml = write(
        dir.path(),
        "bad.yaml",
        "#cloud-config\npackages:\n  - vim\n - git\n",
    );
    create(&["--user-data", &yaml]).fails(1, "line 4, column 2");
    let text = write(dir.path(), "text", "packages: [vim]\n");
    create(&["--user-data", &text]).fails(1, "#cloud-config");
    create(&["--user", "Alice Smith"]).fails(1, "Invalid user name");
    create(&["--forward", "tcp:0:22"]).fails(2, "port is 0");
    create(&["--forward", "2222:70000"]).fails(2, "over 65535");
    create(&["--forward", "sctp:2222:22"]).fails(2, "unknown protocol 'sctp'");
    create(&["--forward", "2222:22", "--forward", "2222:80"]).fails(1, "forwarded twice");
    assert_eq!(
        daemon.crv(&["--json", "vm", "list"]).json(),
        serde_json::json!([])
    );

    daemon.create_firmware_vm("net", &[]);
    daemon
        .crv(&[
            "vm",
            "net",
            "add",
            "net",
            "--type",
            "tap",
            "--forward",
            "2222:22",
        ])
        .fails(1, "need a user network");
    daemon
        .crv(&["vm", "cloud-init", "set", "net"])
        .fails(1, "Nothing to change");
    daemon
        .crv(&["vm", "exec", "net", "--", "true"])
        .fails(1, "no guest agent channel");
    assert_eq!(daemon.show("net")["agent"], "off");

    // A port some other process holds fails the start, naming the port.
    let holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = holder.local_addr().unwrap().port();
    let spec = format!("{port}:80");
    daemon
        .crv(&[
            "vm",
            "net",
            "add",
            "net",
            "--type",
            "user",
            "--forward",
            &spec,
        ])
        .ok();
    let err = daemon
        .crv(&["vm", "start", "net"])
        .fails(1, &format!("host port {port}"));
    assert!(err.contains("in use by another process"), "{err}");
    let net = daemon.show("net");
    assert_eq!(net["status"], "error");
    let last_error = net["last_error"].as_str().unwrap();
    assert!(
        last_error.contains(&format!("Host port {port}")),
        "{last_error}"
    );
}
