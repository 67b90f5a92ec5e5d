//! crv for people and scripts (issue 8): shell completions, man pages,
//! `--json` that carries everything the tables show, tables within 80
//! columns, and colours only on a terminal without NO_COLOR.

use harness::prereq::{binary, require, which};
use harness::{Daemon, DaemonOptions, Db};
use serde_json::Value;
use std::io::Read;
use std::path::Path;
use std::process::{Command, Output, Stdio};

/// A daemon whose "QEMU" is /bin/false: a started VM fails at once, which
/// gives it events and the `error` state without a hypervisor.
fn daemon() -> Daemon {
    Daemon::start_with(
        Db::Sqlite,
        DaemonOptions {
            extra_args: vec!["--qemu".into(), "/bin/false".into()],
            ..DaemonOptions::default()
        },
    )
    .expect("sqlite needs nothing")
}

/// crv with an environment of the test's choosing and no terminal.
fn crv(daemon: &Daemon, args: &[&str], env: &[(&str, &str)]) -> Output {
    let output = Command::new(binary("crv"))
        .arg("--socket")
        .arg(&daemon.socket)
        .args(args)
        .env_remove("NO_COLOR")
        .env_remove("COLUMNS")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .expect("run crv");
    assert!(
        output.status.success(),
        "crv {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn text(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// crv without a daemon, a runtime dir or a socket: generated output only.
fn crv_offline(args: &[&str]) -> Output {
    let output = Command::new(binary("crv"))
        .args(args)
        .env_remove("XDG_RUNTIME_DIR")
        .env_remove("CORVUS_SOCKET")
        .stdin(Stdio::null())
        .output()
        .expect("run crv");
    assert!(
        output.status.success(),
        "crv {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// Checks a script with `shell -n`-like syntax checking, when the shell is
/// installed (bash always is).
fn syntax_check(shell: &str, flag: &str, script: &Path) {
    let status = Command::new(shell)
        .arg(flag)
        .arg(script)
        .status()
        .unwrap_or_else(|err| panic!("cannot run {shell}: {err}"));
    assert!(
        status.success(),
        "{shell} {flag} rejects {}",
        script.display()
    );
}

#[test]
fn completions_are_generated_for_bash_zsh_and_fish() {
    let dir = tempfile::tempdir().unwrap();
    for (shell, checker, flag) in [
        ("bash", "bash", "-n"),
        ("zsh", "zsh", "-n"),
        ("fish", "fish", "--no-execute"),
    ] {
        let script = text(&crv_offline(&["completions", shell]));
        for word in ["crv", "vm", "history", "completions", "json"] {
            assert!(
                script.contains(word),
                "{shell} completions lack {word}:\n{script}"
            );
        }
        let path = dir.path().join(format!("crv.{shell}"));
        std::fs::write(&path, &script).unwrap();
        // scripts/deps installs all three shells, so each script is parsed.
        if require(
            which(checker).is_some(),
            &format!("{checker}, to parse its completions"),
        ) {
            syntax_check(checker, flag, &path);
        }
    }
    let unknown = Command::new(binary("crv"))
        .args(["completions", "tcsh"])
        .output()
        .unwrap();
    assert_eq!(
        unknown.status.code(),
        Some(2),
        "an unknown shell is a usage error"
    );
}

#[test]
fn man_pages_cover_every_subcommand() {
    let page = text(&crv_offline(&["man"]));
    assert!(page.contains(".TH crv 1"), "{page}");
    for section in [".SH NAME", ".SH SYNOPSIS", ".SH OPTIONS", ".SH SUBCOMMANDS"] {
        assert!(page.contains(section), "crv.1 lacks {section}");
    }
    assert!(
        page.contains("CORVUS_SOCKET"),
        "the environment is documented"
    );

    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("man1");
    let listed = text(&crv_offline(&["man", "--dir", out.to_str().unwrap()]));
    for name in [
        "crv",
        "crv-ping",
        "crv-status",
        "crv-vm",
        "crv-vm-start",
        "crv-vm-history",
        "crv-vm-drive-add",
        "crv-vm-share-remove",
        "crv-events",
        "crv-completions",
        "crv-man",
    ] {
        let path = out.join(format!("{name}.1"));
        assert!(path.is_file(), "{} was not written", path.display());
        assert!(listed.contains(&path.display().to_string()), "{listed}");
        let page = std::fs::read_to_string(&path).unwrap();
        assert!(page.contains(&format!(".TH {name} 1")), "{name}: {page}");
    }
    assert!(!out.join("crv-help.1").exists(), "no page for clap's help");
}

/// Every object in `value` at `key` has all of `fields` (null counts).
#[track_caller]
fn has_fields(value: &Value, fields: &[&str]) {
    let object = value
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {value}"));
    for field in fields {
        assert!(object.contains_key(*field), "{field} missing from {value}");
    }
}

/// A VM with everything the tables can show, and one with history.
fn populate(daemon: &Daemon) -> tempfile::TempDir {
    let files = tempfile::tempdir().unwrap();
    let image = files.path().join("system disk, with commas.qcow2");
    std::fs::write(&image, b"").unwrap();
    let share = files.path().join("shared");
    std::fs::create_dir(&share).unwrap();
    daemon
        .crv(&[
            "vm",
            "create",
            "web-frontend-production-01",
            "--cpus",
            "4",
            "--ram",
            "8192",
            "--description",
            "The main web frontend of the production cluster, serving customers in three regions",
            "--restart",
            "on-failure",
            "--autostart",
            "--cpu-model",
            "qemu64",
        ])
        .ok();
    let vm = "web-frontend-production-01";
    daemon
        .crv(&[
            "vm",
            "drive",
            "add",
            vm,
            "--file",
            image.to_str().unwrap(),
            "--interface",
            "virtio",
            "--format",
            "qcow2",
            "--cache",
            "none",
            "--discard",
        ])
        .ok();
    daemon.crv(&["vm", "net", "add", vm, "--type", "user"]).ok();
    daemon
        .crv(&[
            "vm",
            "share",
            "add",
            vm,
            "--path",
            share.to_str().unwrap(),
            "--tag",
            "data",
            "--read-only",
        ])
        .ok();
    daemon
        .crv(&["vm", "create", "db", "--cpus", "1", "--ram", "64"])
        .ok();
    // /bin/false as QEMU: starting -> error, two events and a red state.
    daemon
        .crv(&["vm", "start", "db", "--wait"])
        .fails(1, "QEMU");
    files
}

#[test]
fn json_carries_every_field_the_tables_show() {
    let daemon = daemon();
    let _files = populate(&daemon);

    // list: ID NAME STATUS CPUS RAM PID RESTART AUTO
    let table = daemon.crv(&["vm", "list"]).ok();
    for header in [
        "ID", "NAME", "STATUS", "CPUS", "RAM", "PID", "RESTART", "AUTO",
    ] {
        assert!(table.contains(header), "{header} missing from:\n{table}");
    }
    let list = daemon.crv(&["--json", "vm", "list"]).json();
    let list = list.as_array().expect("list prints an array");
    assert_eq!(list.len(), 2);
    for vm in list {
        has_fields(
            vm,
            &[
                "id",
                "name",
                "status",
                "cpu_count",
                "ram_mb",
                "pid",
                "restart_policy",
                "autostart",
            ],
        );
    }
    let db = list.iter().find(|vm| vm["name"] == "db").unwrap();
    assert_eq!(db["status"], "error");
    assert!(table.contains("error"), "{table}");

    // show: every row of the table, and the device tables.
    let vm = "web-frontend-production-01";
    let table = daemon.crv(&["vm", "show", vm]).ok();
    let show = daemon.crv(&["--json", "vm", "show", vm]).json();
    has_fields(
        &show,
        &[
            "id",
            "name",
            "status",
            "last_error",
            "pid",
            "cpu_count",
            "ram_mb",
            "cpu_model",
            "display",
            "description",
            "restart_policy",
            "max_restarts",
            "restart_window_secs",
            "stop_timeout_secs",
            "autostart",
            "kernel",
            "initrd",
            "cmdline",
            "created_at",
            "updated_at",
            "drives",
            "network_interfaces",
            "shared_dirs",
            "runtime",
        ],
    );
    for label in [
        "id:",
        "name:",
        "status:",
        "last error:",
        "pid:",
        "cpus:",
        "ram:",
        "cpu model:",
        "display:",
        "description:",
        "restart policy:",
        "stop timeout:",
        "autostart:",
        "kernel:",
        "initrd:",
        "cmdline:",
        "created:",
        "updated:",
    ] {
        assert!(table.contains(label), "{label} missing from:\n{table}");
    }
    has_fields(
        &show["drives"][0],
        &[
            "id",
            "interface",
            "media",
            "format",
            "read_only",
            "cache",
            "discard",
            "file_path",
        ],
    );
    has_fields(
        &show["network_interfaces"][0],
        &["id", "type", "mac_address", "host_device"],
    );
    has_fields(
        &show["shared_dirs"][0],
        &["id", "tag", "cache", "read_only", "pid", "path"],
    );
    has_fields(
        &show["runtime"],
        &["dir", "qmp", "monitor", "spice", "serial", "serial_log"],
    );
    // The values the table shows are the JSON's.
    let mac = show["network_interfaces"][0]["mac_address"]
        .as_str()
        .unwrap();
    assert!(table.contains(mac), "{mac} missing from:\n{table}");
    assert!(table.contains(show["created_at"].as_str().unwrap()));
    assert_eq!(show["cpu_model"], "qemu64");
    assert_eq!(show["shared_dirs"][0]["read_only"], true);

    // status
    let table = daemon.crv(&["status"]).ok();
    let status = daemon.crv(&["--json", "status"]).json();
    has_fields(
        &status,
        &[
            "daemon_version",
            "pid",
            "protocol_version",
            "uptime_secs",
            "connections",
            "vm_count",
            "vms_by_state",
            "database",
            "persistence_backlog",
            "database_error",
            "accel",
            "socket",
            "tcp",
            "tls",
            "client",
            "role",
        ],
    );
    let me = format!("unix:{}", nix::unistd::geteuid());
    assert_eq!(
        (status["client"].as_str(), status["role"].as_str()),
        (Some(me.as_str()), Some("admin"))
    );
    assert!(table.contains("you:") && table.contains(&me), "{table}");
    assert!(table.contains(&format!("pid {}", status["pid"])), "{table}");
    assert!(table.contains("2 (1 stopped, 1 error)"), "{table}");

    // history: SEQ AT FROM TO CAUSE REASON
    let table = daemon.crv(&["vm", "history", "db"]).ok();
    for header in ["SEQ", "AT", "FROM", "TO", "CAUSE", "REASON"] {
        assert!(table.contains(header), "{header} missing from:\n{table}");
    }
    let history = daemon.crv(&["--json", "vm", "history", "db"]).json();
    let events = history.as_array().expect("history prints an array");
    assert!(events.len() >= 2, "{history}");
    for event in events {
        has_fields(event, &["seq", "at", "from", "to", "cause", "reason"]);
        assert!(table.contains(event["at"].as_str().unwrap()), "{table}");
    }
    assert_eq!(events.last().unwrap()["to"], "error");
}

#[test]
fn every_data_command_has_json() {
    let daemon = daemon();
    let json = |args: &[&str]| {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        daemon.crv(&all).json()
    };
    assert_eq!(json(&["ping"])["pong"], true);
    let created = json(&["vm", "create", "j", "--cpus", "1", "--ram", "64"]);
    assert_eq!(created["name"], "j");
    assert_eq!(json(&["vm", "edit", "j", "--ram", "128"])["ram_mb"], 128);
    let with_nic = json(&["vm", "net", "add", "j", "--type", "user"]);
    let nic = with_nic["network_interfaces"][0]["id"].to_string();
    let without = json(&["vm", "net", "remove", "j", &nic]);
    assert_eq!(without["network_interfaces"], serde_json::json!([]));
    assert_eq!(json(&["vm", "reset", "j"])["status"], "stopped");
    assert_eq!(json(&["vm", "history", "j"]), serde_json::json!([]));
    assert_eq!(json(&["vm", "delete", "j"])["deleted"]["name"], "j");
    assert_eq!(json(&["vm", "list"]), serde_json::json!([]));
    assert_eq!(json(&["shutdown"])["shutting_down"], true);
}

#[test]
fn tables_fit_80_columns_off_a_terminal() {
    let daemon = daemon();
    let _files = populate(&daemon);
    for args in [
        &["vm", "list"][..],
        &["vm", "show", "web-frontend-production-01"],
        &["vm", "history", "db"],
        &["status"],
    ] {
        for (env, width) in [(&[][..], 80), (&[("COLUMNS", "60")][..], 60)] {
            let out = text(&crv(&daemon, args, env));
            for line in out.lines() {
                assert!(
                    line.chars().count() <= width,
                    "crv {args:?} with {env:?} printed a line over {width} columns:\n{line}\nin:\n{out}"
                );
                assert_eq!(line, line.trim_end(), "no trailing blanks");
            }
        }
    }
}

/// Runs crv on a pseudo-terminal of 80 columns; returns what it printed.
fn on_terminal(daemon: &Daemon, args: &[&str], env: &[(&str, &str)]) -> String {
    use nix::pty::{Winsize, openpty};
    let size = Winsize {
        ws_row: 40,
        ws_col: 80,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    let pty = openpty(Some(&size), None).expect("openpty");
    let mut child = {
        let mut command = Command::new(binary("crv"));
        command
            .arg("--socket")
            .arg(&daemon.socket)
            .args(args)
            .env_remove("NO_COLOR")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::from(pty.slave.try_clone().unwrap()))
            .stderr(Stdio::from(pty.slave));
        command.spawn().expect("run crv")
        // The command, and with it the parent's copies of the slave, drop
        // here: reading the master ends when crv exits.
    };
    let mut master = std::fs::File::from(pty.master);
    let mut out = Vec::new();
    let mut buffer = [0u8; 4096];
    // EIO once the slave side is closed.
    while let Ok(n) = master.read(&mut buffer) {
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buffer[..n]);
    }
    assert!(child.wait().unwrap().success(), "crv {args:?} failed");
    String::from_utf8_lossy(&out).into_owned()
}

/// Drops SGR sequences (`ESC [ … m`).
fn strip_colours(text: &str) -> String {
    let mut out = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            for c in chars.by_ref() {
                if c == 'm' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[test]
fn colours_only_on_a_terminal_and_never_with_no_color() {
    let daemon = daemon();
    let _files = populate(&daemon);
    let commands: [&[&str]; 4] = [
        &["vm", "list"],
        &["vm", "show", "db"],
        &["vm", "history", "db"],
        &["status"],
    ];
    for args in commands {
        let piped = crv(&daemon, args, &[]);
        assert!(
            !text(&piped).contains('\x1b'),
            "crv {args:?} coloured a pipe"
        );
        let no_color = on_terminal(&daemon, args, &[("NO_COLOR", "1")]);
        assert!(
            !no_color.contains('\x1b'),
            "crv {args:?} ignored NO_COLOR:\n{no_color:?}"
        );
    }
    // On a terminal the error state is red: the colours exist at all.
    let coloured = on_terminal(&daemon, &["vm", "list"], &[]);
    assert!(
        coloured.contains("\x1b["),
        "no colour on a terminal:\n{coloured:?}"
    );
    // The 80-column terminal's width holds, colours aside.
    let wide = on_terminal(&daemon, &["vm", "show", "web-frontend-production-01"], &[]);
    for line in strip_colours(&wide).lines() {
        assert!(line.trim_end().chars().count() <= 80, "{line}");
    }
    // `--wait` into a pipe: no spinner, no escape codes on stderr either.
    let wait = Command::new(binary("crv"))
        .arg("--socket")
        .arg(&daemon.socket)
        .args(["vm", "start", "web-frontend-production-01", "--wait"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        !wait.stderr.contains(&b'\x1b') && !wait.stderr.contains(&b'\r'),
        "{}",
        String::from_utf8_lossy(&wait.stderr)
    );
}
