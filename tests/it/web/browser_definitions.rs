//! The page and VMs defined, edited and deleted by another client (issue
//! 21's definition events), in a real browser: the list gains, follows and
//! loses rows within a second and without a reload, an open VM page shows
//! an edit and says who deleted its VM; then the create form and the stats
//! graphs, driven as a user does.

use super::browser::{LIVE, QUICK, badge, badge_is};
use harness::access::Via;
use harness::browser::Browser;
use harness::web::web_options;
use harness::{Daemon, DaemonOptions, Db};
use serde_json::json;

/// A script answering the text of `css` ('' when there is none).
fn text_of(css: &str) -> String {
    format!("return document.querySelector('{css}')?.textContent ?? '';")
}

/// A script answering whether some drawn pixel is in `canvas`.
const DRAWN: &str = "return [...document.querySelectorAll('figure.graph canvas')].map((c) => { \
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; \
    for (let i = 3; i < d.length; i += 4) if (d[i]) return true; return false; });";

#[test]
fn the_page_follows_vms_defined_edited_and_deleted_elsewhere() {
    let Some(browser) = Browser::start() else {
        return;
    };
    let mut options = web_options(DaemonOptions::default());
    options
        .extra_args
        .extend(["--stats-interval".to_owned(), "1".to_owned()]);
    let Some(daemon) = Daemon::start_with(Db::Sqlite, options) else {
        return;
    };
    daemon.create_firmware_vm("fw", &[]);
    browser.goto(&daemon.web_link(Via::Unix));
    browser.wait_for("the VM list", QUICK, &badge("fw"));
    // A reload would forget this.
    browser.run("window.corvusNoReload = true", json!([]));
    let row = |vm: &str| format!("tr[data-name=\"{vm}\"]");
    let hash = |to: &str| browser.run(&format!("location.hash = '{to}'"), json!([]));

    // Created, edited and deleted with crv: the list follows at once.
    daemon.create_firmware_vm("newcomer", &[]);
    browser.wait_for("newcomer listed", LIVE, &badge_is("newcomer", "stopped"));
    daemon.crv(&["vm", "edit", "newcomer", "--cpus", "3"]).ok();
    browser.wait_for(
        "newcomer with 3 CPUs",
        LIVE,
        &format!(
            "return (() => {{ {} }})() === '3';",
            text_of(&format!("{} td.num", row("newcomer")))
        ),
    );
    daemon.crv(&["vm", "delete", "newcomer"]).ok();
    browser.wait_for(
        "newcomer gone",
        LIVE,
        &format!("return !document.querySelector('{}');", row("newcomer")),
    );
    assert_eq!(browser.run(&badge("fw"), json!([])), "stopped");

    // An open VM page: an edit shows at once; a deletion says who did it
    // and leaves nothing to click.
    daemon.create_firmware_vm("doomed", &[]);
    browser.wait_for("doomed listed", LIVE, &badge_is("doomed", "stopped"));
    hash("#/vm/doomed");
    browser.wait_for(
        "doomed's page",
        QUICK,
        "return document.querySelectorAll('.vm-actions button:not([disabled])').length > 0",
    );
    daemon.crv(&["vm", "edit", "doomed", "--ram", "96"]).ok();
    browser.wait_for(
        "the edit",
        LIVE,
        "return document.querySelector('section.tab')?.textContent.includes('96 MiB')",
    );
    daemon.crv(&["vm", "delete", "doomed"]).ok();
    let said = browser.wait_for(
        "the deletion",
        LIVE,
        "const g = document.querySelector('.gone'); return g && !g.hidden ? g.textContent : ''",
    );
    let client = format!("unix:{}", nix::unistd::geteuid());
    assert!(
        said.as_str().unwrap().contains(&format!(
            "VM 'doomed' was deleted by vm delete by {client} at "
        )),
        "{said}"
    );
    assert_eq!(
        browser.run(
            "const b = [...document.querySelectorAll('.vm-actions button')]; \
             return b.length > 0 && b.every((x) => x.disabled);",
            json!([])
        ),
        true,
        "the actions are disabled"
    );
    assert_eq!(
        browser.run(&text_of(".vm-title .badge"), json!([])),
        "deleted"
    );

    // The create form, filled in and sent from the page.
    daemon
        .crv(&["disk", "create", "base", "--size", "16M"])
        .ok();
    hash("#/create");
    browser.wait_for(
        "the image to choose",
        QUICK,
        "return [...document.querySelectorAll('select[name=image] option')].some((o) => o.value === 'base')",
    );
    browser.type_into("input[name=name]", "formed");
    browser.type_into("input[name=forward]", "tcp:2299:22");
    browser.run(
        "const s = document.querySelector('select[name=image]'); s.value = 'base'; \
         const c = document.querySelector('input[name=cpu_count]'); c.value = '2';",
        json!([]),
    );
    browser.click("form.create button[type=submit]");
    browser.wait_for(
        "formed's page",
        QUICK,
        "return location.hash === '#/vm/formed' && document.querySelector('section.tab')?.textContent.includes('virtio')",
    );
    // Its NIC, with the forward, in the page's table of NICs.
    browser.wait_for(
        "the forward on formed's page",
        QUICK,
        "return [...document.querySelectorAll('section.tab td')].some((td) => td.textContent === 'tcp:127.0.0.1:2299→22')",
    );
    let formed = daemon.show("formed");
    assert_eq!(
        (formed["cpu_count"].as_u64(), formed["ram_mb"].as_u64()),
        (Some(2), Some(512))
    );
    // Its boot drive is the overlay of the chosen image.
    let root = daemon
        .crv(&["--json", "disk", "show", "formed-root"])
        .json();
    assert_eq!(
        formed["drives"][0]["disk_id"], root["id"],
        "{formed}\n{root}"
    );
    hash("#/");
    browser.wait_for("formed listed", QUICK, &badge_is("formed", "stopped"));

    // The graphs of a running VM: both drawn, with figures.
    daemon.crv(&["vm", "start", "fw"]).ok();
    hash("#/vm/fw/graphs");
    browser.wait_for(
        "both graphs drawn",
        QUICK,
        &format!("return (() => {{ {DRAWN} }})().join() === 'true,true';"),
    );
    let memory = browser.run(
        &text_of("figure.graph:nth-of-type(2) figcaption"),
        json!([]),
    );
    let memory = memory.as_str().unwrap();
    assert!(
        memory.starts_with("Memory (resident, MiB): ") && memory.ends_with(" MiB"),
        "{memory}"
    );
    assert_eq!(
        browser.run("return window.corvusNoReload", json!([])),
        true,
        "no reload"
    );
    daemon.crv(&["vm", "reset", "fw"]).ok();
}
