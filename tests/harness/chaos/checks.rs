//! The invariants every chaos round ends with.

use super::Chaos;
use crate::daemon::processes_mentioning;
use crate::postgres::wait_until;
use corvus_protocol::VmState;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// The VM id a QEMU's command line carries.
fn vm_id_of(pid: u32) -> Option<i64> {
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let text = String::from_utf8_lossy(&cmdline);
    let (_, rest) = text.split_once("process=corvus-vm-")?;
    rest.split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

/// Children of `parent` that have exited and were never reaped.
fn zombies_of(parent: u32) -> Vec<u32> {
    let mut zombies = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        let Some((head, rest)) = stat.rsplit_once(") ") else {
            continue;
        };
        let mut fields = rest.split(' ');
        if fields.next() == Some("Z") && fields.next() == Some(&parent.to_string()) {
            zombies.extend(
                head.split(' ')
                    .next()
                    .and_then(|pid| pid.parse::<u32>().ok()),
            );
        }
    }
    zombies
}

impl Chaos {
    /// This daemon's QEMUs, as the processes say.
    pub(super) fn qemus(&self) -> Vec<u32> {
        processes_mentioning(&self.daemon.runtime.display().to_string())
            .into_iter()
            .filter(|pid| vm_id_of(*pid).is_some())
            .collect()
    }

    pub(super) fn virtiofsds(&self) -> Vec<u32> {
        processes_mentioning(&self.daemon.runtime.display().to_string())
            .into_iter()
            .filter(|pid| {
                std::fs::read(format!("/proc/{pid}/cmdline"))
                    .is_ok_and(|c| String::from_utf8_lossy(&c).contains("virtiofsd"))
            })
            .collect()
    }

    pub(super) fn check(&mut self) {
        self.report.checks += 5;
        self.answers_quickly("after recovery");
        self.acknowledged_changes_are_stored();
        self.every_qemu_is_recorded_once();
        self.no_zombies();
        self.sequence_numbers_never_repeat();
    }

    fn acknowledged_changes_are_stored(&mut self) {
        let stored: BTreeMap<String, Option<String>> = self
            .daemon
            .stored_vms()
            .into_iter()
            .map(|vm| (vm.vm.name, vm.vm.description))
            .collect();
        let mut wrong = Vec::new();
        for (name, description) in &self.ledger.defined {
            match stored.get(name) {
                None => wrong.push(format!("acknowledged VM {name} is not stored")),
                Some(stored) if !description.allows(stored) => wrong.push(format!(
                    "{name}: acknowledged description {:?} (or one of {:?}), stored {stored:?}",
                    description.acknowledged, description.attempted
                )),
                Some(_) => {}
            }
        }
        for name in &self.ledger.deleted {
            if stored.contains_key(name) {
                wrong.push(format!("acknowledged deletion of {name} is not stored"));
            }
        }
        let events = self.stored_events();
        for (name, acknowledged) in &self.ledger.starts {
            let recorded = events
                .iter()
                .filter(|e| {
                    e.vm_name == *name
                        && e.to == VmState::Starting
                        && matches!(e.cause, corvus_protocol::EventCause::Operator { .. })
                })
                .count() as u32;
            if recorded < *acknowledged {
                let history: Vec<String> = events
                    .iter()
                    .filter(|e| e.vm_name == *name)
                    .map(|e| format!("{}→{} ({}; {})", e.from, e.to, e.reason, e.cause.describe()))
                    .collect();
                wrong.push(format!(
                    "{name}: {acknowledged} acknowledged starts, {recorded} recorded: {history:?}"
                ));
            }
        }
        for violation in wrong {
            self.violation(violation);
        }
    }

