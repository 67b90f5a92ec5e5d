use crate::common;
use corvus_qemu::{AdoptError, ProcessHandle, Signal, VmPaths, qmp};
use std::time::Duration;

#[tokio::test]
async fn a_running_qemu_is_adopted_by_its_marker_and_strangers_are_not() {
    let Some(qemu) = common::qemu() else { return };
    let root = tempfile::tempdir().expect("tempdir");
    let vm = common::start(&qemu, root.path(), &common::vm(21)).await;
    let pid = vm.process.pid();

    let adopted = ProcessHandle::adopt(pid, "process=corvus-vm-21").expect("adopt");
    assert_eq!(adopted.pid(), pid);
    assert!(adopted.is_alive());
    // Still this test's child: a restarted actor can learn the exit status.
    assert!(adopted.is_child());

    match ProcessHandle::adopt(pid, "process=corvus-vm-2") {
        Err(AdoptError::NotOurs { .. }) => {}
        other => panic!("another VM's marker must not match: {other:?}"),
    }

    let mut sleeper = std::process::Command::new("sleep")
        .arg("30")
        .spawn()
        .expect("sleep");
    // Right after a vfork-style spawn the child's argv is not set up yet.
    let cmdline = format!("/proc/{}/cmdline", sleeper.id());
    while std::fs::read(&cmdline).is_ok_and(|argv| argv.is_empty()) {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    match ProcessHandle::adopt(sleeper.id(), "corvus-vm-21") {
        Err(AdoptError::NotOurs { pid, found_cmdline }) => {
            assert_eq!(pid, sleeper.id());
            assert_eq!(found_cmdline, "sleep 30");
        }
        other => panic!("a sleep is not a QEMU: {other:?}"),
    }
    sleeper.kill().expect("kill sleep");
    sleeper.wait().expect("reap sleep");
    match ProcessHandle::adopt(sleeper.id(), "corvus-vm-21") {
        Err(AdoptError::Gone { .. }) => {}
        other => panic!("a reaped PID is gone: {other:?}"),
    }

    let exit = adopted.exit_watcher().expect("watcher");
    adopted.signal(Signal::SIGTERM).expect("SIGTERM");
    let exit = tokio::time::timeout(common::EVENT_DEADLINE, exit)
        .await
        .expect("exit");
    assert!(exit.success(), "{exit}");
}

/// A QEMU whose parent is gone, as after a daemon restart: it can be
/// adopted and stopped, and its exit is seen, without a status.
#[tokio::test]
async fn an_orphaned_qemu_is_adopted_without_an_exit_status() {
    let Some(qemu) = common::qemu() else { return };
    let root = tempfile::tempdir().expect("tempdir");
    let definition = common::vm(22);
    let paths = VmPaths::new(root.path(), 22);
    paths.prepare(&[]).await.expect("runtime dir");
    let pidfile = paths.dir.join("qemu.pid");
    let mut args =
        corvus_qemu::build_cmdline(&definition, &Default::default(), &paths, common::accel());
    args.extend([
        "-daemonize".into(),
        "-pidfile".into(),
        pidfile.clone().into(),
    ]);
    let stderr = std::fs::File::create(&paths.qemu_log).expect("log");
    let status = tokio::process::Command::new(&qemu)
        .args(&args)
        .stderr(stderr)
        .status()
        .await
        .expect("daemonized QEMU");
    assert!(status.success(), "QEMU says: {}", common::qemu_log(&paths));
    let pid: u32 = std::fs::read_to_string(&pidfile)
        .expect("pidfile")
        .trim()
        .parse()
        .expect("a PID");

    let adopted = ProcessHandle::adopt(pid, "process=corvus-vm-22").expect("adopt");
    assert!(!adopted.is_child());
    let (commands, mut events) = qmp::connect(&paths.qmp, Duration::from_secs(10))
        .await
        .expect("QMP");
    assert!(commands.query_status().await.expect("status").running);

    let exit = adopted.exit_watcher().expect("watcher");
    adopted.signal(Signal::SIGTERM).expect("SIGTERM");
    let exit = tokio::time::timeout(common::EVENT_DEADLINE, exit)
        .await
        .expect("exit");
    assert_eq!((exit.code, exit.signal), (None, None));
    assert!(matches!(
        events.next().await,
        Some(corvus_qemu::QmpEvent::Shutdown { .. })
    ));
    assert!(!adopted.is_alive());
}
