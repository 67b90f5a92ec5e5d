//! The web console in a real browser (headless Chromium over WebDriver):
//! log in with the `crv web` link, see the VMs, see a start made with
//! `crv` arrive live (no reload), start a VM with the page's button, and
//! use a test guest's serial console in xterm.js (the Busy rule holding
//! for crv meanwhile), and survive a daemon restart under the open page.

use harness::access::Via;
use harness::browser::Browser;
use harness::guest::BOOT_TIMEOUT;
use harness::prereq::bin_dir;
use harness::web::web_options;
use harness::{Daemon, DaemonOptions, Db, Guest};
use serde_json::json;
use std::process::Stdio;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub(super) const QUICK: Duration = Duration::from_secs(10);
/// The bound for an event to show on the page.
pub(super) const LIVE: Duration = Duration::from_secs(1);

const TERMINAL_TEXT: &str = "const t = window.corvusTerminal; if (!t) return ''; \
    const b = t.buffer.active; let s = ''; \
    for (let i = 0; i < b.length; i++) s += b.getLine(i).translateToString(true) + '\\n'; \
    return s;";

fn epoch_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs_f64()
        * 1000.0
}

/// A script answering the state the list shows for `vm` ('' for no row).
pub(super) fn badge(vm: &str) -> String {
    format!(
        "const b = document.querySelector('tr[data-name=\"{vm}\"] .badge'); return b ? b.textContent : '';"
    )
}

/// A script answering whether the list shows `vm` in `state`.
pub(super) fn badge_is(vm: &str, state: &str) -> String {
    format!("return (() => {{ {} }})() === '{state}';", badge(vm))
}

/// A script answering whether the console's terminal holds `text`.
fn terminal_has(text: &str) -> String {
    format!("return (() => {{ {TERMINAL_TEXT} }})().includes('{text}');")
}