    /// Once no VM is on its way up or down, every QEMU of this daemon is
    /// the one its row records, and the daemon reports the same.
    fn every_qemu_is_recorded_once(&mut self) {
        let settled = wait_until(Duration::from_secs(45), || {
            self.daemon
                .stored_vms()
                .iter()
                .all(|vm| !matches!(vm.vm.status.as_str(), "starting" | "stopping"))
        });
        if !settled {
            let stuck: Vec<String> = self
                .daemon
                .stored_vms()
                .into_iter()
                .filter(|vm| matches!(vm.vm.status.as_str(), "starting" | "stopping"))
                .map(|vm| format!("{} {} pid {:?}", vm.vm.name, vm.vm.status, vm.vm.pid))
                .collect();
            let shown: Vec<String> = stuck
                .iter()
                .filter_map(|line| line.split(' ').next())
                .map(|name| self.daemon.crv(&["vm", "show", name]).stdout())
                .collect();
            self.violation(format!(
                "VMs stayed starting or stopping for 45 s: {stuck:?}; the daemon says {shown:?}"
            ));
        }
        // A QEMU killed a moment ago may still be on its way out.
        let mut problems = Vec::new();
        let consistent = wait_until(Duration::from_secs(10), || {
            problems = self.process_problems();
            problems.is_empty()
        });
        if !consistent {
            for problem in problems {
                self.violation(problem);
            }
        }
    }

    fn process_problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let rows: BTreeMap<i64, (String, String, Option<u32>)> = self
            .daemon
            .stored_vms()
            .into_iter()
            .map(|vm| {
                let pid = vm.vm.pid.map(|pid| pid as u32);
                (vm.vm.id, (vm.vm.name, vm.vm.status, pid))
            })
            .collect();
        let mut seen = BTreeSet::new();
        for pid in self.qemus() {
            let Some(id) = vm_id_of(pid) else { continue };
            if !seen.insert(id) {
                problems.push(format!("VM {id} has more than one QEMU"));
            }
            match rows.get(&id) {
                Some((_, _, Some(recorded))) if *recorded == pid => {}
                Some((name, status, recorded)) => problems.push(format!(
                    "QEMU {pid} of {name} runs, but its row says {status} with pid {recorded:?}"
                )),
                None => problems.push(format!("QEMU {pid} runs for VM {id}, which has no row")),
            }
        }
        for (id, (name, status, pid)) in &rows {
            let has_process = matches!(status.as_str(), "running" | "paused");
            if has_process && !pid.is_some_and(|pid| vm_id_of(pid) == Some(*id)) {
                problems.push(format!(
                    "{name} is {status} with pid {pid:?}, but no such QEMU runs"
                ));
            }
        }
        let listed = self.daemon.crv(&["--json", "vm", "list"]);
        if listed.output.status.success() {
            for vm in listed.json().as_array().into_iter().flatten() {
                let id = vm["id"].as_i64().unwrap_or_default();
                let daemon_pid = vm["pid"].as_u64().map(|pid| pid as u32);
                if let Some((name, _, stored)) = rows.get(&id)
                    && *stored != daemon_pid
                {
                    problems.push(format!(
                        "{name}: the daemon says pid {daemon_pid:?}, the database {stored:?}"
                    ));
                }
            }
        }
        problems
    }

    fn no_zombies(&mut self) {
        let Some(pid) = self.daemon.pid() else {
            return;
        };
        let mut zombies = Vec::new();
        let reaped = wait_until(Duration::from_secs(10), || {
            zombies = zombies_of(pid);
            zombies.is_empty()
        });
        if !reaped {
            self.violation(format!("zombie children of the daemon: {zombies:?}"));
        }
    }

    fn sequence_numbers_never_repeat(&mut self) {
        let seqs: Vec<u64> = self.stored_events().iter().map(|e| e.seq).collect();
        let unique: BTreeSet<u64> = seqs.iter().copied().collect();
        if unique.len() != seqs.len() {
            self.violation(format!(
                "{} event sequence numbers repeat",
                seqs.len() - unique.len()
            ));
        }
    }

    fn stored_events(&self) -> Vec<corvus_protocol::VmEvent> {
        self.daemon.with_store(async |store| {
            store
                .events_between(0, None, &[])
                .await
                .expect("read the stored events")
        })
    }
}
