//! The page's files, embedded in the daemon at build time (no build step,
//! nothing fetched at run time: the page works offline), and the headers
//! every answer carries: a Content-Security-Policy allowing only this
//! server (inline styles too: xterm.js writes its theme as a `<style>`), no framing, no referrer (a login link carries its token).

use axum::extract::Path;
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS,
    X_FRAME_OPTIONS,
};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// Path under `/assets/`, content type, bytes.
const FILES: &[(&str, &str, &[u8])] = &[
    ("app.js", JS, include_bytes!("../../web/app.js")),
    ("api.js", JS, include_bytes!("../../web/api.js")),
    ("events.js", JS, include_bytes!("../../web/events.js")),
    ("list.js", JS, include_bytes!("../../web/list.js")),
    ("detail.js", JS, include_bytes!("../../web/detail.js")),
    ("console.js", JS, include_bytes!("../../web/console.js")),
    ("create.js", JS, include_bytes!("../../web/create.js")),
    ("graph.js", JS, include_bytes!("../../web/graph.js")),
    ("style.css", CSS, include_bytes!("../../web/style.css")),
    (
        "vendor/xterm/xterm.mjs",
        JS,
        include_bytes!("../../web/vendor/xterm/xterm.mjs"),
    ),
    (
        "vendor/xterm/xterm.css",
        CSS,
        include_bytes!("../../web/vendor/xterm/xterm.css"),
    ),
    (
        "vendor/xterm/LICENSE",
        "text/plain; charset=utf-8",
        include_bytes!("../../web/vendor/xterm/LICENSE"),
    ),
];
const INDEX: &[u8] = include_bytes!("../../web/index.html");
const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

pub async fn index() -> Response {
    let mut response = INDEX.into_response();
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    response
}

pub async fn file(Path(path): Path<String>) -> Response {
    let Some((_, content_type, bytes)) = FILES.iter().find(|(name, _, _)| *name == path) else {
        return (StatusCode::NOT_FOUND, "no such file\n").into_response();
    };
    let mut response = bytes.into_response();
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// Headers for every answer. Assets change only with the daemon binary;
/// `no-cache` makes the browser check (cheaply) rather than keep an old page.
pub async fn harden(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; connect-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; \
             script-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; \
             form-action 'self'",
        ),
    );
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers
        .entry(CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-cache"));
    response
}
