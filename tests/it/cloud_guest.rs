//! One real cloud guest (Debian 12 with cloud-init, tests/guest/build-cloud.sh)
//! created in one command from its image with a generated key and a port
//! forward, booted under TCG: cloud-init takes the seed (user, key,
//! hostname) and SSH answers through the forwarded port. The only boot of
//! that image in the suite: it takes about half a minute.

use harness::access::{Via, free_port};
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
    // cloud-init's last stages may still restart sshd: let them finish
    // (whatever they report: the test image has no locales, so cloud-init's
    // locale module fails, which is not Corvus's to judge).
    let settled = ssh(&key, port, "cloud-init status --wait --long");
    eprintln!("{}", String::from_utf8_lossy(&settled.stdout));
    let sudo = ssh(&key, port, "sudo -n id -u");
    assert_eq!(
        String::from_utf8_lossy(&sudo.stdout).trim(),
        "0",
        "passwordless sudo"
    );

    // The guest agent: it starts with the guest, a little after sshd.
    let agent_says = || {
        daemon.crv(&[
            "vm",
            "exec",
            "web",
            "--",
            "sh",
            "-c",
            "echo M$((6*7)); exit 3",
        ])
    };
    let mut exec = agent_says();
    wait_until(Duration::from_secs(60), || {
        exec = agent_says();
        exec.code() == 3
    });
    assert_eq!(
        (exec.code(), exec.stdout().trim()),
        (3, "M42"),
        "{}",
        exec.stderr()
    );
    let missing = daemon.crv(&["vm", "exec", "web", "--", "no-such-program"]);
    assert_eq!(missing.code(), 127, "{}", missing.stderr());
    let json = daemon
        .crv(&["--json", "vm", "exec", "web", "--", "cat", "/etc/hostname"])
        .json();
    assert_eq!(
        (json["exit_code"].as_i64(), json["stdout"].as_str()),
        (Some(0), Some("cloudweb\n"))
    );
    let piped =
        daemon.crv_via_with_input(Via::Unix, &["vm", "exec", "web", "--", "cat"], "piped\n");
    assert_eq!(piped.ok(), "piped\n", "stdin reaches the command");
    let ip = daemon.crv(&["vm", "ip", "web"]).ok();
    assert!(ip.contains("10.0.2.15/24"), "{ip}");
    let shown = daemon.show("web");
    assert_eq!(shown["agent"], "connected", "{shown}");
    assert_eq!(shown["ip_addresses"][0], "10.0.2.15/24", "{shown}");

    // A disk snapshot of a guest with an agent freezes its filesystems
    // around it, and thaws them: the guest writes and syncs afterwards.
    daemon
        .crv(&["vm", "snapshot", "create", "web", "frozen"])
        .ok();
    let events = daemon.crv_background(
        Via::Unix,
        &["--json", "events", "--since", "0", "--vm", "web"],
    );
    events.wait_for_stdout("the snapshot's event", Duration::from_secs(10), |out| {
        out.contains(
            "snapshot 'frozen' taken (disks only, the guest's filesystems frozen by its agent)",
        )
    });
    let thawed = daemon.crv(&[
        "vm",
        "exec",
        "web",
        "--timeout",
        "20",
        "--",
        "sh",
        "-c",
        "echo x > /var/tmp/thawed && sync && echo thawed",
    ]);
    assert_eq!(thawed.ok().trim(), "thawed");

    // crv ssh: the forward, the cloud-init user, a pinned host key.
    let data = dir.path().join("data");
    let crv_ssh = |extra: &[&str]| {
        let mut command = daemon.crv_command(Via::Unix);
        command
            .env("XDG_DATA_HOME", &data)
            .args(["ssh", "web", "-i"])
            .arg(&key)
            .args(["--", "-o", "BatchMode=yes"])
            .args(extra)
            .stdin(std::process::Stdio::null());
        command.output().unwrap()
    };
    let out = crv_ssh(&["hostname"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "cloudweb");
    let out = crv_ssh(&["exit 7"]);
    assert_eq!(
        out.status.code(),
        Some(7),
        "crv ssh exits as ssh does: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pinned =
        std::fs::read_to_string(data.join(format!("corvus/known_hosts/web-{id}"))).unwrap();
    // The host key (hashed when ssh's config says so) after the header.
    assert!(
        pinned.starts_with("# corvus instance-id iid-corvus-") && pinned.contains(" ssh-"),
        "{pinned}"
    );

    // A graceful stop, then a new key: a new instance-id, and the new key
    // logs in after the restart.
    daemon.crv(&["vm", "stop", "web", "--wait"]).ok();
    let reasons: Vec<String> = daemon
        .history("web")
        .iter()
        .filter_map(|event| event["reason"].as_str().map(str::to_owned))
        .collect();
    assert!(
        reasons.iter().any(|r| r.contains("guest agent")),
        "stopped through the agent: {reasons:?}"
    );
    let new_key = dir.path().join("id_new");
    let keygen = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&new_key)
        .status()
        .unwrap();
    assert!(keygen.success());
    let before = daemon.show("web")["cloud_init"]["instance_id"].clone();
    let new_public = format!("{}.pub", new_key.display());
    let after = daemon
        .crv(&[
            "--json",
            "vm",
            "cloud-init",
            "set",
            "web",
            "--ssh-key",
            &new_public,
        ])
        .json();
    assert_ne!(after["cloud_init"]["instance_id"], before);
    daemon.crv(&["vm", "start", "web"]).ok();
    let answered = wait_until(SSH_DEADLINE, || {
        ssh(&new_key, port, "true").status.success()
    });
    assert!(
        answered,
        "the new key logs in after the restart:\n{}",
        daemon.serial_log(id)
    );
    daemon.crv(&["vm", "reset", "web"]).ok();
}
