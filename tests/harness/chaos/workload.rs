//! The ordinary work a chaos round does, and the ledger of what the daemon
//! acknowledged (the changes that must then be in the database).

use super::{Chaos, OPERATION_DEADLINE};
use crate::postgres::wait_until;
use crate::prereq::binary;
use std::collections::{BTreeMap, BTreeSet};
use std::process::{Child, Command, Stdio};

/// The VMs every run keeps; `v3` has a virtiofs share, `v2` restarts on failure.
const FIXED: [&str; 4] = ["v0", "v1", "v2", "v3"];
/// Extra VMs a run creates and deletes.
const EXTRA: usize = 3;

/// What the daemon acknowledged. A command that was not acknowledged (the
/// daemon died under it) may or may not have taken effect, so it only
/// widens what the database may hold.
#[derive(Debug, Default)]
pub struct Ledger {
    /// Defined VMs: the description last acknowledged, and the ones
    /// attempted since without an acknowledgement.
    pub defined: BTreeMap<String, Description>,
    /// VMs whose deletion was acknowledged.
    pub deleted: BTreeSet<String>,
    /// VMs whose create or delete was not acknowledged: either is fine.
    pub uncertain: BTreeSet<String>,
    /// Acknowledged `vm start`s of a stopped VM, by VM.
    pub starts: BTreeMap<String, u32>,
    next: u32,
}

/// What a VM's description may be.
#[derive(Debug, Clone, Default)]
pub struct Description {
    pub acknowledged: Option<String>,
    pub attempted: Vec<String>,
}

impl Description {
    /// Whether the database may hold `stored`.
    pub fn allows(&self, stored: &Option<String>) -> bool {
        stored == &self.acknowledged
            || stored
                .as_ref()
                .is_some_and(|text| self.attempted.contains(text))
    }
}

/// What an operation changes if it is acknowledged.
#[derive(Debug, Clone)]
pub enum Change {
    Create(String),
    Describe(String, String),
    Delete(String),
    Start(String),
    /// Nothing the ledger tracks (stop, pause, reset: the process checks
    /// cover them).
    Lifecycle,
}

/// One `crv` command of the workload.
#[derive(Debug, Clone)]
pub struct Operation {
    pub args: Vec<String>,
    pub change: Change,
}

/// A `crv` run in the background.
pub struct Running {
    child: Child,
    operation: Operation,
}

impl Chaos {
    /// The fixed VMs, and the share of `v3`.
    pub(super) fn populate(&mut self) {
        let share = self.daemon.dir.path().join("share");
        std::fs::create_dir_all(&share).expect("share dir");
        for name in FIXED {
            let mut extra = vec!["--stop-timeout", "1"];
            if name == "v2" {
                extra.extend(["--restart", "on-failure"]);
            }
            self.daemon.create_firmware_vm(name, &extra);
            self.ledger
                .defined
                .insert(name.to_owned(), Description::default());
        }
        self.daemon
            .crv(&[
                "vm",
                "share",
                "add",
                "v3",
                "--path",
                share.to_str().expect("utf-8 path"),
                "--tag",
                "data",
            ])
            .ok();
    }

    fn any_vm(&mut self) -> String {
        let names: Vec<&String> = self.ledger.defined.keys().collect();
        names[self.rng.usize(..names.len())].clone()
    }

