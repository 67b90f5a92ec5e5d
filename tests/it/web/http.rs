//! The web console's doors over real HTTP: a `crv web` token spent once
//! for an HttpOnly, SameSite=Strict cookie; no session, a forged or an
//! expired one, no or a wrong CSRF token, or another site's Origin:
//! refused; roles exactly as on the wire; sessions kept in the database
//! across a daemon restart.

use crate::remote_roles::tls_options;
use harness::access::Via;
use harness::web::{http_client, login_with, status_and_json, web_options};
use harness::{Daemon, DaemonOptions, Db};
use reqwest::header::{COOKIE, HeaderMap, HeaderValue, ORIGIN};
use serde_json::json;
use std::time::Duration;

const QUICK: Duration = Duration::from_secs(10);
/// An expiry long gone, in a form both databases read.
const PAST: &str = "2000-01-01 00:00:00+00:00";

on_both_databases!(a_token_logs_one_browser_in_and_its_session_survives_a_restart);

fn a_token_logs_one_browser_in_and_its_session_survives_a_restart(db: Db) {
    let Some(mut daemon) = Daemon::start_with(db, web_options(DaemonOptions::default())) else {
        return;
    };
    daemon.create_firmware_vm("fw", &[]);
    let base = format!("http://{}", daemon.web_address());
    let anonymous = http_client(None);

    // No cookie, a forged one, a WebSocket without one: 401, saying how in.
    let (status, body) = status_and_json(anonymous.get(format!("{base}/api/vms")).send().unwrap());
    assert_eq!(status, 401, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("crv web"),
        "{body}"
    );
    let forged = format!("corvus_session={}", "ab".repeat(32));
    let (status, _) = status_and_json(
        anonymous
            .get(format!("{base}/api/vms"))
            .header(COOKIE, &forged)
            .send()
            .unwrap(),
    );
    assert_eq!(status, 401);
    let upgrade = anonymous
        .get(format!("{base}/api/events"))
        .header("connection", "upgrade")
        .header("upgrade", "websocket")
        .header("sec-websocket-version", "13")
        .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
        .send()
        .unwrap();
    assert_eq!(upgrade.status().as_u16(), 401);

    // The link logs one browser in, once.
    let link = daemon.web_link(Via::Unix);
    let session = login_with(http_client(None), &base, &link);
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(
            session.set_cookie.contains(attribute),
            "{}",
            session.set_cookie
        );
    }
    assert!(
        !session.set_cookie.contains("Secure"),
        "plain HTTP on loopback"
    );
    assert_eq!(session.whoami["role"], "admin", "{}", session.whoami);
    let again = anonymous.get(&link).send().unwrap();
    assert_eq!(again.status().as_u16(), 401, "a spent token is refused");

    let (status, list) = session.get("/api/vms");
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["Vms"][0]["name"], "fw");
    let answer = session
        .client
        .get(format!("{base}/api/vms"))
        .header(COOKIE, &session.cookie)
        .header(ORIGIN, "http://evil.example")
        .send()
        .unwrap();
    assert_eq!(
        answer.status().as_u16(),
        403,
        "another site's page is refused"
    );
    assert!(
        answer
            .headers()
            .get("access-control-allow-origin")
            .is_none(),
        "no CORS"
    );

    // A mutating request needs the session's CSRF token, and this site's origin.
    let (status, body) = session.send("POST", "/api/vms/fw/start", None, HeaderMap::new());
    assert_eq!(status, 403, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("x-csrf-token"),
        "{body}"
    );
    let wrong = "0".repeat(64);
    let (status, _) = session.send("POST", "/api/vms/fw/start", Some(&wrong), HeaderMap::new());
    assert_eq!(status, 403);
    let mut evil = HeaderMap::new();
    evil.insert(ORIGIN, HeaderValue::from_static("http://evil.example"));
    let (status, _) = session.send("POST", "/api/vms/fw/start", Some(&session.csrf), evil);
    assert_eq!(status, 403);
    let (status, _) = session.send("DELETE", "/api/vms/fw", None, HeaderMap::new());
    assert_eq!(status, 403);
    assert_eq!(
        daemon.show("fw")["status"],
        "stopped",
        "nothing refused ran"
    );

    let (status, body) = session.post("/api/vms/fw/start");
    assert_eq!(status, 200, "{body}");
    daemon.wait_for_state("fw", "running", QUICK);
    let history = daemon.history("fw");
    let client = history[0]["cause"]["operator"]["client"].as_str().unwrap();
    assert!(
        client.starts_with("web:"),
        "events name the page's client: {history:?}"
    );
    // The daemon's own refusal text reaches the page.
    let (status, body) = session.post("/api/vms/fw/start");
    assert_eq!(status, 409, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("running"),
        "{body}"
    );

    let (status, stats) = session.get("/api/vms/fw/stats");
    assert_eq!(
        (status, &stats["VmStats"]["status"]),
        (200, &json!("running")),
        "{stats}"
    );

    // The create form: a VM from a disk image, or the daemon's reason why not.
    daemon.crv(&["disk", "create", "base", "--size", "2M"]).ok();
    let (status, disks) = session.get("/api/disks");
    assert_eq!(
        (status, &disks["Disks"][0]["name"]),
        (200, &json!("base")),
        "{disks}"
    );
    let new_vm =
        |name: &str| json!({ "name": name, "cpu_count": 1, "ram_mb": 64, "image": "base" });
    let (status, created) = session.post_json("/api/vms", &new_vm("from-image"));
    assert_eq!(status, 200, "{created}");
    let shown = daemon.show("from-image");
    assert_eq!(shown["drives"].as_array().map(Vec::len), Some(1), "{shown}");
    let (status, refused) = session.post_json("/api/vms", &new_vm("from-image"));
    assert_eq!(status, 409, "{refused}");
    assert!(
        refused["error"].as_str().unwrap().contains("from-image"),
        "{refused}"
    );
    let (status, refused) = session.post_json("/api/vms", &json!({ "name": "x" }));
    assert_eq!(status, 400, "{refused}");
    // With the cloud issue's fields: the user, a key and a forward arrive
    // as `crv vm create --user --ssh-key --forward` would send them.
    let key =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEbWxeK1f3zNpHNCYoK0X6Ar3kiz1D9lTDnSSd0Ca5Qm web@test";
    let mut with_access = new_vm("with-access");
    with_access["user"] = json!("alice");
    with_access["ssh_key"] = json!(key);
    with_access["forward"] = json!("tcp:2299:22");
    let (status, created) = session.post_json("/api/vms", &with_access);
    assert_eq!(status, 200, "{created}");
    let shown = daemon.show("with-access");
    assert_eq!(shown["cloud_init"]["user"], json!("alice"), "{shown}");
    assert_eq!(shown["cloud_init"]["ssh_keys"], json!([key]), "{shown}");
    let forwards = &shown["network_interfaces"][0]["forwards"][0];
    assert_eq!(
        (&forwards["host_port"], &forwards["guest_port"]),
        (&json!(2299), &json!(22)),
        "{shown}"
    );
    let mut keyless_user = new_vm("no-user");
    keyless_user["ssh_key"] = json!(key);
    let (status, refused) = session.post_json("/api/vms", &keyless_user);
    assert_eq!(status, 400, "{refused}");
    assert!(
        refused["error"].as_str().unwrap().contains("User"),
        "{refused}"
    );
    let mut bad_forward = new_vm("bad-forward");
    bad_forward["forward"] = json!("tcp:0:22");
    let (status, refused) = session.post_json("/api/vms", &bad_forward);
    assert_eq!(status, 400, "{refused}");
    assert!(daemon.crv(&["vm", "show", "no-user"]).code() != 0);

    // The session is in the database: a restart does not log the page out.
    daemon.restart();
    let (status, whoami) = session.get("/api/session");
    assert_eq!(status, 200, "{whoami}");
    assert_eq!(whoami["csrf"].as_str(), Some(session.csrf.as_str()));
    let (status, body) = session.post("/api/vms/fw/stop?timeout=1");
    assert_eq!(status, 200, "{body}");
    daemon.wait_for_state("fw", "stopped", QUICK);

    // Past their time, a link and a session no longer count.
    let late_link = daemon.web_link(Via::Unix);
    let other = login_with(http_client(None), &base, &daemon.web_link(Via::Unix));
    daemon.execute_sql(format!(
        "UPDATE web_session SET expires_at = '{PAST}' WHERE kind = 'login' OR csrf = '{}'",
        other.csrf
    ));
    let late = anonymous.get(&late_link).send().unwrap();
    assert_eq!(late.status().as_u16(), 401, "an expired link");
    let (status, body) = other.get("/api/vms");
    assert_eq!(status, 401, "an expired session: {body}");
    assert!(
        body["error"].as_str().unwrap().contains("expired"),
        "{body}"
    );

    let (status, _) = session.post("/api/logout");
    assert_eq!(status, 204);
    let (status, _) = session.get("/api/vms");
    assert_eq!(status, 401, "logged out");
}

