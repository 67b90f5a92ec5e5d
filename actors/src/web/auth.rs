//! Logging in and being logged in: the `/login` link that turns a `crv web`
//! token into an HttpOnly, SameSite=Strict session cookie, the extractor
//! every API handler takes (session, origin and CSRF checks), and logging
//! out. A client certificate (HTTPS) logs a browser in without a token.

use super::api::refusal;
use super::https::ClientIdentity;
use super::sessions::{self, COOKIE, CSRF_HEADER, SESSION_LIFETIME, Session};
use super::{SharedWeb, Web};
use axum::extract::{FromRequestParts, Query, State};
use axum::http::header::{COOKIE as COOKIE_HEADER, HOST, LOCATION, ORIGIN, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::{Extension, Json};
use corvus_protocol::WireError;
use serde::Deserialize;
use serde_json::json;

/// A request from a logged-in browser that passed the origin and CSRF
/// checks. `cookie` is set when the session was opened by this request
/// (a client certificate's first visit).
pub struct Authed {
    pub session: Session,
    pub cookie: Option<String>,
}

impl Authed {
    /// Opens the wire connection this browser's requests go through.
    pub async fn connect(&self, web: &Web) -> Result<crate::gateway::InProcess, WireError> {
        web.door
            .connect(
                &self.session.client,
                self.session.role,
                self.session.certificate.clone(),
            )
            .await
    }
}

impl FromRequestParts<SharedWeb> for Authed {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, web: &SharedWeb) -> Result<Self, Response> {
        if !same_origin(&parts.headers, web.secure) {
            return Err(denied(
                StatusCode::FORBIDDEN,
                "this request came from another site's page; the web console answers only its own",
            ));
        }
        let identity = parts.extensions.get::<ClientIdentity>().cloned();
        let (session, cookie) = match cookie(&parts.headers) {
            Some(secret) => match sessions::find(web.door.store(), &secret).await {
                Ok(Some(session)) => (session, None),
                Ok(None) => return Err(not_logged_in("your session is unknown or has expired")),
                Err(err) => return Err(refusal(err)),
            },
            None => match identity.as_ref().and_then(|id| id.0.as_ref()) {
                Some(certificate) => {
                    let opened = sessions::open(
                        web.door.store(),
                        format!("web:{}", certificate.name),
                        certificate.role,
                        Some(certificate.serial.clone()),
                    )
                    .await;
                    match opened {
                        Ok((secret, session)) => (session, Some(secret)),
                        Err(err) => return Err(refusal(err)),
                    }
                }
                None => return Err(not_logged_in("this browser is not logged in")),
            },
        };
        if let Some(serial) = &session.certificate
            && web.door.is_revoked(serial)
        {
            return Err(not_logged_in(
                "the client certificate this session was opened with has been revoked",
            ));
        }
        let mutating = !matches!(parts.method, Method::GET | Method::HEAD);
        // Also for a client certificate: browsers send those to any site's requests.
        if mutating {
            let given = parts.headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok());
            let valid = given.is_some_and(|token| sessions::same_secret(token, &session.csrf));
            if !valid {
                return Err(denied(
                    StatusCode::FORBIDDEN,
                    &format!(
                        "this request carries no valid {CSRF_HEADER} header, so it was refused: reload the page"
                    ),
                ));
            }
        }
        Ok(Authed { session, cookie })
    }
}

/// Browsers name the page a request came from in `Origin` (on POST,
/// DELETE and WebSocket requests); it must be this server itself.
fn same_origin(headers: &HeaderMap, secure: bool) -> bool {
    let Some(origin) = headers.get(ORIGIN) else {
        return true;
    };
    let (Ok(origin), Some(Ok(host))) = (origin.to_str(), headers.get(HOST).map(|h| h.to_str()))
    else {
        return false;
    };
    let scheme = if secure { "https" } else { "http" };
    origin == format!("{scheme}://{host}")
}

fn cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(COOKIE_HEADER)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.to_owned())
}

fn set_cookie(secret: &str, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    let text = format!(
        "{COOKIE}={secret}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}{secure}",
        SESSION_LIFETIME.as_secs()
    );
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// Sets the session cookie a request just opened (a client certificate's
/// first visit).
pub fn attach_cookie(response: &mut Response, secret: &str, secure: bool) {
    response
        .headers_mut()
        .insert(SET_COOKIE, set_cookie(secret, secure));
}

fn denied(status: StatusCode, message: &str) -> Response {
    (
        status,
        Json(json!({ "error": message, "kind": "unauthorized" })),
    )
        .into_response()
}

fn not_logged_in(why: &str) -> Response {
    denied(
        StatusCode::UNAUTHORIZED,
        &format!("{why}: run `crv web` and open the link it prints"),
    )
}

#[derive(Deserialize)]
pub struct LoginQuery {
    token: Option<String>,
}

/// `GET /login?token=…`: spends the token, sets the cookie, and sends the
/// browser to the page (so the token leaves the address bar at once).
pub async fn login(
    State(web): State<SharedWeb>,
    identity: Option<Extension<ClientIdentity>>,
    Query(query): Query<LoginQuery>,
) -> Response {
    let opened = match (query.token, identity.and_then(|Extension(id)| id.0)) {
        (Some(token), _) => sessions::exchange(web.door.store(), &token).await,
        (None, Some(certificate)) => sessions::open(
            web.door.store(),
            format!("web:{}", certificate.name),
            certificate.role,
            Some(certificate.serial),
        )
        .await
        .map(Some),
        (None, None) => Ok(None),
    };
    match opened {
        Ok(Some((secret, session))) => {
            tracing::info!(client = %session.client, role = %session.role, "web console login");
            let mut response = StatusCode::SEE_OTHER.into_response();
            let headers = response.headers_mut();
            headers.insert(LOCATION, HeaderValue::from_static("/"));
            headers.insert(SET_COOKIE, set_cookie(&secret, web.secure));
            response
        }
        Ok(None) => (
            StatusCode::UNAUTHORIZED,
            Html(
                "<!doctype html><meta charset=utf-8><title>Corvus: login refused</title>\
                 <p>This login link is unknown, expired or already used. Run <code>crv web</code> \
                 for a new one.</p>",
            ),
        )
            .into_response(),
        Err(err) => refusal(err),
    }
}

/// `GET /api/session`: who the page acts for, and its CSRF token.
pub async fn whoami(authed: Authed, State(web): State<SharedWeb>) -> Response {
    let body = Json(json!({
        "client": authed.session.client,
        "role": authed.session.role,
        "csrf": authed.session.csrf,
    }));
    let mut response = body.into_response();
    if let Some(secret) = &authed.cookie {
        attach_cookie(&mut response, secret, web.secure);
    }
    response
}

/// `POST /api/logout`: forgets the session.
pub async fn logout(authed: Authed, State(web): State<SharedWeb>) -> Response {
    if let Err(err) = sessions::close(web.door.store(), &authed.session).await {
        return refusal(err);
    }
    let mut response = StatusCode::NO_CONTENT.into_response();
    response.headers_mut().insert(
        SET_COOKIE,
        HeaderValue::from_static("corvus_session=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0"),
    );
    response
}
