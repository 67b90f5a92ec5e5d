//! The event bus: numbers VM events (state changes, and definitions
//! created, edited or deleted) and fans them out to subscribers.
//!
//! A `tokio::sync::broadcast` channel gives every subscriber a bounded view
//! of one shared ring: a subscriber that falls behind is told how many
//! events it missed and goes on, and a publisher never waits for anyone.
//! A short in-memory history lets a new subscriber replay recent events
//! with no gap and no duplicate, whatever the database has written so far.
//!
//! Who numbers events depends on the database (`Numbering`): on SQLite
//! this daemon does, as it publishes them; on PostgreSQL the database
//! does as it stores them, for every node at once (issue 19), and events
//! reach this bus from their rows (`nodes::events`), in seq order.

use chrono::{SecondsFormat, Utc};
use corvus_protocol::{EventCause, EventKind, VmEvent, VmState};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};
use tokio::sync::broadcast;

/// Events a subscriber may fall behind by before it is told it lagged.
pub const SUBSCRIBER_BUFFER: usize = 1024;
/// Recent events kept in memory for replays.
const HISTORY: usize = 4096;

/// One state or definition change before it has a sequence number.
#[derive(Debug, Clone)]
pub struct StateChange {
    pub vm_id: i64,
    pub vm_name: String,
    pub from: VmState,
    pub to: VmState,
    pub reason: String,
    pub cause: EventCause,
    pub kind: EventKind,
}

/// Who gives events their `seq`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Numbering {
    /// This daemon, as it publishes (SQLite: one daemon per database).
    Daemon,
    /// The database, as it stores them (PostgreSQL: every node's events
    /// in one numbering); the bus streams them once they are stored.
    Database,
}

/// The `seq` of an event the database has yet to number.
pub const UNNUMBERED: u64 = 0;

#[derive(Clone)]
pub struct EventBus {
    inner: Arc<Mutex<Inner>>,
}

struct Inner {
    numbering: Numbering,
    /// Daemon numbering: the next number to give. Database numbering: one
    /// past the last event streamed.
    next_seq: u64,
    recent: VecDeque<VmEvent>,
    sender: broadcast::Sender<VmEvent>,
}

/// A new subscription: what to replay, then the live stream.
pub struct Subscription {
    /// Events after `since` still held in memory, oldest first.
    pub replay: Vec<VmEvent>,
    /// Events in (since, this) must come from the database: memory no
    /// longer holds them. `None` when memory covers everything.
    pub stored_before: Option<u64>,
    pub live: broadcast::Receiver<VmEvent>,
}

