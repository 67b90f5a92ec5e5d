//! A lifecycle command is acknowledged only once its state change is safe:
//! a daemon SIGKILLed right after `crv vm start` (or pause, stop, reset)
//! said so must come back with exactly that state.

use harness::{Daemon, Db};
use std::time::Duration;

fn kill9_right_after_each_acknowledged_command(db: Db) {
    let Some(mut daemon) = Daemon::start(db) else {
        return;
    };
    daemon.create_firmware_vm("web", &["--stop-timeout", "1"]);
    for round in 0..3 {
        daemon.crv(&["vm", "start", "web"]).ok();
        let pid = daemon.pid_of("web");
        daemon.kill9();
        daemon.restart();
        let vm = daemon.show("web");
        assert_eq!(
            (vm["status"].as_str(), vm["pid"].as_u64()),
            (Some("running"), pid),
            "round {round}: an acknowledged start came back as {vm}"
        );
        daemon.crv(&["vm", "pause", "web"]).ok();
        daemon.kill9();
        daemon.restart();
        assert_eq!(daemon.show("web")["status"], "paused", "round {round}");
        daemon.crv(&["vm", "reset", "web"]).ok();
        daemon.kill9();
        daemon.restart();
        assert_eq!(daemon.show("web")["status"], "stopped", "round {round}");
    }
    // No QEMU of this daemon is left over.
    daemon.wait_for_state("web", "stopped", Duration::from_secs(5));
}

on_both_databases!(kill9_right_after_each_acknowledged_command);
