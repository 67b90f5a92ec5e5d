//! One real cloud guest (Debian 12 with cloud-init, tests/guest/build-cloud.sh)
//! created in one command from its image with a generated key and a port
//! forward, booted under TCG: cloud-init takes the seed (user, key,
//! hostname) and SSH answers through the forwarded port. The only boot of
//! that image in the suite: it takes about half a minute.

use harness::access::free_port;
use harness::cloud_guest::{CMDLINE, CloudGuest};
use harness::postgres::wait_until;
use harness::prereq::{require, which};
use harness::{Daemon, DaemonOptions, Db};
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

/// About 32 s on an idle machine; the tests share two cores.
const SSH_DEADLINE: Duration = Duration::from_secs(300);

fn ssh(key: &Path, port: u16, command: &str) -> Output {
    Command::new("ssh")
        .args(["-i"])
        .arg(key)
        .args([
            "-p",
            &port.to_string(),
            "-o",
            "BatchMode=yes",
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "ConnectTimeout=5",
            "-o",
            "LogLevel=ERROR",
            "alice@127.0.0.1",
            command,
        ])
        .output()
        .expect("run ssh")
}

#[test]
fn a_cloud_image_boots_with_its_seed_and_answers_ssh_on_the_forward() {
    if !require(
        which("ssh").is_some() && which("ssh-keygen").is_some(),
        "ssh and ssh-keygen (package openssh-client)",
    ) {
        return;
    }
    let Some(guest) = CloudGuest::get() else {
        return;
    };
    let Some(daemon) = Daemon::start_with(Db::Sqlite, DaemonOptions::tcg()) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("id_ed25519");
    let keygen = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "corvus-test", "-f"])
        .arg(&key)
        .status()
        .unwrap();
    assert!(keygen.success());
    let public = format!("{}.pub", key.display());

    daemon
        .crv(&[
            "disk",
            "register",
            "debian-cloud",
            guest.root.to_str().unwrap(),
            "--format",
            "raw",
        ])
        .ok();
    let port = free_port();
    let forward = format!("tcp:{port}:22");
    daemon
        .crv(&[
            "vm",
            "create",
            "web",
            "--cpus",
            "2",
            "--ram",
            "1024",
            "--display",
            "none",
            "--image",
            "debian-cloud",
            "--kernel",
            guest.kernel.to_str().unwrap(),
            "--initrd",
            guest.initrd.to_str().unwrap(),
            "--cmdline",
            CMDLINE,
            "--user",
            "alice",
            "--ssh-key",
            &public,
            "--hostname",
            "cloudweb",
            "--forward",
            &forward,
        ])
        .ok();
    daemon.crv(&["vm", "start", "web"]).ok();

    let mut last = None;
    let answered = wait_until(SSH_DEADLINE, || {
        let output = ssh(&key, port, "hostname");
        let ok = output.status.success();
        last = Some(output);
        ok
    });
    let last = last.unwrap();
    let id = daemon.show("web")["id"].as_i64().unwrap();
    assert!(
        answered,
        "no SSH login through port {port} within {SSH_DEADLINE:?}: {}\n--- serial:\n{}",
        String::from_utf8_lossy(&last.stderr),
        daemon.serial_log(id)
    );
    assert_eq!(String::from_utf8_lossy(&last.stdout).trim(), "cloudweb");
    let sudo = ssh(&key, port, "sudo -n id -u");
    assert_eq!(
        String::from_utf8_lossy(&sudo.stdout).trim(),
        "0",
        "passwordless sudo"
    );

    daemon.crv(&["vm", "reset", "web"]).ok();
}