    /// A random operation of ordinary work.
    pub(super) fn operation(&mut self) -> Operation {
        let op = |args: &[&str], change| Operation {
            args: args.iter().map(|a| a.to_string()).collect(),
            change,
        };
        let vm = self.any_vm();
        let extra: Vec<String> = self
            .ledger
            .defined
            .keys()
            .filter(|name| name.starts_with('x'))
            .cloned()
            .collect();
        match self.rng.u32(..100) {
            0..30 => op(&["vm", "start", &vm], Change::Start(vm.clone())),
            30..45 => op(&["vm", "stop", &vm, "--timeout", "1"], Change::Lifecycle),
            45..55 => op(&["vm", "reset", &vm], Change::Lifecycle),
            55..62 => op(&["vm", "pause", &vm], Change::Lifecycle),
            62..80 => {
                self.ledger.next += 1;
                let text = format!("d{}", self.ledger.next);
                op(
                    &["vm", "edit", &vm, "--description", &text],
                    Change::Describe(vm.clone(), text.clone()),
                )
            }
            80..90 if extra.len() < EXTRA => {
                self.ledger.next += 1;
                let name = format!("x{}", self.ledger.next);
                let mut args = vec!["vm", "create", &name, "--cpus", "1", "--ram", "64"];
                args.extend([
                    "--cpu-model",
                    "qemu64",
                    "--display",
                    "none",
                    "--stop-timeout",
                    "1",
                ]);
                op(&args, Change::Create(name.clone()))
            }
            _ => match extra.first() {
                Some(name) => op(&["vm", "delete", name], Change::Delete(name.clone())),
                None => op(&["vm", "reset", &vm], Change::Lifecycle),
            },
        }
    }

    pub(super) fn launch(&self, operation: Operation) -> Running {
        let child = Command::new(binary("crv"))
            .arg("--socket")
            .arg(&self.daemon.socket)
            .args(&operation.args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("run crv");
        Running { child, operation }
    }

    /// Waits for a command; what it acknowledged goes into the ledger. A
    /// start is counted only when the VM was stopped before it (a start of
    /// a paused VM resumes it and records no start).
    pub(super) fn settle(&mut self, mut running: Running, was_stopped: bool) {
        self.report.operations += 1;
        let mut status = None;
        wait_until(OPERATION_DEADLINE, || {
            status = running.child.try_wait().ok().flatten();
            status.is_some()
        });
        let Some(status) = status else {
            let _ = running.child.kill();
            let _ = running.child.wait();
            let what = running.operation.args.join(" ");
            self.violation(format!(
                "`crv {what}` did not end within {OPERATION_DEADLINE:?}"
            ));
            return;
        };
        let acknowledged = status.success();
        if acknowledged {
            self.report.acknowledged += 1;
        }
        let ledger = &mut self.ledger;
        match (running.operation.change, acknowledged) {
            (Change::Create(name), true) => {
                ledger.defined.insert(name, Description::default());
            }
            (Change::Create(name), false) => {
                ledger.uncertain.insert(name);
            }
            (Change::Describe(name, text), true) => {
                if let Some(description) = ledger.defined.get_mut(&name) {
                    *description = Description {
                        acknowledged: Some(text),
                        attempted: Vec::new(),
                    };
                }
            }
            (Change::Describe(name, text), false) => {
                if let Some(description) = ledger.defined.get_mut(&name) {
                    description.attempted.push(text);
                }
            }
            (Change::Delete(name), acknowledged) => {
                ledger.defined.remove(&name);
                ledger.starts.remove(&name);
                if acknowledged {
                    ledger.deleted.insert(name);
                } else {
                    ledger.uncertain.insert(name);
                }
            }
            (Change::Start(name), true) if was_stopped => {
                *ledger.starts.entry(name).or_default() += 1
            }
            (Change::Start(_) | Change::Lifecycle, _) => {}
        }
    }

    /// Runs one operation to its end.
    pub(super) fn work(&mut self) {
        let operation = self.operation();
        let was_stopped = self.was_stopped(&operation);
        let running = self.launch(operation);
        self.settle(running, was_stopped);
    }

    /// Whether the VM a start names is stopped (or in error) right now, as
    /// the daemon reports it; false when it cannot say.
    pub(super) fn was_stopped(&self, operation: &Operation) -> bool {
        let Change::Start(vm) = &operation.change else {
            return false;
        };
        let shown = self.daemon.crv(&["--json", "vm", "show", vm]);
        shown.output.status.success()
            && matches!(
                shown.json()["status"].as_str(),
                Some("stopped") | Some("error")
            )
    }
}