#[test]
fn the_page_lists_vms_live_starts_one_and_shows_a_console() {
    let Some(guest) = Guest::get() else { return };
    let Some(browser) = Browser::start() else {
        return;
    };
    let Some(mut daemon) = Daemon::start_with(Db::Sqlite, web_options(DaemonOptions::tcg())) else {
        return;
    };
    daemon.create_firmware_vm("fw", &[]);
    let id = daemon.create_guest_vm(guest, "guest", "", &[]);

    let opened = Instant::now();
    browser.goto(&daemon.web_link(Via::Unix));
    browser.wait_for("the VM list", QUICK, &badge("fw"));
    let loaded = opened.elapsed();
    let first_render = browser.run(
        "return performance.getEntriesByName('corvus-list-rendered')[0]?.startTime",
        json!([]),
    );
    eprintln!(
        "bench: login link to list shown {loaded:?}; navigation to first list render {first_render} ms"
    );
    assert_eq!(browser.run(&badge("guest"), json!([])), "stopped");
    let shots = bin_dir().join("..");
    // A reload would forget this.
    browser.run("window.corvusNoReload = true", json!([]));

    // A start from crv shows on the page without a reload, timed beside
    // `crv events` receiving the same event.
    let events = daemon.crv_background(Via::Unix, &["--json", "events", "--vm", "fw"]);
    std::thread::sleep(Duration::from_millis(300)); // subscribed
    let mut start = daemon
        .crv_command(Via::Unix)
        .args(["vm", "start", "fw"])
        .stdout(Stdio::null())
        .spawn()
        .expect("run crv vm start");
    let asked = Instant::now();
    while !events.stdout().contains("\"to\":\"running\"") {
        assert!(
            asked.elapsed() < QUICK,
            "crv events saw no start: {}",
            events.stdout()
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    let crv_received = epoch_ms();
    assert!(start.wait().expect("crv vm start").success());
    let started = Instant::now();
    browser.wait_for("fw running", LIVE, &badge_is("fw", "running"));
    let seen = started.elapsed();
    assert_eq!(
        browser.run("return window.corvusNoReload", json!([])),
        true,
        "no reload"
    );
    let running = daemon.history("fw").last().cloned().expect("an event");
    let timings = browser.run(
        "return [Date.parse(arguments[1]), window.corvusApplied?.[arguments[0]]]",
        json!([running["seq"], running["at"]]),
    );
    let (at, applied) = (timings[0].as_f64().unwrap(), timings[1].as_f64().unwrap());
    eprintln!(
        "bench: event → crv events {:.0} ms, event → page {:.0} ms (page after crv events by {:.0} ms); \
         crv vm start returned → page shows running {seen:?}",
        crv_received - at,
        applied - at,
        applied - crv_received
    );

    // From the page itself: without the cookie 401, without the CSRF header 403.
    let status = |script: &str| browser.run(script, json!([]));
    assert_eq!(
        status("return fetch('/api/vms', { credentials: 'omit' }).then((r) => r.status)"),
        401
    );
    assert_eq!(
        status("return fetch('/api/vms/fw/stop', { method: 'POST' }).then((r) => r.status)"),
        403
    );
    assert_eq!(
        daemon.show("fw")["status"],
        "running",
        "the refused stop did not run"
    );

    // The page's button starts a stopped VM.
    browser.click("tr[data-name=\"guest\"] button[data-action=\"start\"]");
    daemon.wait_for_state("guest", "running", QUICK);
    browser.wait_for("guest running", QUICK, &badge_is("guest", "running"));
    browser.screenshot(&shots.join("web-console-list.png"));
    // On a phone: nothing wider than the screen, name, state and actions kept.
    browser.resize(390, 844);
    browser.wait_for(
        "the list fitting a phone",
        QUICK,
        "return document.documentElement.scrollWidth <= window.innerWidth \
         && document.querySelector('tr[data-name=\"guest\"] button[data-action=\"stop\"]').getBoundingClientRect().right <= window.innerWidth",
    );
    browser.screenshot(&shots.join("web-console-phone.png"));
    browser.resize(1280, 720);

    // The console: the replay first, then what is typed.
    daemon.wait_for_serial(id, "GUEST READY", BOOT_TIMEOUT);
    browser.goto(&format!(
        "http://{}/#/vm/guest/console",
        daemon.web_address()
    ));
    browser.wait_for("the replay", QUICK, &terminal_has("GUEST READY"));
    browser.type_into(".xterm-helper-textarea", "echo M$((6*7))\u{E007}");
    browser.wait_for("the guest's answer", QUICK, &terminal_has("M42"));
    browser.screenshot(&shots.join("web-console-serial.png"));
    // The page holds the console: crv is refused with the Busy rule's words.
    daemon
        .crv(&["vm", "console", "guest"])
        .fails(1, "one client per channel");

    // The daemon restarts under the open page: it reconnects and resyncs.
    browser.goto(&format!("http://{}/#/", daemon.web_address()));
    browser.wait_for("the list again", QUICK, &badge_is("fw", "running"));
    browser.run("window.corvusNoReload = true", json!([]));
    daemon.restart();
    browser.wait_for(
        "the live stream back",
        QUICK,
        "return document.getElementById('live').textContent === 'live'",
    );
    daemon.crv(&["vm", "stop", "fw", "--timeout", "1"]).ok();
    browser.wait_for("fw stopped", QUICK, &badge_is("fw", "stopped"));
    assert_eq!(
        browser.run("return window.corvusNoReload", json!([])),
        true,
        "no reload"
    );

    // A refused action shows the daemon's own words.
    let refusal = daemon.crv(&["vm", "delete", "guest"]).fails(1, "guest");
    browser.click("tr[data-name=\"guest\"] button[data-action=\"delete\"]");
    browser.wait_for(
        "the confirmation",
        QUICK,
        "return document.getElementById('confirm').open",
    );
    browser.click("#confirm-ok");
    let toast = browser.wait_for(
        "the refusal",
        QUICK,
        "const t = document.getElementById('toast'); return t.hidden ? '' : t.textContent",
    );
    let toast = toast.as_str().unwrap();
    assert!(
        refusal.contains(toast),
        "the page says {toast:?}, crv says {refusal:?}"
    );

    // A VM's history, then deleting it from its page, confirmed.
    browser.goto(&format!("http://{}/#/vm/fw/history", daemon.web_address()));
    browser.wait_for(
        "fw's history",
        QUICK,
        "return document.querySelector('section.tab')?.textContent.includes('vm start by unix:')",
    );
    browser.click(".vm-actions button[data-action=\"delete\"]");
    browser.wait_for(
        "the confirmation",
        QUICK,
        "return document.getElementById('confirm').open",
    );
    browser.click("#confirm-ok");
    browser.wait_for("the list again", QUICK, "return location.hash === '#/'");
    browser.wait_for("the list without fw", QUICK, &badge_is("guest", "running"));
    assert_eq!(
        browser.run(&badge("fw"), json!([])),
        "",
        "fw is gone from the list"
    );
    let list = daemon.crv(&["vm", "list"]).ok();
    assert!(!list.contains("fw"), "{list}");

    // Logging out ends the session: the page says how to log in again.
    browser.click("#logout");
    browser.wait_for(
        "the login hint",
        QUICK,
        "return document.querySelector('main h1')?.textContent === 'Not logged in'",
    );
    assert_eq!(
        browser.run("return fetch('/api/vms').then((r) => r.status)", json!([])),
        401
    );
}
