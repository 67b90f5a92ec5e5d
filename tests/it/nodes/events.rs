//! Every node's subscribers see every node's events (PostgreSQL
//! LISTEN/NOTIFY once the event's row is committed).

use super::*;
use harness::access::Via;

/// `n` JSON events from a background `crv --json events`.
fn json_events(subscriber: &harness::access::Background, n: usize) -> Vec<Value> {
    let out = subscriber.wait_for_stdout(&format!("{n} events"), Duration::from_secs(20), |out| {
        out.lines().filter(|l| !l.is_empty()).count() >= n
    });
    out.lines()
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

fn summary(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| {
            format!(
                "{} {} {}->{}",
                e["vm_name"].as_str().unwrap(),
                e["kind"],
                e["from"],
                e["to"]
            )
        })
        .collect()
}

/// A VM defined and started on a is seen by b's subscribers (all events,
/// and those of that VM only), in order and once, as by a's own: live, or
/// from the rows when the subscription came later.
#[test]
fn every_node_streams_every_nodes_events() {
    let Some((a, b)) = two_nodes() else {
        return;
    };
    // `--since 0`: however a subscription races with the first events, its
    // replay (from the rows) and the live stream together hold each once.
    let on_b = b.crv_background(Via::Unix, &["--json", "events", "--since", "0"]);
    let on_a = a.crv_background(Via::Unix, &["--json", "events", "--since", "0"]);
    a.create_firmware_vm("fw", &[]);
    let only_fw = b.crv_background(
        Via::Unix,
        &["--json", "events", "--vm", "fw", "--since", "0"],
    );
    a.crv(&["vm", "start", "fw"]).ok();

    let expected = [
        "fw \"defined\" \"stopped\"->\"stopped\"",
        "fw \"state\" \"stopped\"->\"starting\"",
        "fw \"state\" \"starting\"->\"running\"",
    ];
    assert_eq!(summary(&json_events(&on_a, 3)), expected);
    let seen_on_b = json_events(&on_b, 3);
    assert_eq!(summary(&seen_on_b), expected);
    assert_eq!(summary(&json_events(&only_fw, 3)), expected);
    let seqs: Vec<u64> = seen_on_b
        .iter()
        .map(|e| e["seq"].as_u64().unwrap())
        .collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    // b's subscriptions are open now: a's next event can only reach them
    // live, through the database's notice.
    a.crv(&["vm", "reset", "fw"]).ok();
    let reset = "fw \"state\" \"running\"->\"stopped\"";
    for subscriber in [&on_b, &only_fw] {
        let seen = summary(&json_events(subscriber, 4));
        assert_eq!(seen[3], reset, "{seen:?}");
    }
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(json_events(&on_b, 4).len(), 4, "each event once");
}
