//! The test guest (tests/guest): Debian's cloud kernel and a busybox
//! initramfs, built once per machine by tests/guest/build.sh and cached.

use crate::daemon::Daemon;
use crate::postgres::wait_until;
use crate::prereq::require;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

/// The kernel command line every test boot uses; `panic=-1` reboots at once
/// instead of hanging, `cryptomgr.notests` saves a second of boot.
pub const BASE_CMDLINE: &str = "console=ttyS0 quiet panic=-1 cryptomgr.notests";
/// TCG boots the guest in about 3 s when the machine is idle; leave room
/// for a loaded CI machine.
pub const BOOT_TIMEOUT: Duration = Duration::from_secs(90);

pub struct Guest {
    pub kernel: PathBuf,
    pub initrd: PathBuf,
}

static GUEST: OnceLock<Option<Guest>> = OnceLock::new();

fn build() -> Option<Guest> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("guest/build.sh");
    let output = Command::new("bash").arg(&script).output();
    let output = match output {
        Ok(output) if output.status.success() => output,
        Ok(output) => {
            require(
                false,
                &format!(
                    "the test guest (tests/guest/build.sh failed: {})",
                    String::from_utf8_lossy(&output.stderr)
                ),
            );
            return None;
        }
        Err(err) => {
            require(
                false,
                &format!("the test guest (cannot run tests/guest/build.sh: {err})"),
            );
            return None;
        }
    };
    let dir = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
    Some(Guest {
        kernel: dir.join("vmlinuz"),
        initrd: dir.join("initramfs.cpio.gz"),
    })
}

impl Guest {
    /// The guest, built on first use; `None` when it cannot be built outside CI.
    pub fn get() -> Option<&'static Guest> {
        GUEST.get_or_init(build).as_ref()
    }

    /// `crv vm create` arguments for a VM that boots this guest.
    pub fn create_args(&self, name: &str, extra_cmdline: &str) -> Vec<String> {
        let cmdline = format!("{BASE_CMDLINE} {extra_cmdline}").trim().to_owned();
        [
            "vm",
            "create",
            name,
            "--cpus",
            "1",
            "--ram",
            "256",
            "--display",
            "none",
            "--stop-timeout",
            "30",
            "--kernel",
        ]
        .iter()
        .map(|s| s.to_string())
        .chain([
            self.kernel.display().to_string(),
            "--initrd".into(),
            self.initrd.display().to_string(),
            "--cmdline".into(),
            cmdline,
        ])
        .collect()
    }
}

impl Daemon {
    /// Defines a VM that boots the test guest; returns its id.
    pub fn create_guest_vm(
        &self,
        guest: &Guest,
        name: &str,
        extra_cmdline: &str,
        extra_args: &[&str],
    ) -> i64 {
        let mut args = guest.create_args(name, extra_cmdline);
        args.extend(extra_args.iter().map(|s| s.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let vm = self.crv(&[&["--json"], &args[..]].concat()).json();
        vm["id"].as_i64().expect("a created VM has an id")
    }

    pub fn serial_log(&self, vm_id: i64) -> String {
        let path = self.runtime.join(vm_id.to_string()).join("serial.log");
        String::from_utf8_lossy(&std::fs::read(path).unwrap_or_default()).into_owned()
    }

    /// Waits until the VM's serial log contains `needle`.
    #[track_caller]
    pub fn wait_for_serial(&self, vm_id: i64, needle: &str, timeout: Duration) {
        let found = wait_until(timeout, || self.serial_log(vm_id).contains(needle));
        assert!(
            found,
            "{needle:?} not on VM {vm_id}'s serial within {timeout:?}:\n{}\n--- daemon log:\n{}",
            self.serial_log(vm_id),
            self.log()
        );
    }

    /// Waits until `crv vm show` reports `state`.
    #[track_caller]
    pub fn wait_for_state(&self, vm: &str, state: &str, timeout: Duration) -> serde_json::Value {
        let mut last = serde_json::Value::Null;
        let reached = wait_until(timeout, || {
            last = self.crv(&["--json", "vm", "show", vm]).json();
            last["status"] == state
        });
        assert!(
            reached,
            "VM {vm} did not reach {state} within {timeout:?}; last seen: {last}\n--- daemon log:\n{}",
            self.log()
        );
        last
    }
}
