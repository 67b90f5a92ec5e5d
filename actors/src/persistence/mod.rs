//! The persistence actor: the single writer of VM state changes.
//!
//! Changes are queued in memory and written in order. Whatever keeps the
//! database from taking them (unreachable, disk full, read-only, a standby)
//! the actor keeps them, retries with backoff, and says why in `crv status`
//! and once in the log; nothing is dropped. From the first failed write
//! until the queue is empty again, every queued change is also in the
//! journal, so that neither an exit nor a SIGKILL loses it.

mod journal;
mod status;

pub use journal::{Journal, Skipped};
pub use status::PersistenceStatus;

use corvus_storage::{StateRecord, StorageError, Store};
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use std::collections::VecDeque;
use std::time::Duration;
use tracing::{error, info, warn};

pub type PersistenceRef = ActorRef<PersistenceMsg>;

/// How long one write may take before it counts as failed.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(5);
const FIRST_RETRY: Duration = Duration::from_millis(200);
const MAX_RETRY: Duration = Duration::from_secs(5);
/// Writes per `Flush` message, so that other messages are not kept waiting.
const BATCH: usize = 64;

/// Told once a change is safe: committed, or fsync'd into the journal.
pub type Durable = tokio::sync::oneshot::Sender<()>;

pub enum PersistenceMsg {
    /// A change to write; `durable`, if any, hears when it is safe, so that
    /// whoever acknowledges the change to a client waits for that first.
    Record {
        record: StateRecord,
        durable: Option<Durable>,
    },
    Flush,
    /// `durable` hears once every change queued before it is safe: a
    /// reader of the database (`vm history` on PostgreSQL, where events
    /// are numbered as they are stored) then finds them written, unless
    /// the database refuses writes and they are journaled.
    Settled {
        durable: Durable,
    },
    /// Answers once the queue is written, or is in the journal when the
    /// deadline passes or the database refuses it (daemon shutdown).
    Drain {
        deadline: Duration,
        reply: RpcReplyPort<DrainOutcome>,
    },
    DrainDeadline,
}

/// What a shutdown leaves behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DrainOutcome {
    /// Changes the database has not taken.
    pub left: usize,
    /// Whether those are safe in the journal.
    pub journaled: bool,
}

pub struct PersistenceArgs {
    pub store: Store,
    pub journal: Journal,
    /// Journaled changes the database did not take at start, still in the
    /// journal, with the reason.
    pub pending: Vec<StateRecord>,
    pub pending_error: Option<String>,
    pub status: PersistenceStatus,
}

pub struct PersistenceState {
    store: Store,
    journal: Journal,
    queue: VecDeque<StateRecord>,
    /// Beside `queue`, one entry per record: who waits for it to be safe.
    waiting: VecDeque<Vec<Durable>>,
    status: PersistenceStatus,
    flush_scheduled: bool,
    retry_delay: Duration,
    /// Why the database is not taking writes, while it is not.
    problem: Option<String>,
    /// Every queued change is also in the journal.
    journaled: bool,
    drains: Vec<RpcReplyPort<DrainOutcome>>,
}

pub struct Persistence;

pub async fn spawn(args: PersistenceArgs) -> Result<PersistenceRef, ractor::SpawnErr> {
    let (actor, _) = Actor::spawn(Some("persistence".into()), Persistence, args).await?;
    Ok(actor)
}

impl Actor for Persistence {
    type Msg = PersistenceMsg;
    type State = PersistenceState;
    type Arguments = PersistenceArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: PersistenceArgs,
    ) -> Result<PersistenceState, ActorProcessingErr> {
        let pending = !args.pending.is_empty();
        let state = PersistenceState {
            store: args.store,
            journal: args.journal,
            waiting: args.pending.iter().map(|_| Vec::new()).collect(),
            queue: args.pending.into(),
            status: args.status,
            flush_scheduled: pending,
            retry_delay: FIRST_RETRY,
            problem: args.pending_error,
            journaled: pending,
            drains: Vec::new(),
        };
        state.publish();
        if pending {
            myself.send_after(FIRST_RETRY, || PersistenceMsg::Flush);
        }
        Ok(state)
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        message: PersistenceMsg,
        state: &mut PersistenceState,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            PersistenceMsg::Record { record, durable } => {
                let mut durable = durable;
                if state.journaled
                    && state.journal_records(vec![record.clone()]).await
                    && let Some(durable) = durable.take()
                {
                    let _ = durable.send(());
                }
                state.queue.push_back(record);
                state.waiting.push_back(durable.into_iter().collect());
                state.publish();
                if !state.flush_scheduled {
                    state.flush_scheduled = true;
                    myself.cast(PersistenceMsg::Flush)?;
                }
            }
            PersistenceMsg::Flush => state.flush(&myself).await?,
            PersistenceMsg::Settled { durable } => match state.waiting.back_mut() {
                Some(last) if !state.journaled => last.push(durable),
                Some(_) | None => {
                    let _ = durable.send(());
                }
            },
            PersistenceMsg::Drain { deadline, reply } => {
                if state.queue.is_empty() || state.journaled {
                    let _ = reply.send(state.outcome());
                } else {
                    state.drains.push(reply);
                    myself.send_after(deadline, || PersistenceMsg::DrainDeadline);
                    if !state.flush_scheduled {
                        state.flush_scheduled = true;
                        myself.cast(PersistenceMsg::Flush)?;
                    }
                }
            }
            PersistenceMsg::DrainDeadline => {
                if !state.drains.is_empty() {
                    state.journal_queue().await;
                    state.answer_drains(true);
                }
            }
        }
        Ok(())
    }

    /// However the actor stops, what the database has not taken goes to
    /// the journal.
    async fn post_stop(
        &self,
        _: ActorRef<Self::Msg>,
        state: &mut PersistenceState,
    ) -> Result<(), ActorProcessingErr> {
        state.journal_queue().await;
        if !state.queue.is_empty() && !state.journaled {
            error!(
                lost = state.queue.len(),
                "exiting with state changes neither the database nor the journal took"
            );
        }
        Ok(())
    }
}

