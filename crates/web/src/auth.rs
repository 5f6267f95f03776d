//! Signing in and out with the same session (and limits) as the JSON API.

use std::net::SocketAddr;

use askama::Template;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::WebState;
use crate::error::{PageError, page, page_with, redirect};
use crate::layout::Chrome;
use crate::session::{self, FormData, SESSION_COOKIE, safe_next};

#[derive(Template)]
#[template(path = "sign_in.html")]
struct SignInPage {
    chrome: Chrome,
    next: String,
    username: String,
    error: Option<String>,
    error_field: &'static str,
    signed_out: bool,
}

#[derive(Debug, Deserialize)]
pub struct SignInQuery {
    #[serde(default)]
    next: Option<String>,
    #[serde(default)]
    signed_out: Option<String>,
}

/// `GET /sign-in`.
pub async fn sign_in_page(
    State(state): State<WebState>,
    headers: HeaderMap,
    Query(q): Query<SignInQuery>,
) -> Result<Response, PageError> {
    if session::current(&state, &headers).await?.is_some() {
        return Ok(redirect(&safe_next(q.next.as_deref())));
    }
    page(&SignInPage {
        chrome: Chrome::plain("Sign in"),
        next: safe_next(q.next.as_deref()),
        username: String::new(),
        error: None,
        error_field: "username",
        signed_out: q.signed_out.is_some(),
    })
}

/// `POST /sign-in`: checks the password (within the sign-in limits), starts a session and goes
/// back to where the user was going.
pub async fn sign_in(
    State(state): State<WebState>,
    request: Request,
) -> Result<Response, PageError> {
    let address = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let body = axum::body::to_bytes(request.into_body(), 64 * 1024)
        .await
        .unwrap_or_else(|_| Bytes::new());
    let form = FormData::parse(&body);
    let username = form.text("username").to_lowercase();
    let password = form.get("password").unwrap_or("").to_owned();
    let next = safe_next(form.get("next"));
    let again = |error: String, field: &'static str, status: StatusCode| {
        page_with(
            status,
            &SignInPage {
                // The title says there is an error, as on every form (NHS pattern).
                chrome: Chrome::plain("Error: Sign in"),
                next: next.clone(),
                username: username.clone(),
                error: Some(error),
                error_field: field,
                signed_out: false,
            },
        )
    };
    if username.is_empty() {
        return again(
            "Enter your username".into(),
            "username",
            StatusCode::UNPROCESSABLE_ENTITY,
        );
    }
    if password.is_empty() {
        return again(
            "Enter your password".into(),
            "password",
            StatusCode::UNPROCESSABLE_ENTITY,
        );
    }
    let now = std::time::Instant::now();
    if let Err(blocked) = state.limiter.check(&username, address, now) {
        return again(
            blocked.to_string(),
            "username",
            StatusCode::TOO_MANY_REQUESTS,
        );
    }
    let Some(account) = state.store.authenticate(&username, &password).await? else {
        state.limiter.record_failure(&username, address, now);
        return again(
            "The username or password is not right".into(),
            "password",
            StatusCode::UNAUTHORIZED,
        );
    };
    state.limiter.record_success(&username);
    let (token, _csrf) = state
        .store
        .create_session(&account.id, state.session_ttl)
        .await?;
    let secure = if state.secure_cookies { "; Secure" } else { "" };
    let cookie = format!(
        "{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
        state.session_ttl.as_secs()
    );
    // A person goes straight to their own plan.
    let to = match (&account.person_id, next.as_str()) {
        (Some(person), "/") => format!("/people/{person}/my-plan"),
        _ => next,
    };
    let mut response = redirect(&to);
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, v);
    }
    Ok(response)
}

/// `POST /sign-out`: ends the session (the form carries the CSRF token) and clears the cookie.
pub async fn sign_out(
    State(state): State<WebState>,
    session: session::Session,
    body: Bytes,
) -> Result<Response, PageError> {
    session.check_csrf(&FormData::parse(&body))?;
    state.store.end_session(&session.token).await?;
    let mut response = redirect("/sign-in?signed_out=1");
    response.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static("careplan_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"),
    );
    Ok(response.into_response())
}