impl EventBus {
    /// `last_seq` is the highest sequence number already stored or
    /// journaled; `unwritten` are the journaled events the database has not
    /// taken yet, oldest first, so that history and replays include them
    /// (daemon numbering only: the database numbers its own once it takes
    /// them, and they are streamed then).
    pub fn new(last_seq: u64, unwritten: Vec<VmEvent>, numbering: Numbering) -> EventBus {
        let (sender, _) = broadcast::channel(SUBSCRIBER_BUFFER);
        let mut recent: VecDeque<VmEvent> = match numbering {
            Numbering::Daemon => unwritten.into(),
            Numbering::Database => VecDeque::new(),
        };
        while recent.len() > HISTORY {
            recent.pop_front();
        }
        EventBus {
            inner: Arc::new(Mutex::new(Inner {
                numbering,
                next_seq: last_seq.saturating_add(1),
                recent,
                sender,
            })),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // The critical sections cannot panic half-way, so a poisoned lock still holds consistent data.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Numbers the change and sends it to every subscriber. Numbering and
    /// sending happen under one lock so that subscribers see `seq` in order.
    /// With database numbering it only returns the event, `UNNUMBERED`: it
    /// is streamed once stored (`relay`).
    pub fn publish(&self, change: StateChange) -> VmEvent {
        let mut inner = self.lock();
        let seq = match inner.numbering {
            Numbering::Daemon => inner.next_seq,
            Numbering::Database => return change.into_event(UNNUMBERED),
        };
        let event = change.into_event(seq);
        inner.next_seq += 1;
        inner.remember(event.clone());
        // No receivers is fine: nobody is listening right now.
        let _ = inner.sender.send(event.clone());
        event
    }

    /// Completes a VM's stored history with its state changes that are still on
    /// their way to the database, so that `vm history` right after an event
    /// (e.g. after `--wait` saw it) includes it. `stored` must have been read
    /// before this call: whatever was written since is still in memory.
    pub fn complete_history(
        &self,
        vm_id: i64,
        mut stored: Vec<VmEvent>,
        limit: Option<usize>,
    ) -> Vec<VmEvent> {
        let last_stored = stored.last().map_or(0, |e| e.seq);
        stored.extend(
            self.lock()
                .recent
                .iter()
                .filter(|e| e.vm_id == vm_id && e.seq > last_stored && e.kind == EventKind::State)
                .cloned(),
        );
        if let Some(limit) = limit {
            let excess = stored.len().saturating_sub(limit);
            stored.drain(..excess);
        }
        stored
    }

    /// Streams a stored event (database numbering, issue 19): events come
    /// in seq order, and one at or below the last streamed is dropped, so
    /// that no subscriber sees a seq twice or going back.
    pub fn relay(&self, event: VmEvent) {
        let mut inner = self.lock();
        if event.seq < inner.next_seq {
            return;
        }
        inner.next_seq = event.seq.saturating_add(1);
        inner.remember(event.clone());
        let _ = inner.sender.send(event);
    }

    /// The highest `seq` numbered or streamed so far (0: none).
    pub fn last_seq(&self) -> u64 {
        self.lock().next_seq.saturating_sub(1)
    }

    /// Subscribes and, atomically with it, collects what to replay after `since`.
    pub fn subscribe(&self, since: Option<u64>) -> Subscription {
        let inner = self.lock();
        let live = inner.sender.subscribe();
        let Some(since) = since else {
            return Subscription {
                replay: Vec::new(),
                stored_before: None,
                live,
            };
        };
        let replay = inner
            .recent
            .iter()
            .filter(|e| e.seq > since)
            .cloned()
            .collect();
        let oldest_in_memory = inner.recent.front().map_or(inner.next_seq, |e| e.seq);
        // `since` may be anything a client sends, u64::MAX included.
        let stored_before =
            (since.saturating_add(1) < oldest_in_memory).then_some(oldest_in_memory);
        Subscription {
            replay,
            stored_before,
            live,
        }
    }
}

impl Inner {
    fn remember(&mut self, event: VmEvent) {
        if self.recent.len() == HISTORY {
            self.recent.pop_front();
        }
        self.recent.push_back(event);
    }
}

impl StateChange {
    fn into_event(self, seq: u64) -> VmEvent {
        VmEvent {
            seq,
            at: Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true),
            vm_id: self.vm_id,
            vm_name: self.vm_name,
            from: self.from,
            to: self.to,
            reason: self.reason,
            cause: self.cause,
            kind: self.kind,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(vm_id: i64, to: VmState) -> StateChange {
        StateChange {
            vm_id,
            vm_name: format!("vm{vm_id}"),
            from: VmState::Stopped,
            to,
            reason: String::new(),
            cause: EventCause::Daemon,
            kind: EventKind::State,
        }
    }

    #[test]
    fn sequence_numbers_continue_after_the_stored_ones() {
        let bus = EventBus::new(41, Vec::new(), Numbering::Daemon);
        assert_eq!(bus.publish(change(1, VmState::Starting)).seq, 42);
        assert_eq!(bus.publish(change(1, VmState::Running)).seq, 43);
    }

    #[test]
    fn a_subscription_since_a_recent_seq_replays_from_memory_only() {
        let bus = EventBus::new(0, Vec::new(), Numbering::Daemon);
        for _ in 0..5 {
            bus.publish(change(1, VmState::Running));
        }
        let sub = bus.subscribe(Some(2));
        assert_eq!(
            sub.replay.iter().map(|e| e.seq).collect::<Vec<_>>(),
            vec![3, 4, 5]
        );
        assert_eq!(sub.stored_before, None);
    }

    #[test]
    fn with_database_numbering_events_stream_once_stored_in_order() {
        let bus = EventBus::new(4, Vec::new(), Numbering::Database);
        let mut sub = bus.subscribe(None);
        let unnumbered = bus.publish(change(1, VmState::Starting));
        assert_eq!(unnumbered.seq, UNNUMBERED);
        assert!(sub.live.try_recv().is_err(), "not streamed before stored");
        let stored = |seq| VmEvent {
            seq,
            ..unnumbered.clone()
        };
        bus.relay(stored(5));
        bus.relay(stored(9));
        bus.relay(stored(7));
        bus.relay(stored(9));
        assert_eq!(sub.live.try_recv().unwrap().seq, 5);
        assert_eq!(sub.live.try_recv().unwrap().seq, 9);
        assert!(
            sub.live.try_recv().is_err(),
            "nothing twice, nothing going back"
        );
        assert_eq!(bus.last_seq(), 9);
        let replayed: Vec<u64> = bus
            .subscribe(Some(0))
            .replay
            .iter()
            .map(|e| e.seq)
            .collect();
        assert_eq!(replayed, vec![5, 9]);
    }

    #[test]
    fn a_subscription_past_the_end_replays_nothing() {
        let bus = EventBus::new(100, Vec::new(), Numbering::Daemon);
        bus.publish(change(1, VmState::Running));
        let sub = bus.subscribe(Some(u64::MAX));
        assert!(sub.replay.is_empty());
        assert_eq!(sub.stored_before, None);
    }

    #[test]
    fn events_older_than_memory_are_fetched_from_storage() {
        let bus = EventBus::new(100, Vec::new(), Numbering::Daemon);
        bus.publish(change(1, VmState::Running));
        let sub = bus.subscribe(Some(10));
        assert_eq!(sub.stored_before, Some(101));
        assert_eq!(sub.replay.len(), 1);
    }

    #[test]
    fn history_includes_events_not_yet_written() {
        let bus = EventBus::new(0, Vec::new(), Numbering::Daemon);
        let written: Vec<VmEvent> = (0..3)
            .map(|_| bus.publish(change(1, VmState::Running)))
            .collect();
        bus.publish(change(2, VmState::Running));
        let pending = bus.publish(change(1, VmState::Stopped));
        let seqs = |events: Vec<VmEvent>| events.iter().map(|e| e.seq).collect::<Vec<_>>();
        assert_eq!(
            seqs(bus.complete_history(1, written[..2].to_vec(), None)),
            vec![1, 2, 3, 5]
        );
        assert_eq!(
            seqs(bus.complete_history(1, written[1..2].to_vec(), Some(2))),
            vec![3, 5]
        );
        assert_eq!(
            seqs(bus.complete_history(1, written.clone(), Some(9))),
            vec![1, 2, 3, 5]
        );
        assert_eq!(
            bus.complete_history(1, vec![pending.clone()], None),
            vec![pending]
        );
    }

    #[test]
    fn history_leaves_definition_events_to_the_stream() {
        let bus = EventBus::new(0, Vec::new(), Numbering::Daemon);
        let edited = StateChange {
            kind: EventKind::Edited,
            ..change(1, VmState::Stopped)
        };
        bus.publish(edited);
        let state = bus.publish(change(1, VmState::Starting));
        assert_eq!(bus.complete_history(1, Vec::new(), None), vec![state]);
        let sub = bus.subscribe(Some(0));
        assert_eq!(
            sub.replay.iter().map(|e| e.kind).collect::<Vec<_>>(),
            [EventKind::Edited, EventKind::State]
        );
    }

    #[tokio::test]
    async fn a_slow_subscriber_learns_how_many_it_missed() {
        let bus = EventBus::new(0, Vec::new(), Numbering::Daemon);
        let mut sub = bus.subscribe(None);
        for _ in 0..SUBSCRIBER_BUFFER + 10 {
            bus.publish(change(1, VmState::Running));
        }
        match sub.live.recv().await {
            Err(broadcast::error::RecvError::Lagged(missed)) => assert_eq!(missed, 10),
            other => panic!("expected Lagged, got {other:?}"),
        }
        assert_eq!(sub.live.recv().await.map(|e| e.seq).ok(), Some(11));
    }
}