impl PersistenceState {
    fn publish(&self) {
        self.status
            .set(self.queue.len() as u64, self.problem.clone());
    }

    fn outcome(&self) -> DrainOutcome {
        DrainOutcome {
            left: self.queue.len(),
            journaled: self.queue.is_empty() || self.journaled,
        }
    }

    async fn flush(&mut self, myself: &ActorRef<PersistenceMsg>) -> Result<(), ActorProcessingErr> {
        for _ in 0..BATCH {
            let Some(record) = self.queue.front() else {
                break;
            };
            let problem =
                match tokio::time::timeout(WRITE_TIMEOUT, self.store.record_state(record)).await {
                    Ok(Ok(())) => None,
                    Ok(Err(err)) => Some(describe(err)),
                    Err(_) => Some(format!(
                        "database unreachable: no answer within {} s",
                        WRITE_TIMEOUT.as_secs()
                    )),
                };
            match problem {
                None => {
                    self.queue.pop_front();
                    for durable in self.waiting.pop_front().into_iter().flatten() {
                        let _ = durable.send(());
                    }
                    self.recovered();
                }
                Some(problem) => {
                    self.failed(problem).await;
                    myself.send_after(self.retry_delay, || PersistenceMsg::Flush);
                    self.retry_delay = (self.retry_delay * 2).min(MAX_RETRY);
                    return Ok(());
                }
            }
        }
        if self.queue.is_empty() {
            self.flush_scheduled = false;
            if self.journaled {
                match self.journal.clear().await {
                    Ok(()) => self.journaled = false,
                    Err(err) => {
                        warn!(journal = %self.journal.path().display(), error = %format!("{:#}", anyhow::Error::new(err)), "cannot empty the state journal; the next start writes its changes again, which is harmless")
                    }
                }
            }
            self.answer_drains(false);
        } else {
            myself.cast(PersistenceMsg::Flush)?;
        }
        self.publish();
        Ok(())
    }

    fn recovered(&mut self) {
        self.retry_delay = FIRST_RETRY;
        if let Some(problem) = self.problem.take() {
            info!(backlog = self.queue.len(), was = %problem, "the database accepts writes again; writing the queued state changes");
            self.publish();
        }
    }

    async fn failed(&mut self, problem: String) {
        if self.problem.is_none() {
            warn!(
                backlog = self.queue.len(),
                "{problem}; keeping state changes queued and in the journal, and retrying"
            );
        }
        self.problem = Some(problem);
        self.journal_queue().await;
        self.publish();
        self.answer_drains(false);
    }

    /// Puts the whole queue in the journal, once per outage.
    async fn journal_queue(&mut self) {
        if self.journaled || self.queue.is_empty() {
            return;
        }
        let records: Vec<StateRecord> = self.queue.iter().cloned().collect();
        self.journaled = self.journal_records(records).await;
        if self.journaled {
            for durable in self.waiting.iter_mut().flat_map(std::mem::take) {
                let _ = durable.send(());
            }
        }
    }

    async fn journal_records(&mut self, records: Vec<StateRecord>) -> bool {
        let count = records.len();
        match self.journal.append(records).await {
            Ok(()) => true,
            Err(err) => {
                // Retried at the next failed write: the whole queue again.
                self.journaled = false;
                error!(journal = %self.journal.path().display(), count, error = %format!("{:#}", anyhow::Error::new(err)), "cannot write the state journal; queued state changes are only in memory");
                false
            }
        }
    }

    /// Answers drains once nothing is left to lose, or at their deadline.
    fn answer_drains(&mut self, deadline: bool) {
        if !(deadline || self.queue.is_empty() || self.journaled) {
            return;
        }
        let outcome = self.outcome();
        for reply in self.drains.drain(..) {
            let _ = reply.send(outcome);
        }
    }
}

/// The operator's line for a failed write: what is wrong, in the database's words.
pub fn describe(err: StorageError) -> String {
    if err.is_unavailable() {
        return format!("database unreachable: {}", err.reason());
    }
    match err.refusal() {
        Some(reason) => format!("database refuses writes: {reason}"),
        None => format!("database error: {:#}", anyhow::Error::new(err)),
    }
}
