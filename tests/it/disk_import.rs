//! `crv disk import`: local files and an HTTP server in this process
//! (plain, xz, gz; good and bad checksums; connections that break off or
//! stall), the refusals, and cancellation by a client that goes away. After
//! every failure: no disk row and no file.

use harness::disks::{have_qemu_img, img_info, run, sha256};
use harness::http::{FileServer, Serve};
use harness::prereq::{require, which};
use harness::{Daemon, Db};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A 4 MiB raw image of incompressible bytes, with its xz, gz and zst forms.
struct Sources {
    raw: PathBuf,
    xz: PathBuf,
    gz: PathBuf,
    zst: PathBuf,
}

fn sources(dir: &Path) -> Sources {
    let raw = dir.join("image.raw");
    let bytes: Vec<u8> = (0..4u32 << 20)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(&raw, bytes).unwrap();
    let path = raw.to_str().unwrap();
    run("xz", &["-k", "-0", "-T1", path]);
    run("gzip", &["-k", "-1", path]);
    run("zstd", &["-q", "-k", "-1", path]);
    Sources {
        xz: dir.join("image.raw.xz"),
        gz: dir.join("image.raw.gz"),
        zst: dir.join("image.raw.zst"),
        raw,
    }
}

fn tools() -> bool {
    have_qemu_img()
        && require(
            which("xz").is_some() && which("gzip").is_some() && which("zstd").is_some(),
            "xz, gzip and zstd (Debian packages xz-utils, gzip, zstd)",
        )
}

/// The disk holds exactly the raw image.
#[track_caller]
fn same_as(daemon: &Daemon, disk: &str, raw: &Path) {
    let path = daemon.disk_path(disk);
    let format = daemon.disk(disk)["format"].as_str().unwrap().to_owned();
    run(
        "qemu-img",
        &[
            "compare",
            "-U",
            "-f",
            "raw",
            "-F",
            &format,
            raw.to_str().unwrap(),
            &path,
        ],
    );
}

fn imports_from_files_and_http(db: Db) {
    if !tools() {
        return;
    }
    let Some(daemon) = Daemon::start(db) else {
        return;
    };
    let src = sources(daemon.dir.path());
    let read = |path: &Path| std::fs::read(path).unwrap();
    let server = FileServer::start(vec![
        ("/image.raw", Serve::Whole(read(&src.raw))),
        ("/image.raw.xz", Serve::Whole(read(&src.xz))),
        ("/image.raw.gz", Serve::Whole(read(&src.gz))),
        ("/cut.raw.xz", Serve::DropHalfway(read(&src.xz))),
        ("/cut.raw", Serve::DropHalfway(read(&src.raw))),
    ]);

    // Local: plain (straight to qcow2) with its checksum, xz as raw, gz.
    let imported = daemon
        .crv(&[
            "--json",
            "disk",
            "import",
            "local",
            src.raw.to_str().unwrap(),
            "--sha256",
            &sha256(&src.raw),
        ])
        .json();
    assert_eq!(
        (
            imported["format"].as_str(),
            imported["virtual_size"].as_u64()
        ),
        (Some("qcow2"), Some(4 << 20))
    );
    assert_eq!(img_info(&daemon.disk_path("local"))["format"], "qcow2");
    same_as(&daemon, "local", &src.raw);
    daemon
        .crv(&[
            "disk",
            "import",
            "local-xz",
            src.xz.to_str().unwrap(),
            "--format",
            "raw",
            "--sha256",
            &sha256(&src.xz),
        ])
        .ok();
    assert_eq!(img_info(&daemon.disk_path("local-xz"))["format"], "raw");
    same_as(&daemon, "local-xz", &src.raw);
    daemon
        .crv(&["disk", "import", "local-gz", src.gz.to_str().unwrap()])
        .ok();
    same_as(&daemon, "local-gz", &src.raw);
    daemon
        .crv(&["disk", "import", "local-zst", src.zst.to_str().unwrap()])
        .ok();
    same_as(&daemon, "local-zst", &src.raw);

    // HTTP: the checksum is the one of what was fetched (compressed or not).
    let piped = daemon.crv(&[
        "disk",
        "import",
        "web",
        &server.url("/image.raw"),
        "--sha256",
        &sha256(&src.raw),
    ]);
    assert_eq!(
        piped.stdout().lines().count(),
        1,
        "only the result when piped: {}",
        piped.stdout()
    );
    assert_eq!(piped.stderr(), "", "no progress bar when piped");
    same_as(&daemon, "web", &src.raw);
    daemon
        .crv(&[
            "disk",
            "import",
            "web-xz",
            &server.url("/image.raw.xz"),
            "--sha256",
            &sha256(&src.xz).to_uppercase(),
        ])
        .ok();
    same_as(&daemon, "web-xz", &src.raw);
    daemon
        .crv(&[
            "disk",
            "import",
            "web-gz",
            &server.url("/image.raw.gz"),
            "--sha256",
            &sha256(&src.gz),
        ])
        .ok();
    same_as(&daemon, "web-gz", &src.raw);
    let kept = daemon.disk_files();
    assert_eq!(kept.len(), 7, "{kept:?}");

    // Every failure: a clear error, no disk, no file.
    let failures: Vec<(Vec<String>, &str)> = vec![
        (
            vec![
                server.url("/image.raw.xz"),
                "--sha256".into(),
                sha256(&src.raw),
            ],
            "checksum of the source does not match",
        ),
        (
            vec![
                src.gz.to_str().unwrap().into(),
                "--sha256".into(),
                "ab".repeat(32),
            ],
            "checksum of the source does not match",
        ),
        (vec![server.url("/cut.raw.xz")], "broke off"),
        (vec![server.url("/cut.raw")], "broke off"),
        (vec![server.url("/missing.raw")], "HTTP 404"),
        (
            vec![format!("http://127.0.0.1:{}/x.raw", unused_port())],
            "cannot reach",
        ),
        (
            vec!["relative.raw.xz".into(), "--sha256".into(), "12".into()],
            "64 hexadecimal digits",
        ),
        (vec!["/nonexistent/image.raw".into()], "no such file"),
    ];
    for (args, expected) in failures {
        let mut command = vec!["disk", "import", "failed"];
        command.extend(args.iter().map(String::as_str));
        daemon.crv(&command).fails(1, expected);
    }
    let not_image = daemon.dir.path().join("notes.txt");
    std::fs::write(&not_image, "not a disk image\n").unwrap();
    daemon
        .crv(&["disk", "import", "failed", not_image.to_str().unwrap()])
        .fails(1, "not a disk image");
    let corrupt = daemon.dir.path().join("corrupt.raw.xz");
    std::fs::copy(&src.raw, &corrupt).unwrap();
    daemon
        .crv(&["disk", "import", "failed", corrupt.to_str().unwrap()])
        .fails(1, "not a valid xz stream");
    daemon
        .crv(&["disk", "import", "local", src.raw.to_str().unwrap()])
        .fails(1, "already exists");
    assert!(!daemon.disk_names().contains(&"failed".to_owned()));
    assert_eq!(daemon.disk_files(), kept, "no partial file is left");
}

