use crate::common::{self, RunningVm};
use corvus_qemu::{QmpEvent, RunStatus, Signal};
use std::io::Read;
use std::os::unix::net::UnixStream;

async fn status(vm: &RunningVm) -> RunStatus {
    vm.qmp.query_status().await.expect("query-status")
}

#[tokio::test]
async fn pause_resume_powerdown_and_sigterm() {
    let Some(qemu) = common::qemu() else { return };
    let root = tempfile::tempdir().expect("tempdir");
    let definition = common::vm(11);
    // The serial log starts empty at each boot.
    let paths = corvus_qemu::VmPaths::new(root.path(), 11);
    corvus_qemu::private_dir::ensure(&paths.dir, corvus_qemu::Strictness::Private).expect("mkdir");
    std::fs::write(&paths.serial_log, b"previous boot").expect("write");

    let mut vm = common::start(&qemu, root.path(), &definition).await;
    let cmdline = std::fs::read(format!("/proc/{}/cmdline", vm.process.pid())).expect("cmdline");
    assert!(String::from_utf8_lossy(&cmdline).contains("process=corvus-vm-11"));
    assert!(
        !std::fs::read(&paths.serial_log)
            .expect("serial log")
            .starts_with(b"previous")
    );
    assert_eq!(
        status(&vm).await,
        RunStatus {
            running: true,
            status: "running".into()
        }
    );

    vm.qmp.stop().await.expect("stop");
    assert_eq!(vm.event().await, Some(QmpEvent::Stop));
    assert_eq!(
        status(&vm).await,
        RunStatus {
            running: false,
            status: "paused".into()
        }
    );

    vm.qmp.cont().await.expect("cont");
    assert_eq!(vm.event().await, Some(QmpEvent::Resume));
    assert!(status(&vm).await.running);

    // Firmware without an OS: the button press is all that happens.
    vm.qmp.system_powerdown().await.expect("powerdown");
    assert_eq!(vm.event().await, Some(QmpEvent::Powerdown));
    assert!(status(&vm).await.running);

    // The human monitor answers on its own socket.
    let mut monitor = UnixStream::connect(&vm.paths.monitor).expect("monitor socket");
    let mut banner = [0u8; 64];
    let read = monitor.read(&mut banner).expect("monitor banner");
    assert!(
        String::from_utf8_lossy(&banner[..read]).contains("QEMU"),
        "banner"
    );

    vm.process.signal(Signal::SIGTERM).expect("SIGTERM");
    assert_eq!(
        vm.event().await,
        Some(QmpEvent::Shutdown {
            guest: false,
            reason: "host-signal".into()
        })
    );
    assert_eq!(vm.event().await, None, "the session ends with QEMU");
    let exit = vm.exit().await;
    assert_eq!((exit.code, exit.signal), (Some(0), None), "{exit}");
    assert!(!vm.process.is_alive());
    // Signalling an exited process is not an error.
    vm.process
        .signal(Signal::SIGKILL)
        .expect("signal after exit");
}

#[tokio::test]
async fn sigkill_is_reported_as_a_signal() {
    let Some(qemu) = common::qemu() else { return };
    let root = tempfile::tempdir().expect("tempdir");
    let mut vm = common::start(&qemu, root.path(), &common::vm(12)).await;
    assert!(vm.process.is_alive());
    vm.process.signal(Signal::SIGKILL).expect("SIGKILL");
    let exit = vm.exit().await;
    assert_eq!((exit.code, exit.signal), (None, Some(9)));
    assert_eq!(exit.to_string(), "killed by signal 9 (SIGKILL)");
    assert_eq!(vm.event().await, None);
}

#[tokio::test]
async fn quit_ends_qemu_cleanly() {
    let Some(qemu) = common::qemu() else { return };
    let root = tempfile::tempdir().expect("tempdir");
    let mut vm = common::start(&qemu, root.path(), &common::vm(13)).await;
    vm.qmp.quit().await.expect("quit");
    assert_eq!(
        vm.event().await,
        Some(QmpEvent::Shutdown {
            guest: false,
            reason: "host-qmp-quit".into()
        })
    );
    assert!(vm.exit().await.success());
}

#[tokio::test]
async fn spice_serves_its_socket() {
    let Some(qemu) = common::qemu() else { return };
    let root = tempfile::tempdir().expect("tempdir");
    let mut definition = common::vm(14);
    definition.display = corvus_protocol::DisplayKind::Spice;
    let vm = common::start(&qemu, root.path(), &definition).await;
    assert!(vm.qmp.query_status().await.expect("status").running);
    let spice = vm
        .qmp
        .execute_value("query-spice", serde_json::json!({}))
        .await
        .expect("query-spice");
    assert_eq!(spice["enabled"], true, "{spice}");
    UnixStream::connect(&vm.paths.spice).expect("SPICE listens on spice.sock");
    let vga = vm
        .qmp
        .human_monitor_command("info pci")
        .await
        .expect("info pci");
    assert!(vga.contains("VGA controller"), "{vga}");
}
