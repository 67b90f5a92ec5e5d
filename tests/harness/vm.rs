//! Defining and inspecting VMs through `crv`, as the scenarios need them.

use crate::daemon::Daemon;
use serde_json::Value;

impl Daemon {
    /// A VM with no kernel and no disk: its firmware runs (under KVM with
    /// `-cpu qemu64` where /dev/kvm works, which is cheap) and nothing in
    /// it answers ACPI, so a graceful stop of it always times out.
    /// `--display none` unless `extra` names a display.
    pub fn create_firmware_vm(&self, name: &str, extra: &[&str]) {
        let mut args = vec![
            "vm",
            "create",
            name,
            "--cpus",
            "1",
            "--ram",
            "64",
            "--cpu-model",
            "qemu64",
        ];
        if !extra.contains(&"--display") {
            args.extend_from_slice(&["--display", "none"]);
        }
        args.extend_from_slice(extra);
        self.crv(&args).ok();
    }

    /// `crv --json vm show`.
    pub fn show(&self, vm: &str) -> Value {
        self.crv(&["--json", "vm", "show", vm]).json()
    }

    pub fn pid_of(&self, vm: &str) -> Option<u64> {
        self.show(vm)["pid"].as_u64()
    }

    /// `crv --json vm history --all`, oldest first.
    pub fn history(&self, vm: &str) -> Vec<Value> {
        self.crv(&["--json", "vm", "history", "--all", vm])
            .json()
            .as_array()
            .expect("history is an array")
            .clone()
    }
}

impl Daemon {
    /// What the database holds, read independently of the daemon (on a
    /// thread of its own, so that async tests may call it too).
    pub fn stored_vms(&self) -> Vec<corvus_storage::StoredVm> {
        let url = self.database_url.clone();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async {
                let store = corvus_storage::Store::connect(&url)
                    .await
                    .expect("connect to the test database");
                let vms = store.load_vms().await.expect("load VMs");
                store.close().await;
                vms
            })
        })
        .join()
        .expect("read the database")
    }
}

impl Daemon {
    /// The (from, to) of every stored event of `vm`, oldest first.
    pub fn transitions(&self, vm: &str) -> Vec<(String, String)> {
        let text = |event: &Value, key: &str| event[key].as_str().expect("a state").to_owned();
        self.history(vm)
            .iter()
            .map(|e| (text(e, "from"), text(e, "to")))
            .collect()
    }
}

/// Expected transitions, in the form `Daemon::transitions` returns.
pub fn transitions(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(from, to)| (from.to_string(), to.to_string()))
        .collect()
}
