//! `vm history`: the VM's actor answers the recent events (adding those
//! still on their way to the database); when more are wanted, older ones
//! are read from the database a page at a time and streamed ahead of them,
//! so that a history of any length is neither held whole nor sent in one
//! frame.

use super::Services;
use super::connection::Answer;
use super::dispatch::{Next, forward};
use crate::vm::{Origin, VmCommand};
use crate::wire::db;
use corvus_protocol::{FrameError, Response, VmEvent, VmRef, WireError};
use tokio::io::{AsyncRead, AsyncWrite};

/// The most events the VM's actor is asked for.
const RECENT: u32 = 1000;
/// Events per database read.
const PAGE: u64 = 5000;

/// Older events still to send, before the recent ones already in.
pub struct Older {
    vm_id: i64,
    /// Events with a smaller `seq` than this (the oldest recent one).
    before: u64,
    /// How many of them: the newest `n`, or all when `None`.
    count: Option<u64>,
    recent: Vec<VmEvent>,
}

pub async fn recent(vm: VmRef, limit: Option<u32>, origin: Origin, services: &Services) -> Next {
    let asked = limit.map_or(RECENT, |limit| limit.min(RECENT));
    let command = VmCommand::History { limit: Some(asked) };
    let recent = match forward(services, vm, command, origin).await {
        Ok(Response::History(events)) => events,
        Ok(_) => {
            return Next::Reply(Err(WireError::internal(
                "the VM answered a history request with something else",
            )));
        }
        Err(err) => return Next::Reply(Err(err)),
    };
    let more_wanted = limit.is_none_or(|limit| limit > RECENT);
    match recent.first() {
        // A full answer from the actor: there may be older events.
        Some(oldest) if more_wanted && recent.len() == asked as usize => Next::History(Older {
            vm_id: oldest.vm_id,
            before: oldest.seq,
            count: limit.map(|limit| u64::from(limit - RECENT)),
            recent,
        }),
        _ => Next::Reply(Ok(Response::History(recent))),
    }
}

pub async fn send_older<S: AsyncRead + AsyncWrite + Unpin>(
    mut answer: Answer<'_, S>,
    older: Older,
    services: &Services,
) -> Result<(), FrameError> {
    let store = &services.ctx.store;
    let first = match older.count {
        None => Ok(None),
        Some(count) => db(store.nth_newest_seq(older.vm_id, older.before, count)).await,
    };
    // Pages hold seqs above `after`.
    let mut after = match first {
        Ok(first) => first.map_or(0, |seq| seq.saturating_sub(1)),
        Err(err) => return answer.finish(Err(err.into())).await,
    };
    loop {
        let page = match db(store.history_page(older.vm_id, after, older.before, PAGE)).await {
            Ok(page) => page,
            Err(err) => return answer.finish(Err(err.into())).await,
        };
        let Some(last) = page.last() else { break };
        after = last.seq;
        let full = page.len() as u64 == PAGE;
        answer.part(Response::History(page)).await?;
        if !full {
            break;
        }
    }
    answer.finish(Ok(Response::History(older.recent))).await
}
