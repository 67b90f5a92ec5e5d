//! `crv top` on a terminal.

use super::QUICK;
use harness::access::Via;
use harness::{Daemon, Db};

#[test]
fn top_on_a_terminal_sorts_by_a_key_and_quits_on_q() {
    let daemon = Daemon::start(Db::Sqlite).expect("SQLite");
    for name in ["zeta", "alpha"] {
        daemon.create_firmware_vm(name, &[]);
    }
    let mut terminal = daemon.crv_on_terminal(Via::Unix, &["top", "--interval", "1"]);
    terminal.resize(120, 30);
    // ratatui moves the cursor between words: look for words.
    terminal.wait_for("zeta", QUICK);
    terminal.wait_for("CPU", QUICK);
    terminal.type_bytes(b"a");
    // The title says what the rows are sorted by (the header is upper case).
    terminal.wait_for("name", QUICK);
    terminal.type_bytes(b"q");
    assert_eq!(terminal.exit_code(QUICK), Some(0), "{}", terminal.output());
    let settings = terminal.line_settings();
    assert!(
        settings.contains(nix::sys::termios::LocalFlags::ICANON)
            && settings.contains(nix::sys::termios::LocalFlags::ECHO),
        "the terminal is given back cooked"
    );
}
