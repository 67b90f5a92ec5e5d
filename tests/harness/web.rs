//! The web console (`corvus --http`) as a browser's requests reach it:
//! a `crv web` login link spent over real HTTP, then the session cookie
//! and CSRF header on each API call. No cookie jar on purpose: each test
//! says which cookie and headers it sends.

use crate::access::{Via, free_port};
use crate::daemon::{Daemon, DaemonOptions};
use reqwest::blocking::{Client, Response};
use reqwest::header::{COOKIE, HeaderMap, SET_COOKIE};
use reqwest::redirect::Policy;
use serde_json::Value;
use std::time::Duration;

/// `base` with `--http 127.0.0.1:PORT` added.
pub fn web_options(base: DaemonOptions) -> DaemonOptions {
    let mut options = base;
    options
        .extra_args
        .extend(["--http".to_owned(), format!("127.0.0.1:{}", free_port())]);
    options
}

/// An HTTP client that follows no redirect (the login's 303 carries the
/// cookie) and trusts `ca` when given (HTTPS off loopback).
pub fn http_client(ca: Option<&[u8]>) -> Client {
    let mut builder = Client::builder()
        .redirect(Policy::none())
        .timeout(Duration::from_secs(30));
    if let Some(ca) = ca {
        let certificate = reqwest::Certificate::from_pem(ca).expect("the daemon's CA certificate");
        builder = builder
            .tls_built_in_root_certs(false)
            .add_root_certificate(certificate);
    }
    builder.build().expect("an HTTP client")
}

/// A logged-in browser's credentials.
pub struct WebSession {
    pub client: Client,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// `corvus_session=…`, as a Cookie header carries it.
    pub cookie: String,
    pub csrf: String,
    /// The whole Set-Cookie header the login answered with.
    pub set_cookie: String,
    /// What `/api/session` said.
    pub whoami: Value,
}

impl Daemon {
    /// The `--http` address this daemon was started with.
    pub fn web_address(&self) -> &str {
        let args = &self.options.extra_args;
        let at = args
            .iter()
            .position(|arg| arg == "--http")
            .expect("the daemon was started with web_options");
        &args[at + 1]
    }

    /// `crv web` reaching the daemon `via`: the login link.
    pub fn web_link(&self, via: Via<'_>) -> String {
        let link = self.crv_via(via, &["web"]).ok().trim().to_owned();
        assert!(link.contains("/login?token="), "not a login link: {link}");
        link
    }

    /// Logs a new browser in with a fresh `crv web` link.
    pub fn web_login(&self, via: Via<'_>) -> WebSession {
        let client = http_client(None);
        let link = self.web_link(via);
        let base = format!("http://{}", self.web_address());
        login_with(client, &base, &link)
    }
}

/// Spends `link` and reads the session it opens.
pub fn login_with(client: Client, base: &str, link: &str) -> WebSession {
    let answer = client.get(link).send().expect("GET the login link");
    assert_eq!(answer.status().as_u16(), 303, "login: {}", describe(answer));
    let set_cookie = answer
        .headers()
        .get(SET_COOKIE)
        .and_then(|value| value.to_str().ok())
        .expect("the login sets a cookie")
        .to_owned();
    let cookie = set_cookie
        .split(';')
        .next()
        .expect("a cookie has a name=value")
        .to_owned();
    let whoami = client
        .get(format!("{base}/api/session"))
        .header(COOKIE, &cookie)
        .send()
        .expect("GET /api/session");
    assert_eq!(
        whoami.status().as_u16(),
        200,
        "whoami: {}",
        describe(whoami)
    );
    let whoami: Value = whoami.json_value();
    let csrf = whoami["csrf"].as_str().expect("a CSRF token").to_owned();
    WebSession {
        client,
        base: base.to_owned(),
        cookie,
        csrf,
        set_cookie,
        whoami,
    }
}

impl WebSession {
    /// GET with the session cookie.
    pub fn get(&self, path: &str) -> (u16, Value) {
        let answer = self
            .client
            .get(format!("{}{path}", self.base))
            .header(COOKIE, &self.cookie)
            .send()
            .expect("GET");
        status_and_json(answer)
    }

    /// `method` with the cookie and, when given, `csrf` as the CSRF header.
    pub fn send(
        &self,
        method: &str,
        path: &str,
        csrf: Option<&str>,
        extra: HeaderMap,
    ) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("an HTTP method");
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.base))
            .header(COOKIE, &self.cookie)
            .headers(extra);
        if let Some(csrf) = csrf {
            request = request.header("x-csrf-token", csrf);
        }
        status_and_json(request.send().expect("send"))
    }

    /// POST of a JSON body, with the CSRF token, as the create form sends it.
    pub fn post_json(&self, path: &str, body: &Value) -> (u16, Value) {
        let answer = self
            .client
            .post(format!("{}{path}", self.base))
            .header(COOKIE, &self.cookie)
            .header("x-csrf-token", &self.csrf)
            .json(body)
            .send()
            .expect("POST");
        status_and_json(answer)
    }

    /// POST as the page sends it: with the session's CSRF token.
    pub fn post(&self, path: &str) -> (u16, Value) {
        self.send("POST", path, Some(&self.csrf.clone()), HeaderMap::new())
    }
}

pub fn status_and_json(answer: Response) -> (u16, Value) {
    let status = answer.status().as_u16();
    (status, answer.json_value())
}

trait JsonValue {
    fn json_value(self) -> Value;
}

impl JsonValue for Response {
    fn json_value(self) -> Value {
        let text = self.text().expect("a body");
        if text.is_empty() {
            return Value::Null;
        }
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"))
    }
}

fn describe(answer: Response) -> String {
    let status = answer.status();
    format!("{status}: {}", answer.text().unwrap_or_default())
}
