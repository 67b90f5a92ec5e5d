//! The plumbing of a long job: the gateway opens a [`JobChannel`] for the
//! connection that asked; the job reports through a [`Reporter`] and ends
//! with one answer. The channel's token is cancelled when the client
//! detaches or goes away; the job then stops and cleans up.

use super::{Accepted, DiskError};
use corvus_protocol::{JobProgress, Response, WireError};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

/// Progress frames waiting for a slow client; more are dropped, since
/// only the latest figure matters.
pub const PROGRESS_BACKLOG: usize = 16;
/// A bar redrawn ten times a second is smooth; more frames are only load.
const PROGRESS_INTERVAL: Duration = Duration::from_millis(100);

pub struct JobChannel {
    pub progress: mpsc::Sender<JobProgress>,
    pub cancel: CancellationToken,
    pub done: oneshot::Sender<Result<Response, WireError>>,
}

/// What the connection keeps of a job: progress to relay, the answer to
/// wait for, and the token that cancels it.
pub struct JobStream {
    pub progress: mpsc::Receiver<JobProgress>,
    pub cancel: CancellationToken,
    pub done: oneshot::Receiver<Result<Response, WireError>>,
}

/// Both ends of a new job's channel.
pub fn open() -> (JobChannel, JobStream) {
    let (progress_tx, progress_rx) = mpsc::channel(PROGRESS_BACKLOG);
    let (done_tx, done_rx) = oneshot::channel();
    let cancel = CancellationToken::new();
    (
        JobChannel {
            progress: progress_tx,
            cancel: cancel.clone(),
            done: done_tx,
        },
        JobStream {
            progress: progress_rx,
            cancel,
            done: done_rx,
        },
    )
}

impl JobChannel {
    pub fn reporter(&self, job: u64) -> Reporter {
        Reporter {
            job,
            progress: self.progress.clone(),
            cancel: self.cancel.clone(),
            started: Instant::now(),
            last_ms: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Runs an accepted job to its answer, or answers a refusal at once.
    pub fn finish(self, accepted: Result<Accepted, DiskError>) {
        match accepted {
            Ok(work) => {
                tokio::spawn(async move {
                    let result = work.await.map_err(WireError::from);
                    let _ = self.done.send(result);
                });
            }
            Err(err) => {
                let _ = self.done.send(Err(err.into()));
            }
        }
    }
}

/// A job's handle on its channel.
#[derive(Clone)]
pub struct Reporter {
    pub job: u64,
    progress: mpsc::Sender<JobProgress>,
    pub cancel: CancellationToken,
    started: Instant,
    /// When the last frame went, in ms since `started` (shared by clones).
    last_ms: Arc<AtomicU64>,
}

impl Reporter {
    /// Sends a frame, at most one per interval except a phase's first
    /// (`done == 0`) and last (`done == total`).
    pub fn report(&self, phase: &str, done: u64, total: Option<u64>) {
        let now = self.started.elapsed().as_millis() as u64;
        let last = self.last_ms.load(Ordering::Relaxed);
        let edge = done == 0 || Some(done) == total;
        if !edge && now.saturating_sub(last) < PROGRESS_INTERVAL.as_millis() as u64 {
            return;
        }
        self.last_ms.store(now, Ordering::Relaxed);
        let _ = self.progress.try_send(JobProgress {
            job: self.job,
            phase: phase.to_owned(),
            done,
            total,
        });
    }
}
