//! The persistence actor: the single writer of VM state changes.
//!
//! Changes are queued in memory and written in order. While the database
//! is unreachable the queue grows and the actor retries with backoff, so
//! VMs and clients never wait on the database and nothing is lost.

use corvus_storage::{StateRecord, Store};
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tracing::{info, warn};

pub type PersistenceRef = ActorRef<PersistenceMsg>;

const WRITE_TIMEOUT: Duration = Duration::from_secs(5);
const FIRST_RETRY: Duration = Duration::from_millis(200);
const MAX_RETRY: Duration = Duration::from_secs(5);
/// Writes per `Flush` message, so that other messages are not kept waiting.
const BATCH: usize = 64;

pub enum PersistenceMsg {
    Record(StateRecord),
    Flush,
    /// Answers once the queue is empty or the deadline passes (daemon shutdown).
    Drain {
        deadline: Duration,
        reply: RpcReplyPort<usize>,
    },
}

pub struct PersistenceArgs {
    pub store: Store,
    /// Shared with `crv status`, which reports it.
    pub backlog: Arc<AtomicU64>,
}

pub struct PersistenceState {
    store: Store,
    queue: VecDeque<StateRecord>,
    backlog: Arc<AtomicU64>,
    flush_scheduled: bool,
    retry_delay: Duration,
    outage_logged: bool,
    drains: Vec<(tokio::time::Instant, RpcReplyPort<usize>)>,
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
        _: ActorRef<Self::Msg>,
        args: PersistenceArgs,
    ) -> Result<PersistenceState, ActorProcessingErr> {
        Ok(PersistenceState {
            store: args.store,
            queue: VecDeque::new(),
            backlog: args.backlog,
            flush_scheduled: false,
            retry_delay: FIRST_RETRY,
            outage_logged: false,
            drains: Vec::new(),
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        message: PersistenceMsg,
        state: &mut PersistenceState,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            PersistenceMsg::Record(record) => {
                state.queue.push_back(record);
                state.publish_backlog();
                if !state.flush_scheduled {
                    state.flush_scheduled = true;
                    myself.cast(PersistenceMsg::Flush)?;
                }
            }
            PersistenceMsg::Flush => state.flush(&myself).await?,
            PersistenceMsg::Drain { deadline, reply } => {
                if state.queue.is_empty() {
                    let _ = reply.send(0);
                } else {
                    state
                        .drains
                        .push((tokio::time::Instant::now() + deadline, reply));
                    if !state.flush_scheduled {
                        state.flush_scheduled = true;
                        myself.cast(PersistenceMsg::Flush)?;
                    }
                }
            }
        }
        Ok(())
    }
}

impl PersistenceState {
    fn publish_backlog(&self) {
        self.backlog
            .store(self.queue.len() as u64, Ordering::Relaxed);
    }

    async fn flush(&mut self, myself: &ActorRef<PersistenceMsg>) -> Result<(), ActorProcessingErr> {
        for _ in 0..BATCH {
            let Some(record) = self.queue.front() else {
                break;
            };
            match tokio::time::timeout(WRITE_TIMEOUT, self.store.record_state(record)).await {
                Ok(Ok(())) => {
                    self.queue.pop_front();
                    if self.outage_logged {
                        info!(
                            backlog = self.queue.len(),
                            "database reachable again; writing queued state changes"
                        );
                        self.outage_logged = false;
                    }
                    self.retry_delay = FIRST_RETRY;
                }
                Ok(Err(err)) if !err.is_unavailable() => {
                    // A write the database refuses (not one it cannot take now) will never succeed.
                    warn!(vm_id = record.vm_id, error = %format!("{err:#}"), "dropping a state change the database refuses");
                    self.queue.pop_front();
                }
                failure => {
                    let error = match failure {
                        Ok(Err(err)) => format!("{:#}", anyhow::Error::new(err)),
                        _ => "write timed out".to_owned(),
                    };
                    if !self.outage_logged {
                        warn!(backlog = self.queue.len(), %error, "database unreachable; queueing state changes and retrying");
                        self.outage_logged = true;
                    }
                    self.publish_backlog();
                    self.answer_drains(false);
                    myself.send_after(self.retry_delay, || PersistenceMsg::Flush);
                    self.retry_delay = (self.retry_delay * 2).min(MAX_RETRY);
                    return Ok(());
                }
            }
        }
        self.publish_backlog();
        if self.queue.is_empty() {
            self.flush_scheduled = false;
            self.answer_drains(true);
        } else {
            self.answer_drains(false);
            myself.cast(PersistenceMsg::Flush)?;
        }
        Ok(())
    }

    /// Answers drains that are satisfied (queue empty) or out of time.
    fn answer_drains(&mut self, empty: bool) {
        let now = tokio::time::Instant::now();
        let left = self.queue.len();
        let (done, waiting): (Vec<_>, Vec<_>) = self
            .drains
            .drain(..)
            .partition(|(deadline, _)| empty || *deadline <= now);
        self.drains = waiting;
        for (_, reply) in done {
            let _ = reply.send(left);
        }
    }
}
