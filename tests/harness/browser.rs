//! A real browser for the web console's tests: Debian's headless Chromium
//! driven over W3C WebDriver by its `chromedriver` (packages `chromium`
//! and `chromium-driver`, installed by scripts/deps). The few WebDriver
//! commands the tests need are plain JSON over HTTP, sent with reqwest.

use crate::access::free_port;
use crate::postgres::wait_until;
use crate::prereq::{require, which};
use reqwest::blocking::Client;
use serde_json::{Value, json};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// How WebDriver names an element reference in JSON.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

pub struct Browser {
    http: Client,
    /// `http://127.0.0.1:PORT/session/ID`.
    session: String,
    driver: Child,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Headless Chromium at 1280×720, or `None` when it is not installed
    /// (outside CI; in CI that fails the test).
    pub fn start() -> Option<Browser> {
        let chromium = which("chromium");
        let driver = which("chromedriver");
        let installed = chromium.is_some() && driver.is_some();
        if !require(
            installed,
            "chromium and chromedriver (apt-get install chromium chromium-driver; scripts/deps)",
        ) {
            return None;
        }
        let (chromium, driver) = (chromium?, driver?);
        let port = free_port();
        let driver = Command::new(driver)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let http = Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .expect("an HTTP client");
        let base = format!("http://127.0.0.1:{port}");
        let ready = wait_until(Duration::from_secs(20), || {
            http.get(format!("{base}/status"))
                .send()
                .and_then(|answer| answer.json::<Value>())
                .is_ok_and(|status| status["value"]["ready"] == true)
        });
        assert!(ready, "chromedriver did not get ready on port {port}");
        let profile = tempfile::tempdir().expect("a browser profile dir");
        let capabilities = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu",
                    "--disable-dev-shm-usage", "--window-size=1280,720",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            },
        }}});
        let mut browser = Browser {
            http,
            session: String::new(),
            driver,
            _profile: profile,
        };
        let created = browser.command("POST", &format!("{base}/session"), capabilities);
        let id = created["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no WebDriver session: {created}"));
        browser.session = format!("{base}/session/{id}");
        Some(browser)
    }

    fn command(&self, method: &str, url: &str, body: Value) -> Value {
        let request = match method {
            "POST" => self.http.post(url).json(&body),
            "DELETE" => self.http.delete(url),
            _ => self.http.get(url),
        };
        let answer: Value = request
            .send()
            .and_then(|answer| answer.json())
            .unwrap_or_else(|err| panic!("WebDriver {method} {url}: {err}"));
        if answer["value"]["error"].is_string() {
            panic!("WebDriver {method} {url}: {}", answer["value"]);
        }
        answer["value"].clone()
    }

    fn session_command(&self, method: &str, path: &str, body: Value) -> Value {
        self.command(method, &format!("{}{path}", self.session), body)
    }

    pub fn goto(&self, url: &str) {
        self.session_command("POST", "/url", json!({ "url": url }));
    }

    /// Runs `script` (a function body; `arguments` holds `args`) in the page.
    pub fn run(&self, script: &str, args: Value) -> Value {
        self.session_command(
            "POST",
            "/execute/sync",
            json!({ "script": script, "args": args }),
        )
    }

    /// Waits until `script` returns something truthy; returns it.
    #[track_caller]
    pub fn wait_for(&self, what: &str, timeout: Duration, script: &str) -> Value {
        let mut last = Value::Null;
        let found = wait_until(timeout, || {
            last = self.run(script, json!([]));
            !(last.is_null() || last == false || last == "")
        });
        assert!(
            found,
            "the page did not show {what} within {timeout:?}; the page says:\n{}",
            self.run("return document.body.innerText", json!([]))
        );
        last
    }

    /// The element `css` selects; panics when there is none.
    pub fn element(&self, css: &str) -> String {
        let found = self.session_command(
            "POST",
            "/element",
            json!({ "using": "css selector", "value": css }),
        );
        found[ELEMENT]
            .as_str()
            .unwrap_or_else(|| panic!("no element {css}: {found}"))
            .to_owned()
    }

    /// Clicks as a user does (the browser moves the pointer there).
    pub fn click(&self, css: &str) {
        let element = self.element(css);
        self.session_command("POST", &format!("/element/{element}/click"), json!({}));
    }

    /// Types `text` into the element `css` selects, key by key.
    pub fn type_into(&self, css: &str, text: &str) {
        let element = self.element(css);
        self.session_command(
            "POST",
            &format!("/element/{element}/value"),
            json!({ "text": text }),
        );
    }

    /// Resizes the window (headless: the viewport).
    pub fn resize(&self, width: u32, height: u32) {
        self.session_command(
            "POST",
            "/window/rect",
            json!({ "width": width, "height": height }),
        );
    }

    /// Saves a PNG of the viewport.
    pub fn screenshot(&self, path: &Path) {
        use base64_decode::decode;
        let png = self.session_command("GET", "/screenshot", Value::Null);
        let bytes = decode(png.as_str().expect("a base64 screenshot"));
        std::fs::write(path, bytes).expect("write the screenshot");
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = self.http.delete(&self.session).send();
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// Standard base64 (what WebDriver screenshots are), without a crate for it.
mod base64_decode {
    pub fn decode(text: &str) -> Vec<u8> {
        let value = |c: u8| match c {
            b'A'..=b'Z' => Some(c - b'A'),
            b'a'..=b'z' => Some(c - b'a' + 26),
            b'0'..=b'9' => Some(c - b'0' + 52),
            b'+' => Some(62),
            b'/' => Some(63),
            _ => None,
        };
        let mut out = Vec::with_capacity(text.len() * 3 / 4);
        let (mut buffer, mut bits) = (0u32, 0);
        for sixbits in text.bytes().filter_map(value) {
            buffer = (buffer << 6) | u32::from(sixbits);
            bits += 6;
            if bits >= 8 {
                bits -= 8;
                out.push((buffer >> bits) as u8);
            }
        }
        out
    }
}
