//! Who a browser is: one-time login tokens (`crv web`) that become session
//! cookies, each session with its CSRF token. Both live in the database
//! (`web_session`), so a daemon restart does not log an open page out;
//! only a SHA-256 of each secret is stored, so reading the database does
//! not hand out sessions.

use crate::context::Context;
use crate::gateway::peer::Peer;
use crate::wire::db;
use corvus_protocol::{Response, Role, WireError};
use corvus_storage::entity::web_session;
use corvus_storage::{NewWebSession, Store};
use sha2::{Digest, Sha256};
use std::time::Duration;

pub const COOKIE: &str = "corvus_session";
/// The header every POST and DELETE must carry, with the session's token.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// A login link is for opening at once, not for keeping.
pub const LOGIN_LIFETIME: Duration = Duration::from_secs(120);
/// A session ends this long after its login; the page then asks for a new
/// `crv web`.
pub const SESSION_LIFETIME: Duration = Duration::from_secs(7 * 24 * 3600);

const LOGIN: &str = "login";
const SESSION: &str = "session";

/// A logged-in browser, as its session row says.
#[derive(Debug, Clone)]
pub struct Session {
    /// The hash of the cookie's secret: the row's key.
    pub id: String,
    /// The client the page acts for, as events name it (`web:unix:0`).
    pub client: String,
    pub role: Role,
    /// The client certificate's serial, when one logged in.
    pub certificate: Option<String>,
    pub csrf: String,
}

/// `Request::WebLogin`: a one-time link for the asking client, with its
/// role (and certificate, which a revocation then also logs out).
pub async fn login_link(ctx: &Context, peer: &Peer) -> Result<Response, WireError> {
    let Some(base) = &ctx.http else {
        return Err(WireError::unavailable(
            "this daemon serves no web console: start corvus with --http HOST:PORT",
        ));
    };
    let token = secret()?;
    let row = NewWebSession {
        id: digest(&token),
        kind: LOGIN,
        client: peer.name.to_string(),
        role: peer.role.as_str().to_owned(),
        certificate: peer.certificate.clone(),
        csrf: String::new(),
        expires_at: after(LOGIN_LIFETIME),
    };
    db(ctx.store.insert_web_session(row)).await?;
    Ok(Response::WebLogin {
        url: format!("{base}/login?token={token}"),
        expires_in_secs: LOGIN_LIFETIME.as_secs(),
    })
}

/// Spends a login token; the new session and its cookie secret, or `None`
/// for a token that is unknown, expired or already used.
pub async fn exchange(store: &Store, token: &str) -> Result<Option<(String, Session)>, WireError> {
    let id = digest(token);
    let Some(login) = db(store.web_session(&id, LOGIN)).await? else {
        return Ok(None);
    };
    // Of two browsers presenting the same token, only one deletes it.
    if !db(store.take_web_session(&id, LOGIN)).await? {
        return Ok(None);
    }
    let client = format!("web:{}", login.client);
    let role = role(&login.role)?;
    open(store, client, role, login.certificate).await.map(Some)
}

/// A new session for `client`; its cookie secret and the session.
pub async fn open(
    store: &Store,
    client: String,
    role: Role,
    certificate: Option<String>,
) -> Result<(String, Session), WireError> {
    let cookie = secret()?;
    let csrf = secret()?;
    let id = digest(&cookie);
    db(store.insert_web_session(NewWebSession {
        id: id.clone(),
        kind: SESSION,
        client: client.clone(),
        role: role.as_str().to_owned(),
        certificate: certificate.clone(),
        csrf: csrf.clone(),
        expires_at: after(SESSION_LIFETIME),
    }))
    .await?;
    // Now and then, so that expired rows do not pile up.
    if fastrand::u8(..) == 0 {
        db(store.prune_web_sessions()).await?;
    }
    Ok((
        cookie,
        Session {
            id,
            client,
            role,
            certificate,
            csrf,
        },
    ))
}

/// The unexpired session whose cookie secret this is.
pub async fn find(store: &Store, cookie: &str) -> Result<Option<Session>, WireError> {
    let Some(row) = db(store.web_session(&digest(cookie), SESSION)).await? else {
        return Ok(None);
    };
    session(row).map(Some)
}

pub async fn close(store: &Store, session: &Session) -> Result<(), WireError> {
    Ok(db(store.delete_web_session(&session.id)).await?)
}

fn session(row: web_session::Model) -> Result<Session, WireError> {
    Ok(Session {
        role: role(&row.role)?,
        id: row.id,
        client: row.client,
        certificate: row.certificate,
        csrf: row.csrf,
    })
}

fn role(text: &str) -> Result<Role, WireError> {
    text.parse()
        .map_err(|_| WireError::internal(format!("a web session holds an unknown role '{text}'")))
}

/// 32 random bytes in hex.
fn secret() -> Result<String, WireError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|err| {
        WireError::internal(format!("cannot read random bytes for a secret: {err}"))
    })?;
    Ok(hex::encode(bytes))
}

fn digest(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

fn after(lifetime: Duration) -> chrono::DateTime<chrono::Utc> {
    chrono::Utc::now()
        + chrono::Duration::from_std(lifetime).unwrap_or_else(|_| chrono::Duration::days(1))
}

/// Compares secrets in time that does not depend on where they differ.
pub fn same_secret(given: &str, expected: &str) -> bool {
    given.len() == expected.len()
        && given
            .bytes()
            .zip(expected.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_random_and_stored_only_as_digests() {
        let (a, b) = (secret().unwrap(), secret().unwrap());
        assert_eq!(a.len(), 64);
        assert_ne!(a, b);
        assert_ne!(digest(&a), a);
        assert_eq!(digest(&a), digest(&a));
    }

    #[test]
    fn secrets_compare_whole() {
        assert!(same_secret("abcd", "abcd"));
        assert!(!same_secret("abcd", "abce"));
        assert!(!same_secret("abc", "abcd"));
        assert!(!same_secret("", "abcd"));
    }
}
