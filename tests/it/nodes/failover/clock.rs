//! Nodes whose clocks are off (issue 19): liveness goes by the database's
//! clock only, so a node an hour behind, or a survivor an hour ahead, is
//! as live as any and nothing is taken over.

use super::*;

const FAKETIME: &str = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";

/// The hour (UTC) of an RFC 3339 time, or of a log line that starts with one.
fn hour_of(stamp: &str) -> Option<i64> {
    let hour = stamp.get(11..13)?.parse().ok()?;
    (stamp.get(10..11) == Some("T")).then_some(hour)
}

fn hour_now() -> i64 {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs();
    ((secs % 86_400) / 3_600) as i64
}

/// `now_hour + shift` on a 24-hour dial equals `seen`.
fn shifted_by(seen: Option<i64>, shift: i64) -> bool {
    seen.is_some_and(|seen| (hour_now() + shift).rem_euclid(24) == seen)
}

/// a runs an hour behind and c an hour ahead (libfaketime); an HA VM on a
/// stays there with one QEMU and every node stays live, well past the node
/// timeout: nobody's clock but the database's counts.
#[test]
fn nodes_whose_clocks_are_off_stay_live_and_keep_their_vms() {
    if !harness::prereq::require(
        std::path::Path::new(FAKETIME).exists(),
        "libfaketime (Debian package libfaketime)",
    ) {
        return;
    }
    let Some(cluster) = Cluster::shared() else {
        return;
    };
    let url = cluster.create_database();
    let shared = shared_dir();
    let node = |name: &str, shift: Option<&str>| {
        let mut options = failover_options(name, Some(shared.path()));
        if let Some(shift) = shift {
            options.env = vec![
                ("LD_PRELOAD".into(), FAKETIME.into()),
                ("FAKETIME".into(), shift.into()),
            ];
        }
        Daemon::start_on(temp_dir(), url.clone(), options)
    };
    let (a, b, c) = (
        node("a", Some("-1h")),
        node("b", None),
        node("c", Some("+1h")),
    );
    let trio = Trio { a, b, c, shared };
    let ha = trio.ha_vm("ha1");
    // The clocks really are off: a stamps its events an hour behind, and
    // c logs an hour ahead.
    let history = trio.a.history("ha1");
    let at = history.last().expect("events")["at"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(shifted_by(hour_of(&at), -1), "a's event at {at}");
    let c_log = trio.c.log();
    assert!(
        shifted_by(c_log.lines().find_map(hour_of), 1),
        "c's log: {}",
        c_log.lines().next().unwrap_or_default()
    );

    let poller = Poller::start(trio.runtimes());
    std::thread::sleep(Duration::from_secs(2 * FAILOVER_NODE_TIMEOUT));
    for daemon in [&trio.a, &trio.b, &trio.c] {
        for name in ["a", "b", "c"] {
            assert_eq!(
                super::super::node_state(daemon, name).as_deref(),
                Some("live"),
                "{}",
                daemon.crv(&["node", "list"]).ok()
            );
        }
    }
    assert_eq!(copies_of(&trio, ha), vec!["a"]);
    let shown = trio.b.show("ha1");
    assert_eq!(
        (shown["node"].as_str(), shown["status"].as_str()),
        (Some("a"), Some("running")),
        "{shown}"
    );
    poller.finish();
}
