//! Figure 12 (issue 15): from a cloud image to a shell. Seconds from
//! `crv vm create --image … --user … --ssh-key … --forward tcp:PORT:22` and
//! `crv vm start` to the first successful `crv ssh NAME -- true`, against
//! bare QEMU booting the same image (a fresh qcow2 overlay of it, made by
//! `qemu-img`) with a hand-made NoCloud seed, the same kernel, initrd,
//! command line and devices (the daemon's own command line for that VM)
//! and the same `hostfwd`, until `ssh -p PORT … true` succeeds. The cloud
//! test guest (tests/guest/build-cloud.sh) boots under TCG; both sides
//! retry their ssh at the same pace, and each round boots both sides at
//! the same time, so that other load on the machine falls on both alike.
//! Rounds are few: a boot is ~30 s alone, twice that side by side.

use super::stages::Stages;
use super::{Bench, progress, rotated};
use crate::bare::BareVm;
use crate::crv::Crv;
use crate::daemon::Daemon;
use crate::nocloud::Seed;
use crate::report::{Row, Target, Unit};
use anyhow::{Context as _, bail};
use corvus_protocol::VmInfo;
use corvus_qemu::{Accel, VmPaths};
use harness::cloud_guest::{CMDLINE, CloudGuest};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Far beyond a boot on a busy machine: a guest that never answers fails the run.
const SSH_DEADLINE: Duration = Duration::from_secs(300);
/// Between two failed ssh attempts, on both sides.
const SSH_RETRY: Duration = Duration::from_millis(200);
const USER: &str = "bench";
const HOSTNAME: &str = "benchcloud";

#[derive(Clone, Copy)]
enum Side {
    Corvus,
    Bare,
}

struct Setup<'a> {
    guest: &'a CloudGuest,
    crv: Crv,
    key: PathBuf,
    public_key: String,
    /// Where `crv ssh` keeps its per-VM known_hosts (XDG_DATA_HOME).
    data_home: PathBuf,
    dir: PathBuf,
    /// The daemon's runtime directory, where each VM's serial log is.
    runtime: PathBuf,
    accel: Accel,
}

pub async fn run(bench: &mut Bench) -> anyhow::Result<()> {
    let rounds = bench.plan.cloud_boot_rounds;
    progress(&format!(
        "figure 12: {rounds} × cloud image to ssh (about a minute each)"
    ));
    let Some(guest) = CloudGuest::get() else {
        bail!(
            "figure 12 needs the cloud test guest: tests/guest/build-cloud.sh could not build it"
        );
    };
    let dir = bench.dir("cloud");
    let url = format!("sqlite://{}", dir.join("corvus.db").display());
    // A whole Debian guest boots under TCG here (nested KVM does not run it).
    let (accel_name, accel) = match bench.accel.as_str() {
        "kvm" => ("kvm", Accel::Kvm),
        _ => ("tcg", Accel::Tcg),
    };
    let (mut daemon, _) = Daemon::start(&bench.bins, &dir, url, accel_name).await?;
    let setup = Setup::new(
        guest,
        Crv::new(&bench.bins.crv, &daemon.socket),
        &dir,
        &daemon.runtime,
        accel,
    )?;
    setup.crv.time(&[
        "disk",
        "register",
        "debian-cloud",
        path_text(&guest.root)?,
        "--format",
        "raw",
    ])?;
    // Never started: its definition gives the bare baseline its command line.
    setup.create("template", free_port()?)?;
    let template = show(&setup.crv, "template")?;
    // The first boot reads the image, kernel and initrd from disk: whichever
    // side went first paid for it (83 s where the others took 55–72 s). One
    // untimed boot warms the page cache for both sides.
    progress("figure 12: one untimed boot to warm the page cache");
    setup.bare_round(&bench.bins.qemu, &template, rounds)?;
    let (mut corvus, mut bare) = (Vec::new(), Vec::new());
    let mut stages = Vec::new();
    for round in 0..rounds {
        // Both sides boot at once, so that whatever else loads the machine
        // loads both alike; which one is spawned first alternates.
        let order = rotated(&[Side::Corvus, Side::Bare], round);
        let results = std::thread::scope(|scope| {
            let handles: Vec<_> = order
                .iter()
                .map(|&side| {
                    let (setup, template, qemu) = (&setup, &template, &bench.bins.qemu);
                    (
                        side,
                        scope.spawn(move || match side {
                            Side::Corvus => setup.corvus_round(round),
                            Side::Bare => setup.bare_round(qemu, template, round),
                        }),
                    )
                })
                .collect();
            handles
                .into_iter()
                .map(|(side, handle)| {
                    let result = handle
                        .join()
                        .unwrap_or_else(|_| Err(anyhow::anyhow!("a figure 12 round panicked")));
                    (side, result)
                })
                .collect::<Vec<_>>()
        });
        for (side, result) in results {
            let (seconds, seen) = result?;
            let side_name = match side {
                Side::Corvus => "corvus",
                Side::Bare => "bare QEMU",
            };
            progress(&format!(
                "figure 12: round {round}, {side_name}: {seconds:.1} s ({})",
                seen.summary()
            ));
            stages.push(serde_json::json!({
                "round": round, "side": side_name, "seconds": seconds, "stages": seen.json()
            }));
            match side {
                Side::Corvus => corvus.push(seconds),
                Side::Bare => bare.push(seconds),
            }
        }
    }
    daemon.stop().await?;
    bench.diagnose(
        "figure12_stages",
        serde_json::Value::Array(stages),
        "figure 12: seconds from each round's start to each boot stage (serial log markers, ssh answers)",
    );
    bench.row(Row::new(
        12,
        "cloud image to shell: `crv vm create --image … --user … --ssh-key … --forward` + `crv vm start` → first `crv ssh -- true`",
        Unit::S,
        &corvus,
        Some((
            "bare QEMU, same image (overlay), hand-made NoCloud seed, same kernel and hostfwd → first `ssh -p PORT true`",
            &bare,
        )),
        Target::Ratio { max: 1.05 },
    ));
    Ok(())
}

