//! The journal's file format: order, torn tails, damaged lines, links.

use super::*;
use corvus_protocol::{EventCause, VmEvent, VmState};
use corvus_storage::DbKind;

fn record(seq: u64) -> StateRecord {
    StateRecord {
        vm_id: 7,
        status: VmState::Running,
        pid: Some(4242),
        last_error: None,
        share_pids: vec![(3, Some(99))],
        event: Some(VmEvent {
            seq,
            at: "2026-12-07T10:00:00.000Z".into(),
            vm_id: 7,
            vm_name: "web".into(),
            from: VmState::Starting,
            to: VmState::Running,
            reason: format!("step {seq}"),
            cause: EventCause::Daemon,
            kind: corvus_protocol::EventKind::State,
        }),
    }
}

fn identity() -> DatabaseIdentity {
    DatabaseIdentity {
        kind: DbKind::Sqlite,
        name: "my db/../x.db".into(),
        location: "sqlite:/var/lib/corvus/my db/../x.db".into(),
    }
}

async fn journal() -> (tempfile::TempDir, Journal) {
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::open(dir.path(), &identity()).await.unwrap();
    (dir, journal)
}

fn seqs(records: &[StateRecord]) -> Vec<u64> {
    records
        .iter()
        .map(|r| r.event.as_ref().unwrap().seq)
        .collect()
}

#[test]
fn the_file_name_is_readable_and_safe() {
    let name = file_name(&identity());
    assert!(name.starts_with("sqlite-my_db_.._x.db-"), "{name}");
    assert!(name.ends_with(".jsonl"));
    assert!(!name.contains('/'));
}

#[tokio::test]
async fn records_come_back_in_the_order_they_were_appended() {
    let (_dir, journal) = journal().await;
    assert!(journal.recover().await.unwrap().records.is_empty());
    journal.append(vec![record(1), record(2)]).await.unwrap();
    journal.append(vec![record(3)]).await.unwrap();
    journal.append(vec![record(4), record(5)]).await.unwrap();
    let recovered = journal.recover().await.unwrap();
    assert_eq!(seqs(&recovered.records), [1, 2, 3, 4, 5]);
    assert_eq!(recovered.records[0], record(1));
    assert!(recovered.skipped.is_empty());
    journal.clear().await.unwrap();
    assert!(journal.recover().await.unwrap().records.is_empty());
}

#[tokio::test]
async fn a_torn_last_line_is_reported_and_cut_off() {
    let (_dir, journal) = journal().await;
    journal.append(vec![record(1), record(2)]).await.unwrap();
    let whole = std::fs::metadata(journal.path()).unwrap().len();
    let line = serde_json::to_string(&record(3)).unwrap();
    let torn = &line[..line.len() / 2];
    std::fs::OpenOptions::new()
        .append(true)
        .open(journal.path())
        .unwrap()
        .write_all(torn.as_bytes())
        .unwrap();

    let recovered = journal.recover().await.unwrap();
    assert_eq!(seqs(&recovered.records), [1, 2]);
    assert_eq!(
        recovered.skipped,
        [Skipped {
            line: 3,
            bytes: torn.len(),
            torn: true,
            error: "the line has no end: a write cut short".into(),
        }]
    );
    assert_eq!(std::fs::metadata(journal.path()).unwrap().len(), whole);
    // The next record starts on a line of its own.
    journal.append(vec![record(4)]).await.unwrap();
    let again = journal.recover().await.unwrap();
    assert_eq!(seqs(&again.records), [1, 2, 4]);
    assert!(again.skipped.is_empty());
}

#[test]
fn a_damaged_line_in_the_middle_costs_only_itself() {
    let mut bytes = Vec::new();
    for line in [
        serde_json::to_string(&record(1)).unwrap(),
        "{\"vm_id\": 7, \"status\"".to_owned(),
        String::new(),
        serde_json::to_string(&record(2)).unwrap(),
    ] {
        bytes.extend_from_slice(line.as_bytes());
        bytes.push(b'\n');
    }
    let (recovered, whole) = parse(&bytes);
    assert_eq!(seqs(&recovered.records), [1, 2]);
    assert_eq!(whole, bytes.len());
    assert_eq!(recovered.skipped.len(), 1);
    assert_eq!(recovered.skipped[0].line, 2);
    assert!(!recovered.skipped[0].torn);
}

#[tokio::test]
async fn a_planted_link_is_not_followed() {
    let (dir, journal) = journal().await;
    let target = dir.path().join("elsewhere");
    std::fs::write(&target, b"precious").unwrap();
    std::os::unix::fs::symlink(&target, journal.path()).unwrap();
    assert!(journal.append(vec![record(1)]).await.is_err());
    assert!(journal.recover().await.is_err());
    assert_eq!(std::fs::read(&target).unwrap(), b"precious");
}

#[tokio::test]
async fn other_databases_journals_with_changes_are_found() {
    let (dir, journal) = journal().await;
    journal.append(vec![record(1)]).await.unwrap();
    let other = dir
        .path()
        .join("journal/postgresql-corvus-0000000000000001.jsonl");
    std::fs::write(&other, b"{}\n").unwrap();
    std::fs::write(dir.path().join("journal/empty.jsonl"), b"").unwrap();
    assert_eq!(journal.others().await, [(other, 3)]);
}

#[test]
fn a_record_journaled_before_event_kinds_is_a_state_change() {
    let mut line = serde_json::to_value(record(3)).unwrap();
    line["event"]
        .as_object_mut()
        .unwrap()
        .remove("kind")
        .expect("records carry the kind");
    let read: StateRecord = serde_json::from_value(line).unwrap();
    assert_eq!(read, record(3));
    assert_eq!(
        read.event.map(|e| e.kind),
        Some(corvus_protocol::EventKind::State)
    );
}
