//! State events (issue 7): subscribers that agree, filters, `--since`
//! across a disconnect and a daemon restart, a stalled subscriber that lags
//! without slowing anyone, `--wait`, `vm watch` and `vm history`.

use corvus_protocol::{
    ClientMessage, Connection, PROTOCOL_VERSION, Request, Response, ServerMessage, SubscribeFilter,
    VmRef, VmState,
};
use harness::access::{Background, Via};
use harness::{Daemon, Db};
use serde_json::Value;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::UnixStream;

const QUICK: Duration = Duration::from_secs(10);

/// Every stored event of these VMs, in `seq` order.
fn all_history(daemon: &Daemon, vms: &[&str]) -> Vec<Value> {
    let mut events: Vec<Value> = vms.iter().flat_map(|vm| daemon.history(vm)).collect();
    events.sort_by_key(|e| e["seq"].as_u64());
    events
}

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

fn seqs(events: &[Value]) -> Vec<u64> {
    events.iter().map(|e| e["seq"].as_u64().unwrap()).collect()
}

/// `vm:from->to:cause`, with the operator's command but not its connection.
fn summary(event: &Value) -> String {
    let cause = match &event["cause"] {
        Value::Object(map) if map.contains_key("operator") => {
            format!("operator {}", map["operator"]["command"].as_str().unwrap())
        }
        other => other.to_string(),
    };
    format!(
        "{}:{}->{}:{cause}",
        event["vm_name"].as_str().unwrap(),
        event["from"].as_str().unwrap(),
        event["to"].as_str().unwrap()
    )
}

fn connection(event: &Value) -> u64 {
    event["cause"]["operator"]["connection"]
        .as_u64()
        .unwrap_or_else(|| panic!("not an operator event: {event}"))
}

/// The readable line `crv events` prints for an event.
fn readable_prefix(event: &Value) -> String {
    format!(
        "#{} {} {} ({}) {} -> {} by ",
        event["seq"],
        event["at"].as_str().unwrap(),
        event["vm_name"].as_str().unwrap(),
        event["vm_id"],
        event["from"].as_str().unwrap(),
        event["to"].as_str().unwrap()
    )
}