impl Setup<'_> {
    fn new<'a>(
        guest: &'a CloudGuest,
        crv: Crv,
        dir: &Path,
        runtime: &Path,
        accel: Accel,
    ) -> anyhow::Result<Setup<'a>> {
        let key = dir.join("id_ed25519");
        let status = Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-C", "corvus-bench", "-f"])
            .arg(&key)
            .stdin(Stdio::null())
            .status()
            .context("Cannot run ssh-keygen (package openssh-client)")?;
        if !status.success() {
            bail!("ssh-keygen failed: {status}");
        }
        let public_path = dir.join("id_ed25519.pub");
        let public_key = std::fs::read_to_string(&public_path)
            .with_context(|| format!("Cannot read {}", public_path.display()))?;
        Ok(Setup {
            guest,
            crv,
            key,
            public_key,
            data_home: dir.join("data"),
            dir: dir.to_path_buf(),
            runtime: runtime.to_path_buf(),
            accel,
        })
    }

    fn create(&self, name: &str, port: u16) -> anyhow::Result<()> {
        let forward = format!("tcp:{port}:22");
        let public = self.dir.join("id_ed25519.pub");
        self.crv.time(&[
            "vm",
            "create",
            name,
            "--cpus",
            "2",
            "--ram",
            "1024",
            "--display",
            "none",
            "--image",
            "debian-cloud",
            "--kernel",
            path_text(&self.guest.kernel)?,
            "--initrd",
            path_text(&self.guest.initrd)?,
            "--cmdline",
            CMDLINE,
            "--user",
            USER,
            "--ssh-key",
            path_text(&public)?,
            "--hostname",
            HOSTNAME,
            "--forward",
            &forward,
        ])?;
        Ok(())
    }

    /// One VM made, started and reached with `crv ssh`, then removed.
    fn corvus_round(&self, round: usize) -> anyhow::Result<(f64, Stages)> {
        let name = format!("cloud-{round}");
        let port = free_port()?;
        let started = Instant::now();
        self.create(&name, port)?;
        let created = started.elapsed().as_secs_f64();
        self.crv.time(&["vm", "start", &name])?;
        let id = show(&self.crv, &name)?.id;
        let serial = VmPaths::new(&self.runtime, id).serial_log;
        let mut stages = Stages::new(&serial, started);
        stages.mark_at("created", created);
        stages.mark("start answered");
        let key = path_text(&self.key)?;
        let mut ssh = self.crv.command(&[
            "ssh",
            &name,
            "-i",
            key,
            "--",
            "-o",
            "BatchMode=yes",
            "-o",
            "ConnectTimeout=5",
            "-o",
            "LogLevel=ERROR",
            "true",
        ]);
        ssh.env("XDG_DATA_HOME", &self.data_home);
        let answered = until_success(&mut ssh, started, &mut stages);
        let seconds = started.elapsed().as_secs_f64();
        self.crv.time(&["vm", "reset", &name])?;
        self.crv.time(&["vm", "delete", &name, "--with-disks"])?;
        answered.with_context(|| format!("figure 12: `crv ssh {name}`"))?;
        Ok((seconds, stages))
    }

    /// The same guest by hand: an overlay, a seed, QEMU, ssh.
    fn bare_round(
        &self,
        qemu: &Path,
        template: &VmInfo,
        round: usize,
    ) -> anyhow::Result<(f64, Stages)> {
        let root = self.dir.join(format!("bare-{round}"));
        let port = free_port()?;
        let mut vm = template.clone();
        let overlay = root.join("overlay.qcow2");
        let drive = vm
            .drives
            .first_mut()
            .context("the template VM has no disk")?;
        drive.file_path = path_text(&overlay)?.to_owned();
        for nic in &mut vm.network_interfaces {
            for forward in &mut nic.forwards {
                forward.host_port = port;
            }
        }
        let paths = VmPaths::new(&root, vm.id);
        std::fs::create_dir_all(&paths.dir)
            .with_context(|| format!("Cannot create {}", paths.dir.display()))?;
        let started = Instant::now();
        let status = Command::new("qemu-img")
            .args(["create", "-q", "-f", "qcow2", "-F", "raw", "-b"])
            .arg(&self.guest.root)
            .arg(&overlay)
            .stdin(Stdio::null())
            .status()
            .context("Cannot run qemu-img")?;
        if !status.success() {
            bail!("qemu-img create failed: {status}");
        }
        Seed {
            instance_id: &format!("bare-{round}"),
            hostname: HOSTNAME,
            user: USER,
            ssh_key: &self.public_key,
        }
        .write(&paths.seed)?;
        let mut stages = Stages::new(&paths.serial_log, started);
        stages.mark("created");
        let (qemu, _) = BareVm::new(qemu, &vm, &root, self.accel).start()?;
        stages.mark("start answered");
        let mut ssh = Command::new("ssh");
        ssh.arg("-i")
            .arg(&self.key)
            .args(["-p", &port.to_string()])
            .args(["-o", "BatchMode=yes", "-o", "ConnectTimeout=5"])
            .args([
                "-o",
                "StrictHostKeyChecking=no",
                "-o",
                "UserKnownHostsFile=/dev/null",
            ])
            .args(["-o", "LogLevel=ERROR"])
            .arg(format!("{USER}@127.0.0.1"))
            .arg("true");
        let answered = until_success(&mut ssh, started, &mut stages);
        let seconds = started.elapsed().as_secs_f64();
        qemu.kill();
        std::fs::remove_dir_all(&root)
            .with_context(|| format!("Cannot remove {}", root.display()))?;
        answered.context("figure 12: bare `ssh -p PORT true`")?;
        Ok((seconds, stages))
    }
}

