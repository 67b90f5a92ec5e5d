//! What reaches the operator's terminal (issue 12, defect 11): a relay
//! killed by a signal or a panic gives the terminal back as it was. Beside
//! access.rs and cli.rs, which are already past the size a file should have.

use harness::access::Via;
use harness::{Daemon, Db};
use nix::sys::signal::{Signal, kill};
use nix::sys::termios::LocalFlags;
use nix::unistd::Pid;
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
