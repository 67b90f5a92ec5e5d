//! The `/metrics` endpoint as a scraper sees it: plain HTTP/1.1 requests
//! over TCP, Prometheus's own `promtool` to check the text, and reading
//! one series' value out of it.

use crate::prereq::require;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

/// One HTTP answer.
#[derive(Debug)]
pub struct HttpAnswer {
    pub status: u16,
    /// The status line and headers, as sent.
    pub head: String,
    pub body: String,
}

/// Sends `METHOD PATH` to 127.0.0.1:`port` and reads the whole answer.
pub fn http(port: u16, method: &str, path: &str) -> HttpAnswer {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to /metrics");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )
    .expect("send the request");
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).expect("read the answer");
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let (head, body) = answer
        .split_once("\r\n\r\n")
        .unwrap_or((answer.as_str(), ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {answer}"));
    HttpAnswer {
        status,
        head: head.to_owned(),
        body: body.to_owned(),
    }
}

/// `GET /metrics`, which must succeed.
#[track_caller]
pub fn scrape(port: u16) -> String {
    let answer = http(port, "GET", "/metrics");
    assert_eq!(answer.status, 200, "{answer:?}");
    answer.body
}

static PROMTOOL: OnceLock<Option<PathBuf>> = OnceLock::new();

/// promtool, from PATH or unpacked by tests/tools/promtool.sh; `None`
/// when it cannot be had outside CI.
pub fn promtool() -> Option<&'static Path> {
    PROMTOOL
        .get_or_init(|| {
            let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tools/promtool.sh");
            let output = Command::new("bash").arg(&script).output();
            let found = match output {
                Ok(output) if output.status.success() => Some(PathBuf::from(
                    String::from_utf8_lossy(&output.stdout).trim(),
                )),
                Ok(output) => {
                    eprintln!("{}", String::from_utf8_lossy(&output.stderr));
                    None
                }
                Err(_) => None,
            };
            require(
                found.is_some(),
                "promtool (tests/tools/promtool.sh unpacks it from Debian's prometheus package)",
            )
            .then_some(found)
            .flatten()
        })
        .as_deref()
}

/// Runs `promtool check metrics` on `text`: its parser must accept it and
/// its linter find nothing to say.
#[track_caller]
pub fn check_with_promtool(promtool: &Path, text: &str) {
    let mut child = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run promtool");
    child
        .stdin
        .take()
        .expect("piped")
        .write_all(text.as_bytes())
        .expect("feed promtool");
    let output = child.wait_with_output().expect("promtool output");
    assert!(
        output.status.success(),
        "promtool check metrics refused the text ({}):\n{}{}\n--- text:\n{text}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The value of the series written exactly `series` (name and labels as
/// the daemon writes them), if the text has it.
pub fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|value| value.trim().parse().ok())
}
