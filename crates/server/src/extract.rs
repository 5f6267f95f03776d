//! Extractors: our own `Json` (so malformed bodies are answered as problem+json, naming the
//! field), and `Signed`, the signed-in account behind a bearer token or a session cookie.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode, header};
use careplan_store::accounts::{Account, Credential};
use careplan_store::handle::Handle;
use serde::de::DeserializeOwned;

use crate::AppState;
use crate::problem::Problem;

/// The name of the browser session cookie.
pub const SESSION_COOKIE: &str = "careplan_session";
/// The header that carries the session's CSRF token on unsafe requests.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// A JSON body. Errors say what is wrong and where, e.g. "at commands[2].priority".
#[derive(Debug)]
pub struct Json<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Json<T> {
    type Rejection = Problem;

    async fn from_request(req: Request, state: &S) -> Result<Self, Problem> {
        let json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| {
                let ct = ct
                    .split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_ascii_lowercase();
                ct == "application/json" || ct.ends_with("+json")
            });
        if !json {
            return Err(Problem::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "/problems/unsupported-media-type",
                "JSON expected",
                "Send the body as JSON, with Content-Type: application/json",
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                Problem::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "/problems/too-large",
                    "The request is too large",
                    "The body is larger than this service accepts",
                )
            } else {
                Problem::bad_request(format!("The body could not be read: {e}"))
            }
        })?;
        let mut de = serde_json::Deserializer::from_slice(&bytes);
        let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            if inner.is_syntax() || inner.is_eof() {
                Problem::bad_request(format!(
                    "The body is not valid JSON (line {}, column {})",
                    inner.line(),
                    inner.column()
                ))
            } else if path == "." {
                Problem::bad_request(format!("The body cannot be used: {inner}"))
            } else {
                Problem::bad_request(format!("The body cannot be used at {path}: {inner}"))
            }
        })?;
        de.end()
            .map_err(|_| Problem::bad_request("The body has something after the JSON value"))?;
        Ok(Json(value))
    }
}

/// The signed-in account: from `Authorization: Bearer <token>`, or from the session cookie (then
/// unsafe methods must carry the session's CSRF token in `X-CSRF-Token`). Always checked in the
/// database.
#[derive(Debug, Clone)]
pub struct Signed(pub Account);

impl FromRequestParts<AppState> for Signed {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Problem> {
        let (account, _) = signed_in(parts, state, false).await?;
        Ok(Signed(account))
    }
}

/// The signed-in account, for a route whose only use of it is audited reads through the
/// [`Handle`] that [`Reader::handle`] gives. A bearer token's account may then come from memory:
/// each read confirms, as its audit entry commits, that nothing about the token or account
/// changed since, and reads from the database otherwise (see careplan-store's `cache.rs`).
#[derive(Debug, Clone)]
pub struct Reader {
    pub account: Account,
    credential: Option<Credential>,
}

impl Reader {
    /// The store as this account.
    pub fn handle(&self, state: &AppState) -> Handle {
        let handle = state
            .store
            .handle(self.account.requester(), self.account.actor());
        match &self.credential {
            Some(credential) => handle.with_credential(credential.clone()),
            None => handle,
        }
    }
}

impl FromRequestParts<AppState> for Reader {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Problem> {
        let (account, credential) = signed_in(parts, state, true).await?;
        Ok(Reader {
            account,
            credential,
        })
    }
}

/// The account behind the request's bearer token or session cookie; with `provisional`, a
/// bearer token's account may come from memory, with the credential to check it by.
async fn signed_in(
    parts: &Parts,
    state: &AppState,
    provisional: bool,
) -> Result<(Account, Option<Credential>), Problem> {
    if let Some(auth) = parts.headers.get(header::AUTHORIZATION) {
        let token = auth
            .to_str()
            .ok()
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim)
            .ok_or_else(Problem::unauthorized)?;
        let found = if provisional {
            state
                .store
                .bearer_credential(token)
                .await?
                .map(|(account, credential)| (account, Some(credential)))
        } else {
            state
                .store
                .account_for_token(token)
                .await?
                .map(|account| (account, None))
        };
        return found.ok_or_else(Problem::unauthorized);
    }
    let session = cookie(parts, SESSION_COOKIE).ok_or_else(Problem::unauthorized)?;
    let (account, csrf) = state
        .store
        .account_for_session(&session)
        .await?
        .ok_or_else(Problem::unauthorized)?;
    let safe = matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS);
    if !safe {
        let sent = parts.headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok());
        if !sent.is_some_and(|sent| careplan_store::accounts::same_secret(&csrf, sent)) {
            return Err(Problem::forbidden(
                "The request's security token is missing or wrong: reload the page and try again",
            ));
        }
    }
    Ok((account, None))
}

/// The value of one cookie.
pub fn cookie(parts: &Parts, name: &str) -> Option<String> {
    parts
        .headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

/// A query string, read into `T`; a bad one is answered as problem+json naming the parameter.
#[derive(Debug)]
pub struct Query<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Query<T> {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Problem> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| Query(q.0))
            .map_err(|e| {
                Problem::bad_request(format!("The query cannot be used: {}", e.body_text()))
            })
    }
}
