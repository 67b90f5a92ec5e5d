//! Definition events (issue 21): a VM defined, edited and deleted is an
//! event with its cause in `crv events`, readable and in JSON, between the
//! state changes in `seq` order; they are stored, so that a `--since`
//! replay after the daemon was killed still delivers them — the deletion
//! of a VM whose rows are gone included — and numbering goes on after it.

use harness::access::{Background, Via};
use harness::{Daemon, Db};
use serde_json::Value;
use std::time::Duration;

const QUICK: Duration = Duration::from_secs(10);

fn lines(out: &str) -> Vec<&str> {
    out.lines().filter(|l| !l.is_empty()).collect()
}

/// Waits for `n` JSON events from a background `crv --json events`.
#[track_caller]
fn json_events(subscriber: &Background, n: usize) -> Vec<Value> {
    let out =
        subscriber.wait_for_stdout(&format!("{n} events"), QUICK, |out| lines(out).len() >= n);
    lines(&out)
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

/// `seq vm kind command`, e.g. `3 doomed edited vm edit`.
fn summary(event: &Value) -> String {
    format!(
        "{} {} {} {}",
        event["seq"],
        event["vm_name"].as_str().unwrap(),
        event["kind"].as_str().unwrap(),
        event["cause"]["operator"]["command"].as_str().unwrap()
    )
}

fn definition_events_are_streamed_and_replayed_after_a_crash(db: Db) {
    let Some(mut daemon) = Daemon::start(db) else {
        return;
    };
    let json = daemon.crv_background(Via::Unix, &["--json", "events", "--since", "0"]);
    let readable = daemon.crv_background(Via::Unix, &["events", "--since", "0"]);

    daemon.create_firmware_vm("keep", &[]);
    daemon.create_firmware_vm("doomed", &[]);
    daemon.crv(&["vm", "edit", "doomed", "--cpus", "2"]).ok();
    daemon
        .crv(&[
            "vm",
            "drive",
            "add",
            "keep",
            "--file",
            "/nonexistent/keep.qcow2",
            "--interface",
            "virtio",
            "--format",
            "qcow2",
        ])
        .ok();
    daemon.crv(&["vm", "start", "doomed"]).ok();
    daemon.crv(&["vm", "reset", "doomed"]).ok();
    let doomed_id = daemon.show("doomed")["id"].clone();
    daemon.crv(&["vm", "delete", "doomed"]).ok();

    let expected = [
        "1 keep defined vm create",
        "2 doomed defined vm create",
        "3 doomed edited vm edit",
        "4 keep edited vm drive add",
        "5 doomed state vm start",
        "6 doomed state vm start",
        "7 doomed state vm reset",
        "8 doomed deleted vm delete",
    ];
    let live = json_events(&json, expected.len());
    assert_eq!(live.iter().map(summary).collect::<Vec<_>>(), expected);
    let client = format!("unix:{}", nix::unistd::geteuid());
    for event in &live {
        assert_eq!(
            event["cause"]["operator"]["client"],
            client.as_str(),
            "{event}"
        );
    }
    // Definition events leave the state as it was.
    for i in [0, 1, 2, 3, 7] {
        assert_eq!(
            (&live[i]["from"], &live[i]["to"]),
            (&"stopped".into(), &"stopped".into())
        );
    }
    assert_eq!(live[0]["reason"], "1 vCPU, 64 MiB");
    assert_eq!(live[2]["reason"], "changed cpu_count");
    let drive = live[3]["reason"].as_str().unwrap();
    assert!(
        drive.starts_with("drive ") && drive.ends_with(" added (/nonexistent/keep.qcow2)"),
        "{drive}"
    );
    assert_eq!(live[7]["vm_id"], doomed_id);
    assert_eq!(live[7]["reason"], "definition removed");

    // The readable form says what happened and who did it.
    let out = readable.wait_for_stdout("every event", QUICK, |out| {
        lines(out).len() >= expected.len()
    });
    let shown = lines(&out);
    let deleted = format!(
        "#8 {} doomed ({doomed_id}) deleted by operator `vm delete` by {client} (connection ",
        live[7]["at"].as_str().unwrap()
    );
    assert!(shown[7].starts_with(&deleted), "{}\nvs {deleted}", shown[7]);
    assert!(
        shown[2].contains(" doomed (")
            && shown[2].contains(") edited by operator `vm edit` by ")
            && shown[2].ends_with(": changed cpu_count"),
        "{}",
        shown[2]
    );
    assert!(
        shown[0].contains(") defined by operator `vm create`"),
        "{}",
        shown[0]
    );
    assert!(
        shown[4].contains(" stopped -> starting by "),
        "{}",
        shown[4]
    );
    // `vm history` stays the VM's state changes.
    assert_eq!(daemon.history("keep"), Vec::<Value>::new());

    // A crash right after: every acknowledged change was safe, so the
    // replay from the database is what subscribers saw, field for field.
    daemon.kill9();
    daemon.restart();
    let replay = daemon.crv_background(Via::Unix, &["--json", "events", "--since", "0"]);
    assert_eq!(json_events(&replay, expected.len()), live);
    let last = daemon.crv_background(Via::Unix, &["--json", "events", "--since", "7"]);
    assert_eq!(json_events(&last, 1), live[7..]);
    let keep = daemon.crv_background(
        Via::Unix,
        &["--json", "events", "--vm", "keep", "--since", "0"],
    );
    assert_eq!(json_events(&keep, 2), [live[0].clone(), live[3].clone()]);
    // Numbering goes on after the deletion, the last event stored.
    let next = daemon.crv_background(Via::Unix, &["--json", "events", "--since", "8"]);
    daemon.create_firmware_vm("doomed", &[]);
    assert_eq!(
        json_events(&next, 1)
            .iter()
            .map(summary)
            .collect::<Vec<_>>(),
        ["9 doomed defined vm create"]
    );
    // Nothing came after the replay: no duplicate.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(lines(&replay.stdout()).len(), expected.len() + 1);
}

on_both_databases!(definition_events_are_streamed_and_replayed_after_a_crash);
