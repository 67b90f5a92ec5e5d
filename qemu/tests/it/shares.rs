use crate::common;
use corvus_protocol::{ShareCache, ShareInfo};
use corvus_qemu::{FlagStyle, ProcessHandle, Signal, Virtiofsd, VirtiofsdError, VmPaths};
use std::path::Path;
use std::time::Duration;

const VIRTIOFSD_DEADLINE: Duration = Duration::from_secs(5);

/// virtiofsd, or `None` after a loud message (a failure under CI).
async fn virtiofsd() -> Option<Virtiofsd> {
    let ci = std::env::var("CI").is_ok_and(|value| !value.is_empty() && value != "false");
    let Some(found) = corvus_qemu::virtiofsd::find().await else {
        assert!(!ci, "virtiofsd is not installed, and CI is set");
        eprintln!("\n!!!!! SKIPPED: virtiofsd not found !!!!!\n");
        return None;
    };
    if found.style() == FlagStyle::C && !is_root() {
        eprintln!("\n!!!!! SKIPPED: the C virtiofsd needs root !!!!!\n");
        return None;
    }
    Some(found)
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .map(|status| status.lines().any(|l| l.starts_with("Uid:\t0\t")))
        .unwrap_or(false)
}

fn share(path: &Path, read_only: bool) -> ShareInfo {
    ShareInfo {
        id: 1,
        path: path.to_str().expect("utf-8").to_owned(),
        tag: "data".into(),
        cache: ShareCache::Auto,
        read_only,
        pid: None,
    }
}

/// A virtiofsd that is killed when the test ends, passed or failed.
struct Server(ProcessHandle);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.signal(Signal::SIGKILL);
    }
}

impl std::ops::Deref for Server {
    type Target = ProcessHandle;

    fn deref(&self) -> &ProcessHandle {
        &self.0
    }
}

async fn spawn(virtiofsd: &Virtiofsd, paths: &VmPaths, share: &ShareInfo) -> Server {
    paths.prepare(&[&share.tag]).await.expect("runtime dir");
    let socket = paths.virtiofsd_socket(&share.tag);
    let process = virtiofsd
        .spawn(
            &socket,
            share,
            &paths.virtiofsd_log(&share.tag),
            VIRTIOFSD_DEADLINE,
        )
        .await
        .expect("virtiofsd listens");
    Server(process)
}

#[tokio::test]
async fn virtiofsd_listens_and_can_be_killed() {
    let Some(virtiofsd) = virtiofsd().await else {
        return;
    };
    let root = tempfile::tempdir().expect("tempdir");
    let shared = root.path().join("shared, dir");
    std::fs::create_dir(&shared).expect("mkdir");
    let paths = VmPaths::new(root.path(), 51);
    let process = spawn(&virtiofsd, &paths, &share(&shared, false)).await;
    assert!(paths.virtiofsd_socket("data").exists());
    let exit = process.exit_watcher().expect("watcher");
    process.signal(Signal::SIGTERM).expect("SIGTERM");
    tokio::time::timeout(VIRTIOFSD_DEADLINE, exit)
        .await
        .expect("virtiofsd exits");
}

/// The C virtiofsd gets read-only shares from a private read-only bind
/// mount; the mount is visible in its mount table and nowhere else.
#[tokio::test]
async fn a_read_only_share_is_mounted_read_only_for_virtiofsd_only() {
    let Some(virtiofsd) = virtiofsd().await else {
        return;
    };
    if virtiofsd.style() != FlagStyle::C {
        return; // the Rust virtiofsd uses its --readonly flag instead
    }
    let root = tempfile::tempdir().expect("tempdir");
    let shared = root.path().join("ro");
    std::fs::create_dir(&shared).expect("mkdir");
    let paths = VmPaths::new(root.path(), 52);
    let process = spawn(&virtiofsd, &paths, &share(&shared, true)).await;

    let mount_point = format!(" {} ", shared.display());
    let mounts =
        std::fs::read_to_string(format!("/proc/{}/mountinfo", process.pid())).expect("mountinfo");
    let line = mounts
        .lines()
        .find(|line| line.contains(&mount_point))
        .unwrap_or_else(|| panic!("no bind mount of the share: {mounts}"));
    assert!(line.contains(" ro,") || line.contains(" ro "), "{line}");
    let ours = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    assert!(
        !ours.contains(&mount_point),
        "the bind mount leaked to the host"
    );
    process.signal(Signal::SIGKILL).expect("SIGKILL");
}

#[tokio::test]
async fn a_vm_with_a_share_starts_and_its_virtiofsd_follows_it_out() {
    let Some(virtiofsd) = virtiofsd().await else {
        return;
    };
    let Some(qemu) = common::qemu() else { return };
    let root = tempfile::tempdir().expect("tempdir");
    let shared = root.path().join("shared");
    std::fs::create_dir(&shared).expect("mkdir");
    let mut definition = common::vm(53);
    definition.shared_dirs = vec![share(&shared, false)];
    let paths = VmPaths::new(root.path(), 53);
    let server = spawn(&virtiofsd, &paths, &definition.shared_dirs[0]).await;
    let server_exit = server.exit_watcher().expect("watcher");

    let mut vm = common::start(&qemu, root.path(), &definition).await;
    assert!(vm.qmp.query_status().await.expect("status").running);
    let tree = vm
        .qmp
        .human_monitor_command("info qtree")
        .await
        .expect("qtree");
    assert!(tree.contains("vhost-user-fs"), "{tree}");

    vm.qmp.quit().await.expect("quit");
    assert!(vm.exit().await.success());
    let exit = tokio::time::timeout(VIRTIOFSD_DEADLINE, server_exit)
        .await
        .expect("virtiofsd exits when QEMU goes");
    assert!(exit.success(), "{exit}");
}

#[tokio::test]
async fn a_virtiofsd_that_dies_at_start_explains_why() {
    let Some(virtiofsd) = virtiofsd().await else {
        return;
    };
    let root = tempfile::tempdir().expect("tempdir");
    let paths = VmPaths::new(root.path(), 54);
    paths.prepare(&["data"]).await.expect("runtime dir");
    let missing = share(&root.path().join("missing"), false);
    let result = virtiofsd
        .spawn(
            &paths.virtiofsd_socket("data"),
            &missing,
            &paths.virtiofsd_log("data"),
            VIRTIOFSD_DEADLINE,
        )
        .await;
    match result {
        Err(VirtiofsdError::Exited { status, log }) => {
            assert!(!status.success(), "{status}");
            assert!(log.contains("missing"), "{log}");
        }
        Err(other) => panic!("expected an early exit, got {other:?}"),
        Ok(process) => {
            let _ = process.signal(Signal::SIGKILL);
            panic!("virtiofsd served a missing directory");
        }
    }
}