on_both_databases!(imports_from_files_and_http);

fn a_qcow2_naming_a_backing_file_is_refused_unless_flattened(db: Db) {
    if !tools() {
        return;
    }
    let Some(daemon) = Daemon::start(db) else {
        return;
    };
    let dir = daemon.dir.path();
    let secret = dir.join("secret.raw");
    std::fs::write(&secret, vec![0x42u8; 1 << 20]).unwrap();
    let crafted = dir.join("crafted.qcow2");
    run(
        "qemu-img",
        &[
            "create",
            "-q",
            "-f",
            "qcow2",
            "-b",
            secret.to_str().unwrap(),
            "-F",
            "raw",
            crafted.to_str().unwrap(),
        ],
    );
    daemon
        .crv(&["disk", "import", "evil", crafted.to_str().unwrap()])
        .fails(1, "names other host files");
    let server = FileServer::start(vec![(
        "/crafted.qcow2",
        Serve::Whole(std::fs::read(&crafted).unwrap()),
    )]);
    daemon
        .crv(&["disk", "import", "evil", &server.url("/crafted.qcow2")])
        .fails(1, "names other host files");
    assert_eq!(daemon.disk_files(), Vec::<PathBuf>::new());
    daemon
        .crv(&[
            "disk",
            "import",
            "flat",
            crafted.to_str().unwrap(),
            "--flatten",
        ])
        .ok();
    let info = img_info(&daemon.disk_path("flat"));
    assert_eq!(info["backing-filename"], serde_json::Value::Null, "{info}");
    same_as(&daemon, "flat", &secret);
}

on_both_databases!(a_qcow2_naming_a_backing_file_is_refused_unless_flattened);

/// A client killed mid-import (a dropped connection) and one that presses
/// Ctrl+C: both cancel the job, and its partial file goes.
fn a_client_that_leaves_cancels_its_import(db: Db) {
    if !tools() {
        return;
    }
    let Some(daemon) = Daemon::start(db) else {
        return;
    };
    let src = sources(daemon.dir.path());
    let server = FileServer::start(vec![(
        "/slow.raw",
        Serve::StallHalfway(std::fs::read(&src.raw).unwrap()),
    )]);
    for signal in [
        nix::sys::signal::Signal::SIGKILL,
        nix::sys::signal::Signal::SIGINT,
    ] {
        let crv = std::process::Command::new(harness::prereq::binary("crv"))
            .args([
                "--socket",
                daemon.socket.to_str().unwrap(),
                "disk",
                "import",
                "slow",
                &server.url("/slow.raw"),
            ])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let partial = harness::postgres::wait_until(Duration::from_secs(20), || {
            daemon
                .disk_files()
                .iter()
                .any(|f| std::fs::metadata(f).is_ok_and(|m| m.len() >= 2 << 20))
        });
        assert!(
            partial,
            "the import wrote half the image: {:?}\n{}",
            daemon.disk_files(),
            daemon.log()
        );
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(crv.id() as i32), signal).unwrap();
        let output = crv.wait_with_output().unwrap();
        if signal == nix::sys::signal::Signal::SIGINT {
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert_eq!(output.status.code(), Some(1), "{stderr}");
            assert!(stderr.contains("cancelled; nothing was kept"), "{stderr}");
        }
        let cleaned = harness::postgres::wait_until(Duration::from_secs(10), || {
            daemon.disk_files().is_empty()
        });
        assert!(
            cleaned,
            "{signal}: partial file left: {:?}",
            daemon.disk_files()
        );
        assert_eq!(daemon.disk_names(), Vec::<String>::new());
    }
}

on_both_databases!(a_client_that_leaves_cancels_its_import);

fn unused_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}
