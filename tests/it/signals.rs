//! Signals and shutdown (issue 12, defect 10): SIGHUP never kills the
//! daemon, SIGTERM during start-up is a clean shutdown, and a client still
//! connected when `--stop-vms-on-exit` begins cannot start a VM that the
//! shutdown would then leave running.

use corvus_protocol::{
    ClientMessage, Connection, ErrorKind, PROTOCOL_VERSION, Request, ServerMessage, VmRef,
};
use harness::daemon::processes_mentioning;
use harness::postgres::wait_until;
use harness::{Daemon, DaemonOptions, Db};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::net::UnixStream;

type Client = Connection<UnixStream, ServerMessage, ClientMessage>;

fn signal(pid: u32, signal: Signal) {
    kill(Pid::from_raw(pid as i32), signal).expect("send a signal");
}

fn qemus(daemon: &Daemon) -> Vec<u32> {
    processes_mentioning(&daemon.runtime.display().to_string())
        .into_iter()
        .filter(|pid| Some(*pid) != daemon.pid())
        .collect()
}

#[test]
fn sighup_is_logged_and_survived() {
    let daemon = Daemon::start(Db::Sqlite).expect("daemon");
    let pid = daemon.pid().expect("running");
    for _ in 0..3 {
        signal(pid, Signal::SIGHUP);
    }
    std::thread::sleep(Duration::from_millis(300));
    daemon.crv(&["ping"]).ok();
    assert!(daemon.log().contains("SIGHUP received and ignored"));
}

#[test]
fn sigterm_while_vms_are_readopted_is_a_clean_shutdown() {
    let mut daemon = Daemon::start(Db::Sqlite).expect("daemon");
    daemon.create_firmware_vm("web", &[]);
    daemon.crv(&["vm", "start", "web"]).ok();
    let qemu = daemon.pid_of("web").expect("a pid") as u32;
    daemon.kill9();
    // A QEMU that does not answer QMP keeps the next daemon re-adopting
    // for a few seconds.
    signal(qemu, Signal::SIGSTOP);
    let log = daemon.dir.path().join("startup.log");
    let mut child = daemon
        .command()
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&log).expect("log"))
        .stderr(std::fs::File::create(daemon.dir.path().join("startup.err")).expect("log"))
        .spawn()
        .expect("spawn corvus");
    let adopting = wait_until(Duration::from_secs(10), || {
        std::fs::read_to_string(daemon.dir.path().join("startup.err"))
            .is_ok_and(|text| text.contains("re-adopting a running QEMU"))
    });
    assert!(adopting, "the daemon did not start re-adopting");
    signal(child.id(), Signal::SIGTERM);
    let status = child.wait().expect("corvus exits");
    let errors = std::fs::read_to_string(daemon.dir.path().join("startup.err")).unwrap_or_default();
    assert!(
        status.success(),
        "exit {status} during re-adoption:\n{errors}"
    );
    assert!(errors.contains("corvus stopped"), "{errors}");
    // QEMU was left alone, and the next daemon adopts it.
    signal(qemu, Signal::SIGCONT);
    daemon.restart();
    assert_eq!(daemon.pid_of("web"), Some(u64::from(qemu)));
    assert_eq!(daemon.show("web")["status"], "running");
}

async fn connected(daemon: &Daemon) -> Client {
    let stream = UnixStream::connect(&daemon.socket).await.expect("connect");
    let mut conn = Client::new(stream);
    conn.send(ClientMessage::Hello {
        protocol_version: PROTOCOL_VERSION,
        client: "test".into(),
    })
    .await
    .expect("hello");
    assert!(matches!(
        conn.recv().await,
        Ok(Some(ServerMessage::Welcome { .. }))
    ));
    conn
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_connected_during_stop_vms_on_exit_cannot_start_a_vm() {
    let options = DaemonOptions {
        extra_args: vec!["--stop-vms-on-exit".into()],
        ..DaemonOptions::default()
    };
    let mut daemon = Daemon::start_with(Db::Sqlite, options).expect("daemon");
    // Firmware ignores the power button: its stop takes the whole timeout.
    daemon.create_firmware_vm("slow", &["--stop-timeout", "3"]);
    daemon.create_firmware_vm("late", &[]);
    daemon.crv(&["vm", "start", "slow"]).ok();
    let mut client = connected(&daemon).await;
    let mut subscriber = connected(&daemon).await;
    subscriber
        .send(ClientMessage::Request(Request::Subscribe {
            filter: Default::default(),
        }))
        .await
        .expect("subscribe");
    assert!(matches!(
        subscriber.recv().await,
        Ok(Some(ServerMessage::Reply(Ok(_))))
    ));
    let pid = daemon.pid().expect("running");
    let began = Instant::now();
    signal(pid, Signal::SIGTERM);
    // The stream is let go at once, while the VM takes its stop timeout.
    let ended = tokio::time::timeout(Duration::from_secs(2), async {
        loop {
            match subscriber.recv().await {
                Ok(Some(ServerMessage::StreamEnd { reason })) => return Some(reason),
                Ok(Some(_)) => continue,
                _ => return None,
            }
        }
    })
    .await;
    assert!(
        matches!(&ended, Ok(Some(reason)) if reason.contains("shutting down")),
        "the event stream was not ended promptly: {ended:?}"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let sent = client
        .send(ClientMessage::Request(Request::StartVm {
            vm: VmRef::parse("late"),
        }))
        .await;
    if sent.is_ok() {
        match tokio::time::timeout(Duration::from_secs(10), client.recv()).await {
            Ok(Ok(Some(ServerMessage::Reply(Err(err))))) => {
                assert_eq!(err.kind, ErrorKind::Unavailable, "{err:?}");
                assert!(err.message.contains("shutting down"), "{err:?}");
            }
            // The connection was closed: refused just as well.
            Ok(Ok(None)) | Ok(Err(_)) => {}
            other => panic!("a start during shutdown was answered with {other:?}"),
        }
    }
    let status = tokio::task::spawn_blocking(move || {
        let status = daemon.wait_exit();
        (status, daemon)
    })
    .await
    .expect("wait");
    let (status, daemon) = status;
    assert!(status.success());
    assert!(
        began.elapsed() < Duration::from_secs(30),
        "shutdown took {:?}",
        began.elapsed()
    );
    assert!(
        qemus(&daemon).is_empty(),
        "a VM outlived --stop-vms-on-exit"
    );
}
