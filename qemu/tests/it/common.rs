//! The harness: real QEMU VMs without a guest OS (firmware only), each in
//! its own temporary runtime directory.

use corvus_protocol::{DisplayKind, RestartPolicy, RuntimePaths, VmInfo, VmState};
use corvus_qemu::{
    Accel, ExitInfo, ProcessHandle, QmpCommands, QmpEvent, QmpEvents, Signal, VmPaths, qmp,
};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::task::JoinHandle;

pub const QEMU_START_DEADLINE: Duration = Duration::from_secs(20);
pub const EVENT_DEADLINE: Duration = Duration::from_secs(10);

/// The QEMU binary, or `None` (after a loud message) when it is missing.
/// Under CI a missing QEMU fails the test: a skipped suite must not pass.
pub fn qemu() -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join("qemu-system-x86_64"))
            .find(|candidate| candidate.is_file())
    });
    if found.is_none() {
        let ci = std::env::var("CI").is_ok_and(|value| !value.is_empty() && value != "false");
        assert!(!ci, "qemu-system-x86_64 is not installed, and CI is set");
        eprintln!("\n!!!!! SKIPPED: qemu-system-x86_64 not found on PATH !!!!!\n");
    }
    found
}

/// KVM when usable, else TCG; `CORVUS_TEST_ACCEL=tcg` forces TCG.
pub fn accel() -> Accel {
    let choice = std::env::var("CORVUS_TEST_ACCEL").unwrap_or_else(|_| "auto".into());
    let choice: corvus_qemu::AccelChoice = choice.parse().expect("CORVUS_TEST_ACCEL");
    choice.resolve().expect("the requested accelerator")
}

/// A VM with nothing attached. Under KVM the CPU is `qemu64`: nested KVM on
/// the development machines rejects `host` and `max`.
pub fn vm(id: i64) -> VmInfo {
    VmInfo {
        id,
        name: format!("test-{id}"),
        created_at: String::new(),
        updated_at: String::new(),
        status: VmState::Stopped,
        cpu_count: 1,
        ram_mb: 128,
        description: None,
        pid: None,
        restart_policy: RestartPolicy::Never,
        max_restarts: 0,
        restart_window_secs: 0,
        stop_timeout_secs: None,
        autostart: false,
        display: DisplayKind::None,
        cpu_model: (accel() == Accel::Kvm).then(|| "qemu64".to_owned()),
        kernel: None,
        initrd: None,
        cmdline: None,
        last_error: None,
        drives: Vec::new(),
        network_interfaces: Vec::new(),
        shared_dirs: Vec::new(),
        runtime: RuntimePaths {
            dir: String::new(),
            qmp: String::new(),
            monitor: String::new(),
            spice: String::new(),
            serial: String::new(),
            serial_log: String::new(),
        },
        guest_agent: false,
        agent: corvus_protocol::AgentStatus::Off,
        ip_addresses: Vec::new(),
        cloud_init: None,
        hotplug_slots: 4,
        node: String::new(),
        ha: false,
    }
}

pub struct RunningVm {
    pub paths: VmPaths,
    pub process: ProcessHandle,
    pub qmp: QmpCommands,
    pub events: QmpEvents,
    exit: Option<JoinHandle<ExitInfo>>,
}

impl RunningVm {
    /// The exit status, once QEMU has exited.
    pub async fn exit(&mut self) -> ExitInfo {
        let exit = self.exit.take().expect("exit awaited once");
        tokio::time::timeout(EVENT_DEADLINE, exit)
            .await
            .expect("QEMU exits in time")
            .expect("exit watcher")
    }

    /// The next event, failing the test if none comes in time.
    pub async fn event(&mut self) -> Option<QmpEvent> {
        tokio::time::timeout(EVENT_DEADLINE, self.events.next())
            .await
            .expect("an event in time")
    }
}

impl Drop for RunningVm {
    fn drop(&mut self) {
        // A failed test must not leave QEMU running.
        let _ = self.process.signal(Signal::SIGKILL);
    }
}

/// Spawns QEMU for `vm` under `root` and connects QMP.
pub async fn start(qemu: &Path, root: &Path, vm: &VmInfo) -> RunningVm {
    let paths = VmPaths::new(root, vm.id);
    let (process, exit) = spawn(qemu, &paths, vm).await;
    let (qmp, events) = match qmp::connect(&paths.qmp, QEMU_START_DEADLINE).await {
        Ok(session) => session,
        Err(err) => panic!("QMP: {err:?}; QEMU says: {}", qemu_log(&paths)),
    };
    RunningVm {
        paths,
        process,
        qmp,
        events,
        exit: Some(exit),
    }
}

/// Spawns QEMU without connecting, with its exit watcher running.
pub async fn spawn(
    qemu: &Path,
    paths: &VmPaths,
    vm: &VmInfo,
) -> (ProcessHandle, JoinHandle<ExitInfo>) {
    let tags: Vec<&str> = vm.shared_dirs.iter().map(|s| s.tag.as_str()).collect();
    paths.check_socket_lengths(&tags).expect("short paths");
    // Not the share tags: their virtiofsd sockets are already up.
    paths.prepare(&[]).await.expect("runtime dir");
    let args = corvus_qemu::build_cmdline(vm, &Default::default(), paths, accel());
    let process = ProcessHandle::spawn(qemu, &args, &paths.qemu_log).expect("spawn QEMU");
    let exit = tokio::spawn(process.exit_watcher().expect("exit watcher"));
    (process, exit)
}

pub fn qemu_log(paths: &VmPaths) -> String {
    let tail = corvus_qemu::read_tail(&paths.qemu_log, 4096).unwrap_or_default();
    String::from_utf8_lossy(&tail).into_owned()
}
