//! What reaches the operator's terminal (issue 12, defects 11 and 12): a
//! relay killed by a signal or a panic gives the terminal back as it was,
//! and text from outside Corvus (descriptions, `last_error`, event reasons)
//! is printed escaped, never raw. Beside access.rs and cli.rs, which are
//! already past the size a file should have.

use harness::access::Via;
use harness::{Daemon, Db};
use nix::sys::signal::{Signal, kill};
use nix::sys::termios::LocalFlags;
use nix::unistd::Pid;
use serde_json::Value;
use std::os::unix::process::ExitStatusExt;
use std::time::Duration;

const QUICK: Duration = Duration::from_secs(10);

/// `stty -a` lists `icanon` and `echo` (not `-icanon`, `-echo`).
#[track_caller]
fn assert_cooked(stty: &str) {
    let words: Vec<&str> = stty.split_whitespace().collect();
    assert!(
        words.contains(&"icanon") && words.contains(&"echo"),
        "the terminal was left raw:\n{stty}"
    );
}

#[test]
fn a_relay_ended_by_a_signal_or_a_panic_restores_the_terminal() {
    let Some(daemon) = Daemon::start(Db::Sqlite) else {
        return;
    };
    daemon.create_firmware_vm("fw", &[]);
    daemon.crv(&["vm", "start", "fw"]).ok();
    let cases = [
        (Signal::SIGTERM, "monitor"),
        (Signal::SIGHUP, "console"),
        (Signal::SIGINT, "monitor"),
        (Signal::SIGQUIT, "console"),
    ];
    for (signal, channel) in cases {
        let mut terminal = daemon.crv_on_terminal(Via::Unix, &["vm", channel, "fw"]);
        terminal.wait_for("Detach with Ctrl+].", QUICK);
        assert!(
            !terminal.line_settings().contains(LocalFlags::ICANON),
            "raw while attached"
        );
        kill(Pid::from_raw(terminal.pid() as i32), signal).unwrap();
        let status = terminal.wait_status(QUICK);
        assert_eq!(
            status.signal(),
            Some(signal as i32),
            "crv dies of {signal}, as if it had not caught it"
        );
        assert_cooked(&terminal.stty());
        // The daemon frees the channel once it sees the connection close.
        drop(terminal);
        std::thread::sleep(Duration::from_millis(300));
    }

    let mut terminal = daemon.crv_on_terminal_with_env(
        Via::Unix,
        &["vm", "monitor", "fw"],
        &[("CRV_TEST_PANIC", "relay")],
    );
    assert_eq!(
        terminal.exit_code(QUICK),
        Some(101),
        "{}",
        terminal.output()
    );
    terminal.wait_for("CRV_TEST_PANIC", QUICK);
    assert_cooked(&terminal.stty());
    drop(terminal);
    daemon.crv(&["vm", "reset", "fw"]).ok();
}

/// Control characters stored by an older daemon or written into the
/// database by hand are shown escaped in every human-readable output and
/// exact in JSON; new ones are refused in descriptions.
fn control_characters_are_escaped_and_refused(db: Db) {
    let Some(mut daemon) = Daemon::start(db) else {
        return;
    };
    let escaped = "\\x1b]0;pwned\\x07\\x1b[2J\\rhidden";
    for name in ["evil", "good"] {
        daemon
            .crv(&["vm", "create", name, "--cpus", "1", "--ram", "64"])
            .ok();
    }
    let id = daemon.show("evil")["id"].as_i64().unwrap();
    daemon.stop();
    let chr = if daemon.database_url.starts_with("sqlite") {
        "char"
    } else {
        "chr"
    };
    let hostile = format!(
        "'' || {chr}(27) || ']0;pwned' || {chr}(7) || {chr}(27) || '[2J' || {chr}(13) || 'hidden'"
    );
    daemon.execute_sql(format!(
        "UPDATE vm SET description = {hostile}, last_error = {hostile}, status = 'error' WHERE id = {id}"
    ));
    daemon.seed_events(id, 1, 1);
    daemon.execute_sql(format!(
        "UPDATE vm_event SET reason = {hostile} WHERE vm_id = {id}"
    ));
    daemon.restart();

    let raw = "\x1b]0;pwned\x07\x1b[2J\rhidden";
    let outputs = [
        daemon.crv(&["vm", "show", "evil"]).ok(),
        daemon.crv(&["vm", "history", "evil"]).ok(),
        daemon.crv(&["vm", "watch", "evil"]).fails(1, "is in error"),
    ];
    for output in &outputs {
        assert!(
            !output.contains('\x1b') && !output.contains('\r'),
            "raw: {output:?}"
        );
        // Tables wrap long cells: compare without the layout's whitespace.
        let unwrapped: String = output.split_whitespace().collect();
        assert!(unwrapped.contains(escaped), "not escaped: {output}");
    }
    let mut events = daemon.crv_background(Via::Unix, &["events", "--since", "0"]);
    let line = events.wait_for_stdout("the stored event", QUICK, |out| out.contains("pwned"));
    assert!(line.contains(escaped) && !line.contains('\x1b'), "{line:?}");
    events.kill();

    // JSON is exact.
    let shown = daemon.show("evil");
    assert_eq!(shown["description"], raw);
    assert_eq!(shown["last_error"], raw);
    assert_eq!(daemon.history("evil")[0]["reason"], raw);

    // New descriptions with control characters are refused, naming the first.
    let refused = [
        ("web\x1b[31m", "\\x1b (U+001B) at position 4"),
        ("two\nlines", "\\n (U+000A) at position 4"),
        ("tab\there", "\\t (U+0009) at position 4"),
        ("é\u{202e}txt", "\\u{202e} (U+202E) at position 2"),
    ];
    for (description, named) in refused {
        daemon
            .crv(&[
                "vm",
                "create",
                "bad",
                "--cpus",
                "1",
                "--ram",
                "64",
                "--description",
                description,
            ])
            .fails(
                1,
                &format!("description contains the control character {named}"),
            );
        daemon
            .crv(&["vm", "edit", "good", "--description", description])
            .fails(1, named);
    }
    assert_eq!(
        daemon.show("evil")["description"],
        Value::String(raw.into())
    );
}

on_both_databases!(control_characters_are_escaped_and_refused);