/// Runs `command` until it exits 0; fails after `SSH_DEADLINE`.
/// Notes the boot's stages in `stages` as it goes: the serial log's markers
/// and how ssh failed (no sshd yet, or sshd without the key yet).
fn until_success(
    command: &mut Command,
    started: Instant,
    stages: &mut Stages,
) -> anyhow::Result<()> {
    command.stdin(Stdio::null()).stdout(Stdio::null());
    loop {
        let output = command.output().context("Cannot run ssh")?;
        stages.poll();
        if output.status.success() {
            stages.mark("ssh ok");
            return Ok(());
        }
        if String::from_utf8_lossy(&output.stderr).contains("Permission denied") {
            stages.mark("sshd answered, key refused");
        }
        if started.elapsed() > SSH_DEADLINE {
            bail!(
                "no answer within {SSH_DEADLINE:?}: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        std::thread::sleep(SSH_RETRY);
    }
}

fn show(crv: &Crv, name: &str) -> anyhow::Result<VmInfo> {
    let (_, output) = crv.run(&["vm", "show", name, "--json"])?;
    serde_json::from_slice(&output.stdout).context("`crv vm show --json` printed no VM")
}

fn free_port() -> anyhow::Result<u16> {
    let listener =
        std::net::TcpListener::bind("127.0.0.1:0").context("Cannot find a free TCP port")?;
    Ok(listener.local_addr()?.port())
}

fn path_text(path: &Path) -> anyhow::Result<&str> {
    path.to_str()
        .with_context(|| format!("{} is not UTF-8", path.display()))
}
