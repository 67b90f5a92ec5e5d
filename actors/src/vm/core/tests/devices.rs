//! Live drive and NIC changes in the table, and what the core makes of
//! them: a change is recorded only once QEMU confirmed it, and a
//! re-adoption's mismatch is reported without touching the state.

use super::table::{Outcome, Row};
use super::*;
use Outcome::No;
use corvus_protocol::{DriveFormat, DriveInfo, DriveInterface, DriveMedia, WireError};

use super::table::{PA, RU, SAME, ST};

fn device(live: Live) -> Input {
    command(Command::Device {
        what: "change its drives",
        live,
    })
}

fn drive(id: i64) -> DriveInfo {
    DriveInfo {
        id,
        interface: DriveInterface::Nvme,
        file_path: "/img/data.qcow2".into(),
        format: DriveFormat::Qcow2,
        media: DriveMedia::Disk,
        read_only: false,
        cache: None,
        discard: false,
        disk_id: None,
    }
}

fn plugged(result: Result<Confirmed, WireError>) -> Input {
    Input::Plugged {
        origin: ORIGIN,
        verb: "vm drive add",
        result,
    }
}

pub(super) fn rows() -> Vec<Row> {
    use Refusal::*;
    let busy = No(NotStopped);
    vec![
        (
            "device change, pluggable",
            || device(Live::Pluggable),
            [
                ST,
                busy.clone(),
                busy.clone(),
                RU,
                PA,
                busy.clone(),
                busy.clone(),
                busy.clone(),
                busy.clone(),
                busy.clone(),
                busy.clone(),
            ],
        ),
        (
            "device change that needs a stop",
            || {
                device(Live::NeedsStop {
                    reason: "drive 1 is the boot disk".into(),
                })
            },
            [
                ST,
                busy.clone(),
                busy.clone(),
                No(NeedsStop {
                    reason: "drive 1 is the boot disk".into(),
                }),
                No(NeedsStop {
                    reason: "drive 1 is the boot disk".into(),
                }),
                busy.clone(),
                busy.clone(),
                busy.clone(),
                busy.clone(),
                busy.clone(),
                busy.clone(),
            ],
        ),
        (
            "device change with an image in use",
            || {
                device(Live::InUse {
                    reason: "already has /img attached as drive 2".into(),
                })
            },
            [
                ST,
                busy.clone(),
                busy.clone(),
                No(InUse {
                    reason: "already has /img attached as drive 2".into(),
                }),
                No(InUse {
                    reason: "already has /img attached as drive 2".into(),
                }),
                busy.clone(),
                busy.clone(),
                busy.clone(),
                busy.clone(),
                busy.clone(),
                busy,
            ],
        ),
        (
            "plugged: confirmed",
            || plugged(Ok(Confirmed::DriveAttached(drive(9)))),
            SAME,
        ),
        (
            "plugged: refused",
            || plugged(Err(WireError::conflict("no free hotplug slot"))),
            SAME,
        ),
        (
            "reconciled",
            || Input::Reconciled {
                boot: BOOT,
                mismatch: Mismatch {
                    missing: vec!["disk4".into()],
                    unknown: vec!["nic12".into()],
                },
            },
            SAME,
        ),
    ]
}

#[test]
fn a_live_change_goes_to_qemu_and_a_stopped_one_to_the_definition() {
    let running = Fixture::Running.vm().feed(device(Live::Pluggable));
    assert_eq!(running.map(|t| t.effects), Ok(vec![Effect::Plug]));
    let stopped = Fixture::Stopped.vm().feed(device(Live::Pluggable));
    assert_eq!(stopped.map(|t| t.effects), Ok(vec![Effect::Proceed]));
}

#[test]
fn only_a_confirmed_change_is_recorded_with_its_cause() {
    let confirmed = Confirmed::DriveAttached(drive(9));
    let transition = Fixture::Running
        .vm()
        .feed(plugged(Ok(confirmed.clone())))
        .expect("taken");
    assert_eq!(
        transition.effects,
        vec![Effect::Record {
            confirmed,
            origin: ORIGIN,
            verb: "vm drive add"
        }]
    );
    let event = transition.event.expect("an event");
    assert!(event.reason.contains("drive 9"), "{}", event.reason);
    assert_eq!(event.cause, ORIGIN.cause("vm drive add"));

    let refused = Fixture::Running
        .vm()
        .feed(plugged(Err(WireError::conflict("no slot"))))
        .expect("taken");
    assert_eq!(
        refused.effects,
        vec![Effect::Reply(Err(WireError::conflict("no slot")))]
    );
    assert!(refused.event.is_none());
}

#[test]
fn a_readoption_mismatch_is_reported_and_a_match_is_not() {
    let reported = Fixture::Running
        .vm()
        .feed(Input::Reconciled {
            boot: BOOT,
            mismatch: Mismatch {
                missing: vec!["disk4".into()],
                unknown: Vec::new(),
            },
        })
        .expect("taken");
    let event = reported.event.expect("an event");
    assert!(event.reason.contains("disk4"), "{}", event.reason);
    assert_eq!(event.cause, EventCause::Readoption);
    let quiet = Fixture::Running
        .vm()
        .feed(Input::Reconciled {
            boot: BOOT,
            mismatch: Mismatch::default(),
        })
        .expect("taken");
    assert!(quiet.event.is_none());
}
