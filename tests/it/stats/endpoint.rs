//! The `/metrics` endpoint itself: off unless asked for, GET /metrics
//! only, text that promtool accepts, daemon counters that move.

use super::{QUICK, daemon_with_metrics};
use harness::access::Via;
use harness::metrics::{check_with_promtool, http, promtool, scrape, value};
use harness::postgres::wait_until;
use harness::{Daemon, DaemonOptions, Db};

/// Each open socket of `pid` that listens on TCP.
fn listening_sockets(pid: u32) -> usize {
    let listening: Vec<String> = ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .filter_map(|path| std::fs::read_to_string(path).ok())
        .flat_map(|table| {
            table
                .lines()
                .skip(1)
                .filter_map(|line| {
                    let fields: Vec<&str> = line.split_whitespace().collect();
                    (fields.get(3) == Some(&"0A")).then(|| fields.get(9).map(|i| i.to_string()))?
                })
                .collect::<Vec<_>>()
        })
        .collect();
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|fds| {
            fds.filter_map(|fd| std::fs::read_link(fd.ok()?.path()).ok())
                .filter_map(|link| {
                    let inode = link
                        .to_str()?
                        .strip_prefix("socket:[")?
                        .strip_suffix(']')?
                        .to_owned();
                    Some(inode)
                })
                .filter(|inode| listening.contains(inode))
                .count()
        })
        .unwrap_or(0)
}

#[test]
fn the_metrics_endpoint_is_off_by_default_serves_get_only_and_parses() {
    let plain = Daemon::start(Db::Sqlite).expect("SQLite");
    assert_eq!(
        listening_sockets(plain.pid().expect("running")),
        0,
        "no TCP listener without --metrics"
    );
    drop(plain);

    let (daemon, port) = daemon_with_metrics(DaemonOptions::default());
    daemon.create_firmware_vm("fw", &[]);
    let first = http(port, "GET", "/metrics");
    assert_eq!(first.status, 200, "{first:?}");
    assert!(
        first.head.contains("text/plain; version=0.0.4"),
        "{}",
        first.head
    );
    for method in ["POST", "PUT", "DELETE", "HEAD"] {
        let refused = http(port, method, "/metrics");
        assert_eq!(refused.status, 405, "{method}: {refused:?}");
        assert!(
            refused.head.to_lowercase().contains("allow: get"),
            "{refused:?}"
        );
    }
    for path in ["/", "/metrics/x", "/favicon.ico"] {
        assert_eq!(http(port, "GET", path).status, 404, "{path}");
    }

    let ping = "corvus_rpc_duration_seconds_count{request=\"ping\"}";
    let before = value(&scrape(port), ping).unwrap_or(0.0);
    daemon.crv(&["ping"]).ok();
    daemon.crv(&["ping"]).ok();
    let text = scrape(port);
    assert_eq!(value(&text, ping), Some(before + 2.0), "{text}");
    assert_eq!(
        value(
            &text,
            "corvus_vm_state{vm=\"fw\",id=\"1\",state=\"stopped\"}"
        ),
        Some(1.0)
    );
    assert_eq!(
        value(&text, "corvus_build_info{version=\"0.1.0\"}"),
        Some(1.0),
        "{text}"
    );
    if let Some(promtool) = promtool() {
        check_with_promtool(promtool, &text);
    }

    // `crv events` counts as a subscriber while it runs.
    let mut events = daemon.crv_background(Via::Unix, &["events"]);
    let subscribed = wait_until(QUICK, || {
        value(&scrape(port), "corvus_event_subscribers") == Some(1.0)
    });
    events.kill();
    assert!(subscribed, "{}", scrape(port));
}