/// The page acts with the role of the client that ran `crv web`, refused
/// exactly as that client would be on the wire; revoking its certificate
/// logs the page out.
#[test]
fn a_viewer_page_looks_and_an_operator_page_may_not_delete() {
    let options = web_options(tls_options(DaemonOptions::default()));
    let Some(daemon) = Daemon::start_with(Db::Sqlite, options) else {
        return;
    };
    daemon.create_firmware_vm("fw", &[]);
    let viewer = daemon.web_login(daemon.remote("vera", "viewer"));
    assert_eq!(viewer.whoami["role"], "viewer", "{}", viewer.whoami);
    assert_eq!(viewer.whoami["client"], "web:vera", "{}", viewer.whoami);
    let (status, list) = viewer.get("/api/vms");
    assert_eq!(status, 200, "{list}");
    let (status, body) = viewer.post("/api/vms/fw/start");
    assert_eq!(status, 403, "{body}");
    let wire = daemon
        .crv_via(Via::Remote("vera"), &["vm", "start", "fw"])
        .fails(1, "permission denied");
    assert!(
        wire.contains("operator") && body["error"].as_str().unwrap().contains("operator"),
        "the same refusal as on the wire: {body} / {wire}"
    );
    assert_eq!(daemon.show("fw")["status"], "stopped");

    let operator = daemon.web_login(daemon.remote("otto", "operator"));
    let (status, body) = operator.post("/api/vms/fw/start");
    assert_eq!(status, 200, "{body}");
    daemon.wait_for_state("fw", "running", QUICK);
    let (status, body) = operator.send(
        "DELETE",
        "/api/vms/fw",
        Some(&operator.csrf.clone()),
        HeaderMap::new(),
    );
    assert_eq!(status, 403, "{body}");
    assert!(body["error"].as_str().unwrap().contains("admin"), "{body}");
    assert_eq!(daemon.show("fw")["name"], "fw", "still there");

    // Revoking the certificate behind a page logs that page out.
    daemon.corvus(&["tls", "revoke", "otto"]).ok();
    let (status, body) = operator.get("/api/vms");
    assert_eq!(status, 401, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("revoked"),
        "{body}"
    );
    let (status, _) = viewer.get("/api/vms");
    assert_eq!(status, 200, "the other page stays logged in");
}
