//! Who is signed in (the API's session cookie), the CSRF token every form carries, and form
//! bodies read as ordered name–value pairs (repeated names kept, for checkboxes).

use axum::extract::FromRequestParts;
use axum::http::HeaderMap;
use axum::http::header;
use axum::http::request::Parts;
use careplan_model::Role;
use careplan_store::accounts::{Account, same_secret};
use careplan_store::handle::Handle;

use crate::WebState;
use crate::error::PageError;

/// The name of the session cookie, shared with the JSON API.
pub const SESSION_COOKIE: &str = "careplan_session";

/// A signed-in browser session.
#[derive(Debug, Clone)]
pub struct Session {
    pub account: Account,
    /// The session's CSRF token, put in every form as the hidden field `csrf_token`.
    pub csrf: String,
    /// The session cookie's value (to end it on sign-out).
    pub token: String,
}

impl Session {
    /// The store as this account.
    pub fn handle(&self, state: &WebState) -> Handle {
        state
            .store
            .handle(self.account.requester(), self.account.actor())
    }

    pub fn role(&self) -> Role {
        self.account.role
    }

    /// True for the person and their representative or carer: they get the plain-language view.
    pub fn is_person_side(&self) -> bool {
        matches!(
            self.account.role,
            Role::Person | Role::Representative | Role::Carer
        )
    }

    /// Checks the CSRF token a form sent.
    pub fn check_csrf(&self, form: &FormData) -> Result<(), PageError> {
        match form.get("csrf_token") {
            Some(sent) if same_secret(&self.csrf, sent) => Ok(()),
            _ => Err(PageError::Forbidden(
                "This form's security token is missing or out of date: go back, reload the page and try again".into(),
            )),
        }
    }
}

/// The value of one cookie.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

/// The session behind the request's cookie, if it is live.
pub async fn current(state: &WebState, headers: &HeaderMap) -> Result<Option<Session>, PageError> {
    let Some(token) = cookie(headers, SESSION_COOKIE) else {
        return Ok(None);
    };
    Ok(state
        .store
        .account_for_session(&token)
        .await?
        .map(|(account, csrf)| Session {
            account,
            csrf,
            token,
        }))
}

/// A page that needs a signed-in user: without one, the browser goes to the sign-in page and
/// comes back afterwards.
impl FromRequestParts<WebState> for Session {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &WebState) -> Result<Self, PageError> {
        match current(state, &parts.headers).await? {
            Some(session) => Ok(session),
            None => {
                let back = parts
                    .uri
                    .path_and_query()
                    .map_or("/", |p| p.as_str())
                    .to_owned();
                Err(PageError::SignIn(back))
            }
        }
    }
}

/// A form body (`application/x-www-form-urlencoded`), in order, repeated names kept.
#[derive(Debug, Clone, Default)]
pub struct FormData(pub Vec<(String, String)>);

impl FormData {
    pub fn parse(body: &[u8]) -> FormData {
        FormData(
            form_urlencoded::parse(body)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The first value of `name`, trimmed, or "" when absent.
    pub fn text(&self, name: &str) -> String {
        self.get(name).unwrap_or("").trim().to_owned()
    }

    /// Every value of `name` (checkboxes).
    pub fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .collect()
    }
}

/// A local path to go back to after signing in: only paths on this site.
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n.to_owned(),
        _ => "/".to_owned(),
    }
}
