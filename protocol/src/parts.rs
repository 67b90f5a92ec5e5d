//! Answers too long for one frame, sent in parts.
//!
//! `vm list` of thousands of VMs and `vm history --all` outgrow any frame
//! limit. Rather than continuation frames carrying slices of one huge
//! encoding, such an answer goes as several `ReplyPart` frames and a final
//! `Reply`, each a whole `Response` of the same variant holding some of the
//! items: the daemon encodes one part at a time and the client decodes each
//! as it arrives, so neither side ever holds the answer's full encoding, and
//! every frame is a message that the usual decoder checks.

use crate::message::Response;
use serde::Serialize;

/// What a part should weigh: far below the frame limit, so that neither side
/// buffers much per frame, and large enough that framing costs nothing.
pub const PART_BYTES: usize = 1024 * 1024;

impl Response {
    /// Splits a list answer into parts of about `part_bytes` encoded bytes
    /// each (an item larger than that goes alone); other answers stay whole.
    pub fn into_parts(self, part_bytes: usize) -> Vec<Response> {
        match self {
            Response::Vms(vms) => split(vms, part_bytes)
                .into_iter()
                .map(Response::Vms)
                .collect(),
            Response::History(events) => split(events, part_bytes)
                .into_iter()
                .map(Response::History)
                .collect(),
            Response::Disks(disks) => split(disks, part_bytes)
                .into_iter()
                .map(Response::Disks)
                .collect(),
            Response::AllStats(stats) => split(stats, part_bytes)
                .into_iter()
                .map(Response::AllStats)
                .collect(),
            Response::Pong
            | Response::Disk(_)
            | Response::DiskDeleted { .. }
            | Response::DiskSnapshots { .. }
            | Response::VmDeletedWithDisks { .. }
            | Response::Status(_)
            | Response::ShuttingDown
            | Response::Vm(_)
            | Response::Deleted { .. }
            | Response::Subscribed
            | Response::Attached { .. }
            | Response::SpiceUri { .. }
            | Response::VmStats(_)
            | Response::RevocationsReloaded { .. }
            | Response::WebLogin { .. }
            | Response::Exec(_)
            | Response::GuestInterfaces(_)
            | Response::Networks(_)
            | Response::Network(_)
            | Response::NetworkDeleted { .. }
            | Response::VmSnapshots { .. }
            | Response::Nodes(_)
            | Response::Node(_)
            | Response::Drained(_) => vec![self],
        }
    }

    /// Appends the items of the next part of the same answer; a part of
    /// another kind is handed back.
    pub fn append(&mut self, next: Response) -> Result<(), Box<Response>> {
        match (self, next) {
            (Response::Vms(vms), Response::Vms(more)) => vms.extend(more),
            (Response::History(events), Response::History(more)) => events.extend(more),
            (Response::Disks(disks), Response::Disks(more)) => disks.extend(more),
            (Response::AllStats(stats), Response::AllStats(more)) => stats.extend(more),
            (_, next) => return Err(Box::new(next)),
        }
        Ok(())
    }
}

fn split<T: Serialize>(items: Vec<T>, part_bytes: usize) -> Vec<Vec<T>> {
    let mut parts = Vec::new();
    let mut part = Vec::new();
    let mut weight = 0;
    for item in items {
        let size = postcard::serialize_with_flavor::<T, postcard::ser_flavors::Size, usize>(
            &item,
            postcard::ser_flavors::Size::default(),
        )
        .unwrap_or(part_bytes);
        if !part.is_empty() && weight + size > part_bytes {
            parts.push(std::mem::take(&mut part));
            weight = 0;
        }
        weight += size;
        part.push(item);
    }
    // An empty list is still one (empty) answer.
    if !part.is_empty() || parts.is_empty() {
        parts.push(part);
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{EventCause, VmEvent, VmState};

    fn event(seq: u64, reason_len: usize) -> VmEvent {
        VmEvent {
            seq,
            at: "2026-01-01T00:00:00.000Z".into(),
            vm_id: 1,
            vm_name: "web".into(),
            from: VmState::Stopped,
            to: VmState::Running,
            reason: "x".repeat(reason_len),
            cause: EventCause::Daemon,
            kind: crate::EventKind::State,
        }
    }

    #[test]
    fn a_long_list_splits_into_parts_under_the_weight_and_joins_back_in_order() {
        let events: Vec<VmEvent> = (1..=1000).map(|seq| event(seq, 1000)).collect();
        let parts = Response::History(events.clone()).into_parts(64 * 1024);
        assert!(parts.len() > 10, "{} parts", parts.len());
        for part in &parts {
            let encoded = postcard::to_stdvec(part).unwrap();
            assert!(encoded.len() <= 64 * 1024 + 16, "{} bytes", encoded.len());
        }
        let mut parts = parts.into_iter();
        let mut whole = parts.next().unwrap();
        for part in parts {
            whole.append(part).unwrap();
        }
        assert_eq!(whole, Response::History(events));
    }

    #[test]
    fn small_and_empty_answers_stay_whole_and_oversized_items_go_alone() {
        assert_eq!(Response::Pong.into_parts(10), vec![Response::Pong]);
        assert_eq!(
            Response::History(Vec::new()).into_parts(10),
            vec![Response::History(Vec::new())]
        );
        let parts = Response::History(vec![event(1, 100), event(2, 100)]).into_parts(10);
        assert_eq!(parts.len(), 2);
    }

    #[test]
    fn a_part_of_another_kind_is_refused() {
        let mut vms = Response::Vms(Vec::new());
        assert_eq!(vms.append(Response::Pong), Err(Box::new(Response::Pong)));
    }
}
