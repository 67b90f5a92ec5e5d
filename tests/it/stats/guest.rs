//! The test guest doing work: CPU time and disk writes grow in `vm stats`
//! and between two scrapes of `/metrics`.

use super::{SLOW, add_disk, cpu_seconds, daemon_with_metrics, drive, stats, top, wait_for_stats};
use harness::DaemonOptions;
use harness::guest::{BOOT_TIMEOUT, Guest};
use harness::metrics::{check_with_promtool, promtool, scrape, value};
use harness::postgres::wait_until;

#[test]
fn a_busy_guest_shows_cpu_time_and_disk_writes_growing_in_stats_and_metrics() {
    let Some(guest) = Guest::get() else {
        return;
    };
    let (daemon, port) = daemon_with_metrics(DaemonOptions::tcg());
    let id = daemon.create_guest_vm(guest, "busy", "", &[]);
    let disk = add_disk(&daemon, "busy", 16);
    daemon
        .crv(&["vm", "net", "add", "busy", "--type", "user"])
        .ok();
    daemon.crv(&["vm", "start", "busy"]).ok();
    daemon.wait_for_serial(id, "GUEST READY", BOOT_TIMEOUT);

    let before = stats(&daemon, "busy");
    assert_eq!(before["status"], "running", "{before:#}");
    assert!(
        before["memory"]["rss_bytes"].as_u64() > Some(0),
        "{before:#}"
    );
    let vcpus = before["cpu"]["vcpus"].as_array().expect("vCPUs");
    assert_eq!(vcpus.len(), 1, "one vCPU with its thread: {before:#}");
    assert!(vcpus[0]["thread_id"].as_u64() > Some(0), "{before:#}");
    let written = drive(&before, disk).expect("the drive's counters")["wr_bytes"]
        .as_u64()
        .expect("written bytes");
    let nic = &before["net"][0];
    assert_eq!(nic["type"], "user");
    assert!(nic["counters"].is_null(), "{nic:#}");
    assert!(
        nic["unavailable"]
            .as_str()
            .unwrap_or_default()
            .contains("user-mode networking"),
        "{nic:#}"
    );
    let series = |name: &str| format!("{name}{{vm=\"busy\",id=\"{id}\"}}");
    let first = scrape(port);
    let first_cpu = value(&first, &series("corvus_vm_cpu_seconds_total")).expect("CPU seconds");

    // A busy loop in the background: the guest's vCPU never idles.
    daemon.crv_with_input(&["vm", "console", "busy"], "(while :; do :; done) &\n");
    let busy = wait_for_stats(&daemon, "busy", "CPU time grows by 2 s", |s| {
        cpu_seconds(s) >= cpu_seconds(&before) + 2.0
    });
    let percent = wait_for_stats(&daemon, "busy", "CPU % shows the loop", |s| {
        s["cpu"]["percent"].as_f64() > Some(20.0)
    });
    assert!(
        percent["cpu"]["vcpus"][0]["percent"].as_f64() > Some(10.0),
        "the vCPU thread is the busy one: {percent:#}"
    );
    assert!(cpu_seconds(&busy) > cpu_seconds(&before));

    daemon.crv_with_input(
        &["vm", "console", "busy"],
        "dd if=/dev/zero of=/dev/vda bs=64k count=64 conv=fsync\n",
    );
    wait_for_stats(&daemon, "busy", "4 MiB written to the drive", |s| {
        drive(s, disk).and_then(|d| d["wr_bytes"].as_u64()) >= Some(written + (4 << 20))
    });

    let grown = wait_until(SLOW, || {
        let now = scrape(port);
        let cpu = value(&now, &series("corvus_vm_cpu_seconds_total"));
        let drive_series = format!(
            "corvus_vm_block_written_bytes_total{{vm=\"busy\",id=\"{id}\",drive=\"drive{disk}\"}}"
        );
        let bytes = value(&now, &drive_series);
        cpu > Some(first_cpu) && bytes >= Some((written + (4 << 20)) as f64)
    });
    assert!(
        grown,
        "CPU and written bytes grow between scrapes:\n{}",
        scrape(port)
    );
    if let Some(promtool) = promtool() {
        check_with_promtool(promtool, &scrape(port));
    }
    let listed = top(&daemon);
    assert!(
        listed
            .iter()
            .any(|vm| vm["vm_name"] == "busy" && vm["cpu"].is_object()),
        "{listed:#?}"
    );
    daemon.crv(&["vm", "reset", "busy"]).ok();
}
