//! Remote access (issue 18), what each client may do: certificates made by
//! `corvus tls` itself for the three roles, used over mutual TLS by `crv
//! --remote`; the read-only viewer socket for a group; plain TCP only on
//! loopback, with a warning.

use harness::access::{Via, free_port};
use harness::guest::BOOT_TIMEOUT;
use harness::postgres::wait_until;
use harness::prereq::{binary, is_root, require};
use harness::{Daemon, DaemonOptions, Db, Guest};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::Duration;

const QUICK: Duration = Duration::from_secs(10);

pub fn tls_options(base: DaemonOptions) -> DaemonOptions {
    DaemonOptions {
        listen: Some(format!("127.0.0.1:{}", free_port())),
        ..base
    }
}

/// A viewer looks and follows events but may not start; an operator
/// starts and uses the console over TLS but may not delete; an admin may
/// do anything; every event and audit line names the client.
#[test]
fn each_role_does_what_it_may_over_tls_and_events_name_the_client() {
    let Some(guest) = Guest::get() else { return };
    let Some(daemon) = Daemon::start_with(Db::Sqlite, tls_options(DaemonOptions::tcg())) else {
        return;
    };
    let viewer = daemon.remote("vera", "viewer");
    let operator = daemon.remote("otto", "operator");
    let admin = daemon.remote("ada", "admin");
    let list = daemon.corvus(&["tls", "list"]).ok();
    for (name, role) in [("vera", "viewer"), ("otto", "operator"), ("ada", "admin")] {
        let line = list
            .lines()
            .find(|line| line.starts_with(name))
            .unwrap_or_else(|| panic!("{name} not listed:\n{list}"));
        assert!(line.contains(role) && line.contains("valid"), "{line}");
    }
    let status = daemon.crv_via(viewer, &["--json", "status"]).json();
    assert_eq!(
        (status["client"].as_str(), status["role"].as_str()),
        (Some("vera"), Some("viewer"))
    );
    assert_eq!(status["tls"].as_str(), Some(daemon.listen_address()));

    let id = daemon.create_guest_vm(guest, "web", "", &[]);
    // The viewer lists and follows events...
    assert!(daemon.crv_via(viewer, &["vm", "list"]).ok().contains("web"));
    let mut following = daemon.crv_background(viewer, &["events", "--since", "0"]);
    // ...and is refused everything else, with the role it would need.
    let refused = daemon
        .crv_via(viewer, &["vm", "start", "web"])
        .fails(1, "permission denied");
    assert!(
        refused.contains("`vm start` needs the operator role, and vera has the viewer role"),
        "{refused}"
    );
    daemon
        .crv_via(viewer, &["vm", "console", "web"])
        .fails(1, "`attach` needs the operator role");
    daemon
        .crv_via(viewer, &["vm", "delete", "web"])
        .fails(1, "`vm delete` needs the admin role");

    // The operator starts the VM and uses its console over TLS...
    daemon.crv_via(operator, &["vm", "start", "web"]).ok();
    daemon.wait_for_serial(id, "GUEST READY", BOOT_TIMEOUT);
    let out = daemon
        .crv_via_with_input(operator, &["vm", "console", "web"], "echo MARK$((30+3))\n")
        .ok();
    assert!(out.contains("MARK33"), "{out}");
    // ...but may not delete it, nor define anything.
    daemon.crv_via(operator, &["vm", "delete", "web"]).fails(
        1,
        "`vm delete` needs the admin role, and otto has the operator role",
    );
    daemon
        .crv_via(
            operator,
            &["vm", "create", "x", "--cpus", "1", "--ram", "64"],
        )
        .fails(1, "needs the admin role");

    // The viewer saw the start, and who asked for it.
    following.wait_for_stdout("otto's start", QUICK, |out| {
        out.contains("stopped -> starting by operator `vm start` by otto (connection")
    });
    let started = &daemon.history("web")[0];
    assert_eq!(
        started["cause"]["operator"]["client"].as_str(),
        Some("otto"),
        "{started}"
    );
    // The log has one audit line per request beyond looking, naming the client.
    let log = daemon.log();
    assert!(
        log.contains(r#"client=otto role=operator request="vm start""#),
        "{log}"
    );
    assert!(
        log.contains(r#"client=vera role=viewer request="vm start" needed=operator"#),
        "{log}"
    );

    // The admin may do anything.
    daemon.crv_via(admin, &["vm", "stop", "web", "--wait"]).ok();
    daemon.crv_via(admin, &["vm", "delete", "web"]).ok();
    daemon
        .crv_via(
            admin,
            &["vm", "create", "next", "--cpus", "1", "--ram", "64"],
        )
        .ok();
    let log = daemon.log();
    assert!(
        log.contains(r#"client=ada role=admin request="vm delete""#),
        "{log}"
    );
    assert!(
        following.wait_exit(Duration::ZERO).is_none(),
        "the viewer's stream is still open: {}",
        following.stderr()
    );
}

/// `--viewer-socket` with `--socket-group`: the group's members look, and
/// are refused everything else; the main socket stays closed to them.
#[test]
fn a_group_gets_read_only_access_through_the_viewer_socket() {
    if !require(is_root(), "root, to run crv as the user nobody") {
        return;
    }
    let dir = tempfile::Builder::new().prefix("crv").tempdir().unwrap();
    let viewer_socket = dir.path().join("viewers/corvus.sock");
    let options = DaemonOptions {
        extra_args: vec![
            "--viewer-socket".into(),
            viewer_socket.to_string_lossy().into_owned(),
            "--socket-group".into(),
            "nogroup".into(),
        ],
        ..DaemonOptions::default()
    };
    let database = format!("sqlite://{}", dir.path().join("corvus.db").display());
    let mut daemon = Daemon::start_on(dir, database, options);
    daemon.create_firmware_vm("fw", &[]);
    // Others may pass through the test's directory, no further.
    std::fs::set_permissions(daemon.dir.path(), std::fs::Permissions::from_mode(0o711)).unwrap();
    let socket = std::fs::metadata(&viewer_socket).unwrap();
    let parent = std::fs::metadata(viewer_socket.parent().unwrap()).unwrap();
    assert_eq!((socket.mode() & 0o777, socket.gid()), (0o660, 65534));
    assert_eq!((parent.mode() & 0o777, parent.gid()), (0o750, 65534));

    let as_nobody = |socket: &std::path::Path, args: &[&str]| {
        Command::new(binary("crv"))
            .arg("--socket")
            .arg(socket)
            .args(args)
            .env("HOME", "/nonexistent")
            .env_remove("XDG_CONFIG_HOME")
            .env_remove("CORVUS_REMOTE")
            .uid(65534)
            .gid(65534)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    let status = as_nobody(&viewer_socket, &["--json", "status"]);
    assert!(status.status.success(), "{status:?}");
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(
        (status["client"].as_str(), status["role"].as_str()),
        (Some("unix:65534"), Some("viewer"))
    );
    let list = as_nobody(&viewer_socket, &["vm", "list"]);
    assert!(
        String::from_utf8_lossy(&list.stdout).contains("fw"),
        "{list:?}"
    );
    let start = as_nobody(&viewer_socket, &["vm", "start", "fw"]);
    let stderr = String::from_utf8_lossy(&start.stderr);
    assert_eq!(start.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("unix:65534 has the viewer role; the viewer socket is read-only"),
        "{stderr}"
    );
    let main = as_nobody(&daemon.socket, &["ping"]);
    assert_eq!(main.status.code(), Some(3), "{main:?}");
    // The daemon's own user keeps every right on the main socket.
    daemon.crv(&["vm", "delete", "fw"]).ok();
    daemon.stop();
    assert!(
        !viewer_socket.exists(),
        "the viewer socket is removed at exit"
    );
}

/// `--tcp` needs `--insecure-tcp` and a loopback address, and says at every
/// start what it gives away.
#[test]
fn plain_tcp_is_loopback_only_and_warned_about_at_every_start() {
    let dir = tempfile::tempdir().unwrap();
    let refused = Command::new(binary("corvus"))
        .arg("--socket")
        .arg(dir.path().join("corvus.sock"))
        .arg("--tcp")
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(2), "{refused:?}");
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--insecure-tcp"));

    let options = DaemonOptions {
        tcp_port: Some(free_port()),
        ..DaemonOptions::default()
    };
    let Some(mut daemon) = Daemon::start_with(Db::Sqlite, options) else {
        return;
    };
    let open = daemon
        .command()
        .args(["--host", "0.0.0.0"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&open.stderr);
    assert_eq!(open.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("only on a loopback address, not 0.0.0.0") && stderr.contains("--listen"),
        "{stderr}"
    );

    let warning = "plain TCP (--insecure-tcp) has no authentication";
    assert_eq!(daemon.log().matches(warning).count(), 1, "{}", daemon.log());
    let port = daemon.options.tcp_port.unwrap();
    let tcp = Via::Tcp {
        host: "127.0.0.1",
        port,
    };
    let status = daemon.crv_via(tcp, &["--json", "status"]).json();
    assert_eq!(
        (status["client"].as_str(), status["role"].as_str()),
        (Some("tcp:127.0.0.1"), Some("admin"))
    );
    daemon.restart();
    let warned = wait_until(QUICK, || daemon.log().matches(warning).count() == 2);
    assert!(warned, "{}", daemon.log());
}

/// `crv remote`: the files it keeps are private, and the daemon it talks
/// to is the typed option's, else CORVUS_REMOTE's or CORVUS_SOCKET's, else
/// the default remote's, else the local socket's.
#[test]
fn remotes_are_private_and_chosen_by_option_variable_or_default() {
    let Some(daemon) = Daemon::start_with(Db::Sqlite, tls_options(DaemonOptions::default())) else {
        return;
    };
    daemon.remote("far", "viewer");
    let files = daemon.client_home.join("corvus");
    for file in [
        "remotes.toml",
        "remotes/far/client.key",
        "remotes/far/client.crt",
        "remotes/far/ca.crt",
    ] {
        let mode = std::fs::metadata(files.join(file)).unwrap().mode() & 0o777;
        assert_eq!(mode, 0o600, "{file}");
    }
    for dir in ["", "remotes", "remotes/far"] {
        let mode = std::fs::metadata(files.join(dir)).unwrap().mode() & 0o777;
        assert_eq!(mode, 0o700, "{dir:?}");
    }
    let listed = daemon.crv(&["--json", "remote", "list"]).json();
    assert_eq!(
        listed,
        serde_json::json!([{ "name": "far", "address": daemon.listen_address(), "default": false }])
    );

    // Who answers: `status` names the client as the daemon sees it.
    let me = format!("unix:{}", nix::unistd::geteuid());
    let client = |env: &[(&str, &str)], args: &[&str]| {
        let mut command = Command::new(binary("crv"));
        command
            .env("XDG_CONFIG_HOME", &daemon.client_home)
            .env_remove("CORVUS_SOCKET")
            .env_remove("CORVUS_REMOTE")
            .envs(env.iter().copied())
            .args(args)
            .args(["--json", "status"]);
        let output = command.output().unwrap();
        assert!(output.status.success(), "{args:?}: {output:?}");
        let status: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        status["client"].as_str().unwrap().to_owned()
    };
    let socket = daemon.socket.to_str().unwrap();
    let local = [("CORVUS_SOCKET", socket)];
    assert_eq!(client(&[], &["--remote", "far"]), "far");
    assert_eq!(client(&[("CORVUS_REMOTE", "far")], &[]), "far");
    assert_eq!(
        client(&[("CORVUS_REMOTE", "far")], &["--socket", socket]),
        me,
        "typed wins"
    );
    assert_eq!(client(&local, &["--remote", "far"]), "far", "typed wins");
    assert_eq!(client(&local, &[]), me);
    daemon.crv(&["remote", "default", "far"]).ok();
    assert_eq!(daemon.crv(&["remote", "default"]).ok().trim(), "far");
    // With no socket named, the default remote answers.
    assert_eq!(client(&[], &[]), "far");
    assert_eq!(
        client(&local, &[]),
        me,
        "CORVUS_SOCKET wins over the default"
    );
    let both = daemon.crv(&["--remote", "far", "ping"]);
    both.fails(2, "--remote and --socket name two different daemons");
    daemon
        .crv(&[
            "remote", "add", "local", "h", "--cert", "x", "--key", "x", "--ca", "x",
        ])
        .fails(2, "'local' always means the local Unix socket");
    daemon.crv(&["remote", "remove", "far"]).ok();
    assert!(!files.join("remotes/far").exists());
    assert_eq!(daemon.crv(&["remote", "default"]).ok().trim(), "local");
    let gone = Command::new(binary("crv"))
        .env("XDG_CONFIG_HOME", &daemon.client_home)
        .args(["--remote", "far", "ping"])
        .output()
        .unwrap();
    assert_eq!(gone.status.code(), Some(2), "{gone:?}");
    assert!(String::from_utf8_lossy(&gone.stderr).contains("no remote named 'far'"));
}

/// `--listen` without `corvus tls init` says what to run, in one line.
#[test]
fn listen_without_certificates_says_to_run_tls_init() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(binary("corvus"))
        .arg("--socket")
        .arg(dir.path().join("corvus.sock"))
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .arg("--config-dir")
        .arg(dir.path().join("config"))
        .args(["--listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    let last = stderr.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("corvus: Cannot serve --listen")
            && last.contains("run `corvus tls init` first"),
        "{stderr}"
    );
}