/// Two unfiltered subscribers (readable and JSON), a filtered one and a
/// `vm watch` follow a start/pause/resume/stop cycle, with a failed start
/// and another VM in between; they agree with each other and with history.
fn every_subscriber_sees_the_same_cycle(db: Db) {
    let Some(daemon) = Daemon::start(db) else {
        return;
    };
    for vm in ["fw", "other", "broken"] {
        daemon.create_firmware_vm(vm, &[]);
    }
    let missing = "/nonexistent/disk.qcow2";
    daemon
        .crv(&[
            "vm",
            "drive",
            "add",
            "broken",
            "--file",
            missing,
            "--interface",
            "virtio",
            "--format",
            "qcow2",
        ])
        .ok();
    daemon.crv(&["events", "--vm", "nosuch"]).fails(1, "nosuch");

    // `--since 0` on a fresh daemon: every event, however the subscription
    // races with the first command (the replay closes any gap).
    let readable = daemon.crv_background(Via::Unix, &["events", "--since", "0"]);
    let json = daemon.crv_background(Via::Unix, &["--json", "events", "--since", "0"]);
    let only_fw = daemon.crv_background(
        Via::Unix,
        &["--json", "events", "--vm", "fw", "--since", "0"],
    );

    let started = daemon
        .crv(&["--json", "vm", "start", "fw", "--wait"])
        .json();
    assert_eq!(started["status"], "running");
    daemon.crv(&["vm", "start", "other"]).ok();
    let mut watch = daemon.crv_background(Via::Unix, &["vm", "watch", "fw"]);
    watch.wait_for_stderr("the watch to begin", QUICK, |err| {
        err.contains("Watching VM 'fw' (running)")
    });
    daemon.crv(&["vm", "pause", "fw"]).ok();
    daemon.crv(&["vm", "start", "fw"]).ok();
    daemon.crv(&["vm", "reset", "other"]).ok();
    // A start that fails: `--wait` says why, in QEMU's words.
    let stderr = daemon
        .crv(&["vm", "start", "broken", "--wait"])
        .fails(1, "QEMU failed to start");
    assert!(
        stderr.contains(missing) && stderr.contains("No such file or directory"),
        "{stderr}"
    );
    // A stop that times out: `--wait` returns once QEMU is killed.
    let asked = Instant::now();
    let stopped = daemon
        .crv(&["--json", "vm", "stop", "fw", "--timeout", "2", "--wait"])
        .json();
    let took = asked.elapsed();
    assert_eq!(
        (stopped["status"].as_str(), &stopped["pid"]),
        (Some("stopped"), &Value::Null)
    );
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(15),
        "{took:?}"
    );
    watch.expect_exit(0, QUICK);

    let expected = [
        "fw:stopped->starting:operator vm start",
        "fw:starting->running:operator vm start",
        "other:stopped->starting:operator vm start",
        "other:starting->running:operator vm start",
        "fw:running->paused:operator vm pause",
        "fw:paused->running:operator vm start",
        "other:running->stopped:operator vm reset",
        "broken:stopped->starting:operator vm start",
        r#"broken:starting->error:{"qemu_exit":{"code":1,"signal":null}}"#,
        "fw:running->stopping:operator vm stop",
        r#"fw:stopping->stopped:"timeout_escalation""#,
    ];
    let stored = all_history(&daemon, &["fw", "other", "broken"]);
    assert_eq!(stored.iter().map(summary).collect::<Vec<_>>(), expected);
    // Before them: the three VMs defined, broken's drive added.
    let defining = 4;
    assert_eq!(
        seqs(&stored),
        (defining + 1..=defining + expected.len() as u64).collect::<Vec<_>>()
    );
    // Each command is its own connection; a start's two events share it.
    assert_eq!(connection(&stored[0]), connection(&stored[1]));
    let commands: Vec<u64> = [0, 2, 4, 5, 6, 7, 9]
        .iter()
        .map(|&i| connection(&stored[i]))
        .collect();
    assert!(commands.windows(2).all(|w| w[0] < w[1]), "{commands:?}");
    let reason = stored[8]["reason"].as_str().unwrap();
    assert!(
        reason.contains(missing) && reason.contains("No such file"),
        "{reason}"
    );

    // The live JSON stream is the definition events, then the stored
    // history, field for field.
    let defining = defining as usize;
    let streamed = json_events(&json, defining + expected.len());
    let definitions: Vec<String> = streamed[..defining]
        .iter()
        .map(|e| {
            format!(
                "{}:{}",
                e["vm_name"].as_str().unwrap(),
                e["kind"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        definitions,
        [
            "fw:defined",
            "other:defined",
            "broken:defined",
            "broken:edited"
        ]
    );
    assert_eq!(streamed[defining..], stored);
    let fw: Vec<Value> = stored
        .iter()
        .filter(|e| e["vm_name"] == "fw")
        .cloned()
        .collect();
    let only_fw_seen = json_events(&only_fw, 1 + fw.len());
    assert_eq!(
        (&only_fw_seen[0]["kind"], &only_fw_seen[1..]),
        (&"defined".into(), &fw[..])
    );
    let out = readable.wait_for_stdout("every event", QUICK, |out| {
        lines(out).len() >= defining + expected.len()
    });
    let shown = &lines(&out)[defining..];
    assert_eq!(shown.len(), stored.len(), "{out}");
    for (line, event) in shown.iter().zip(&stored) {
        assert!(
            line.starts_with(&readable_prefix(event)),
            "{line}\nvs {event}"
        );
        if event["cause"]["operator"].is_object() {
            // The client on the Unix socket is named by its uid.
            let client = format!("unix:{}", nix::unistd::geteuid());
            assert_eq!(event["cause"]["operator"]["client"], client.as_str());
            assert!(
                line.contains(&format!("by {client} (connection {})", connection(event))),
                "{line}"
            );
        }
    }
    // `vm watch` printed fw's events from the pause on, ending at stopped.
    let watched = watch.stdout();
    let watched = lines(&watched);
    assert_eq!(watched.len(), 4, "{watched:?}");
    for (line, event) in watched.iter().zip(&fw[2..]) {
        assert!(
            line.starts_with(&readable_prefix(event)),
            "{line}\nvs {event}"
        );
    }

    // A watch of a VM that is already at its end returns at once.
    let mut done = daemon.crv_background(Via::Unix, &["vm", "watch", "fw"]);
    done.expect_exit(0, QUICK);
    assert!(
        done.stderr().contains("VM 'fw' is stopped"),
        "{}",
        done.stderr()
    );
    let mut failed = daemon.crv_background(Via::Unix, &["vm", "watch", "broken"]);
    failed.expect_exit(1, QUICK);
    assert!(
        failed.stderr().contains("VM 'broken' is in error"),
        "{}",
        failed.stderr()
    );
    // History, all or the last N, oldest first.
    let last_two = daemon
        .crv(&["--json", "vm", "history", "fw", "--limit", "2"])
        .json();
    assert_eq!(last_two.as_array().unwrap()[..], fw[fw.len() - 2..]);
    let table = daemon.crv(&["vm", "history", "fw"]).ok();
    assert!(
        table.contains("timeout") && table.contains("SEQ"),
        "{table}"
    );
}

/// A subscriber that leaves and comes back with `--since` gets exactly what
/// it missed, from the database and from memory, then live events, even
/// when the daemon restarted in between.
fn since_replays_without_gap_or_duplicate_across_a_restart(db: Db) {
    let Some(mut daemon) = Daemon::start(db) else {
        return;
    };
    daemon.create_firmware_vm("fw", &[]);
    let mut first = daemon.crv_background(Via::Unix, &["--json", "events", "--since", "0"]);
    daemon.crv(&["vm", "start", "fw"]).ok();
    daemon.crv(&["vm", "pause", "fw"]).ok();
    // fw's definition first.
    let seen = json_events(&first, 4);
    assert_eq!(seqs(&seen), [1, 2, 3, 4]);
    assert_eq!(seen[0]["kind"], "defined");
    first.kill();

    // Missed while away: two events before the restart, one after it.
    daemon.crv(&["vm", "start", "fw"]).ok();
    daemon.crv(&["vm", "pause", "fw"]).ok();
    let mut across = daemon.crv_background(Via::Unix, &["--json", "events", "--since", "5"]);
    json_events(&across, 1);
    daemon.restart();
    // A subscriber of the old daemon is told, rather than left hanging.
    across.expect_exit(1, Duration::from_secs(30));
    let told = across.stderr();
    assert!(told.contains("the daemon ended the event stream"), "{told}");
    assert_eq!(
        daemon.crv(&["--json", "vm", "show", "fw"]).json()["status"],
        "paused",
        "re-adopted as it was, with no event"
    );
    daemon.crv(&["vm", "start", "fw"]).ok();

    let second = daemon.crv_background(Via::Unix, &["--json", "events", "--since", "4"]);
    let replayed = json_events(&second, 3);
    assert_eq!(seqs(&replayed), [5, 6, 7]);
    daemon.crv(&["vm", "reset", "fw"]).ok();
    let resumed = json_events(&second, 4);
    assert_eq!(seqs(&resumed), [5, 6, 7, 8], "then live, with no duplicate");

    // The history: the state changes, without the definition.
    let stored = daemon.history("fw");
    let together: Vec<Value> = seen.into_iter().skip(1).chain(resumed).collect();
    assert_eq!(together, stored);
    assert_eq!(
        stored.iter().map(summary).collect::<Vec<_>>(),
        [
            "fw:stopped->starting:operator vm start",
            "fw:starting->running:operator vm start",
            "fw:running->paused:operator vm pause",
            "fw:paused->running:operator vm start",
            "fw:running->paused:operator vm pause",
            "fw:paused->running:operator vm start",
            "fw:running->stopped:operator vm reset",
        ]
    );
    // `--since` a seq not reached yet: nothing up to it, live or not.
    let ahead = daemon.crv_background(Via::Unix, &["--json", "events", "--since", "9"]);
    daemon.crv(&["vm", "start", "fw"]).ok();
    assert_eq!(seqs(&json_events(&ahead, 1)), [10]);
    // The readable form replays from the middle too.
    let readable = daemon.crv_background(Via::Unix, &["events", "--since", "6"]);
    let out = readable.wait_for_stdout("two events", QUICK, |out| lines(out).len() >= 2);
    let shown = lines(&out);
    assert!(shown[0].starts_with(&readable_prefix(&stored[5])), "{out}");
    assert!(shown[1].starts_with(&readable_prefix(&stored[6])), "{out}");
}

on_both_databases!(
    every_subscriber_sees_the_same_cycle,
    since_replays_without_gap_or_duplicate_across_a_restart
);

type Client = Connection<UnixStream, ServerMessage, ClientMessage>;

async fn connect(daemon: &Daemon) -> Client {
    let stream = UnixStream::connect(&daemon.socket).await.unwrap();
    let mut client = Client::new(stream);
    client
        .send(ClientMessage::Hello {
            protocol_version: PROTOCOL_VERSION,
            client: "events test".into(),
        })
        .await
        .unwrap();
    assert!(matches!(
        client.recv().await.unwrap(),
        Some(ServerMessage::Welcome { .. })
    ));
    client
}

async fn request(client: &mut Client, request: Request) -> Response {
    client.send(ClientMessage::Request(request)).await.unwrap();
    match client.recv().await.unwrap() {
        Some(ServerMessage::Reply(Ok(response))) => response,
        other => panic!("unexpected answer: {other:?}"),
    }
}

async fn subscribe(daemon: &Daemon, since: Option<u64>) -> Client {
    let mut client = connect(daemon).await;
    let filter = SubscribeFilter {
        vms: Vec::new(),
        since,
    };
    assert_eq!(
        request(&mut client, Request::Subscribe { filter }).await,
        Response::Subscribed
    );
    client
}

fn expect_state(response: Response, state: VmState) {
    match response {
        Response::Vm(vm) => assert_eq!(vm.status, state),
        other => panic!("unexpected answer: {other:?}"),
    }
}

/// `n` pause/resume cycles through one connection; how long they took.
async fn cycles(client: &mut Client, n: usize) -> Duration {
    let vm = || VmRef::Name("fw".into());
    let started = Instant::now();
    for _ in 0..n {
        expect_state(
            request(client, Request::PauseVm { vm: vm() }).await,
            VmState::Paused,
        );
        expect_state(
            request(client, Request::StartVm { vm: vm() }).await,
            VmState::Running,
        );
    }
    started.elapsed()
}

/// What a subscriber received, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Seen {
    Event(u64),
    Lagged(u64),
}

/// Reads a subscription until the event `last` arrives.
async fn read_until(client: &mut Client, last: u64) -> Vec<Seen> {
    let mut seen = Vec::new();
    let reading = async {
        loop {
            match client.recv().await.unwrap() {
                Some(ServerMessage::Event(event)) => {
                    seen.push(Seen::Event(event.seq));
                    if event.seq >= last {
                        return;
                    }
                }
                Some(ServerMessage::Lagged { missed }) => seen.push(Seen::Lagged(missed)),
                other => panic!("unexpected frame on a subscription: {other:?}"),
            }
        }
    };
    if tokio::time::timeout(Duration::from_secs(60), reading)
        .await
        .is_err()
    {
        panic!("event {last} did not arrive; got {} frames", seen.len());
    }
    seen
}

fn contiguous(seen: &[Seen], from: u64, to: u64) -> bool {
    seen.iter().copied().eq((from..=to).map(Seen::Event))
}

/// A subscriber that stops reading fills its socket and its bounded buffer,
/// then is told `Lagged` with the exact count when it reads again; another
/// subscriber misses nothing, and pause/resume cycles are not slowed down.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_subscriber_lags_without_slowing_the_vm() {
    const CHUNK: usize = 200;
    const STALLED_CHUNKS: usize = 5;
    let Some(daemon) = Daemon::start(Db::Sqlite) else {
        return;
    };
    daemon.create_firmware_vm("fw", &[]);
    let pid = daemon.crv(&["--json", "vm", "start", "fw"]).json()["pid"].clone();
    // Event 1 is fw's definition, 2 and 3 the start; each cycle adds two.
    let mut ops = connect(&daemon).await;

    let live_seen = Arc::new(Mutex::new(Vec::new()));
    let mut live = subscribe(&daemon, None).await;
    let seen = live_seen.clone();
    let reader = tokio::spawn(async move {
        while let Ok(Some(frame)) = live.recv().await {
            let item = match frame {
                ServerMessage::Event(event) => Seen::Event(event.seq),
                ServerMessage::Lagged { missed } => Seen::Lagged(missed),
                other => panic!("unexpected frame on a subscription: {other:?}"),
            };
            seen.lock().unwrap().push(item);
        }
    });

    let before = cycles(&mut ops, CHUNK).await;
    let mut stalled = subscribe(&daemon, None).await;
    let mut while_stalled = Vec::new();
    for _ in 0..STALLED_CHUNKS {
        while_stalled.push(cycles(&mut ops, CHUNK).await);
    }
    let first = 4 + 2 * CHUNK as u64;
    let last = 3 + 2 * (CHUNK * (1 + STALLED_CHUNKS)) as u64;

    // Reading again: what fit in the socket, one Lagged, then the rest.
    let got = read_until(&mut stalled, last).await;
    let lag = got
        .iter()
        .position(|s| matches!(s, Seen::Lagged(_)))
        .unwrap_or_else(|| panic!("no Lagged among {} frames", got.len()));
    let Seen::Lagged(missed) = got[lag] else {
        unreachable!()
    };
    let before_gap = first + lag as u64 - 1;
    assert!(
        contiguous(&got[..lag], first, before_gap),
        "{:?}",
        &got[..lag]
    );
    assert!(
        contiguous(&got[lag + 1..], before_gap + missed + 1, last),
        "after Lagged {{ missed: {missed} }} at {before_gap}: {:?}",
        &got[lag + 1..(lag + 5).min(got.len())]
    );
    // ...and `--since` the last event it saw replays what it missed.
    let mut recovery = subscribe(&daemon, Some(before_gap)).await;
    let replayed = read_until(&mut recovery, last).await;
    assert!(contiguous(&replayed, before_gap + 1, last), "{replayed:?}");
    drop(stalled);
    drop(recovery);

    let after = cycles(&mut ops, CHUNK).await;
    let last = last + 2 * CHUNK as u64;
    let complete = harness::postgres::wait_until(QUICK, || {
        live_seen.lock().unwrap().last() == Some(&Seen::Event(last))
    });
    reader.abort();
    let live_seen = live_seen.lock().unwrap().clone();
    assert!(
        complete,
        "the live subscriber stopped at {:?}",
        live_seen.last()
    );
    assert!(
        contiguous(&live_seen, 4, last),
        "the other subscriber missed nothing"
    );

    let vm = daemon.crv(&["--json", "vm", "show", "fw"]).json();
    assert_eq!((&vm["status"], &vm["pid"]), (&Value::from("running"), &pid));
    // A loaded 2-core machine makes single timings noisy: compare every
    // stalled chunk with the slower of the two undisturbed ones.
    let baseline = before.max(after);
    eprintln!(
        "{CHUNK} pause/resume cycles: {before:?} and {after:?} undisturbed, {while_stalled:?} with a stalled subscriber (missed {missed})"
    );
    for took in &while_stalled {
        assert!(
            *took < baseline * 3,
            "{CHUNK} cycles took {took:?} with a stalled subscriber, {baseline:?} without"
        );
    }
    daemon.crv(&["vm", "reset", "fw"]).ok();
}
