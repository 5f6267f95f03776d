//! Pages for what went wrong: sign-in needed (a redirect), not allowed, not found, and a
//! service problem whose details stay in the log.

use askama::Template;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use careplan_store::StoreError;

use crate::layout::Chrome;

#[derive(Debug)]
pub enum PageError {
    /// Not signed in: go to the sign-in page, then back to this path.
    SignIn(String),
    Forbidden(String),
    NotFound(String),
    BadRequest(String),
    Internal(String),
}

impl From<StoreError> for PageError {
    fn from(e: StoreError) -> PageError {
        match e {
            StoreError::NotFound(_) | StoreError::NoSuchVersion { .. } => {
                PageError::NotFound(e.to_string())
            }
            StoreError::Forbidden(s) => PageError::Forbidden(s),
            StoreError::Unauthenticated => PageError::SignIn("/".into()),
            StoreError::Rejected(_) | StoreError::Conflict { .. } => {
                PageError::BadRequest(e.to_string())
            }
            other => PageError::Internal(other.to_string()),
        }
    }
}

impl From<askama::Error> for PageError {
    fn from(e: askama::Error) -> PageError {
        PageError::Internal(format!("a page could not be rendered: {e}"))
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    chrome: Chrome,
    heading: String,
    message: String,
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let (status, heading, message) = match self {
            PageError::SignIn(back) => {
                let to = format!("/sign-in?next={}", crate::format::url_encode(&back));
                return redirect(&to);
            }
            PageError::Forbidden(m) => (StatusCode::FORBIDDEN, "You cannot see or do this", m),
            PageError::NotFound(m) => (StatusCode::NOT_FOUND, "Page not found", m),
            PageError::BadRequest(m) => (StatusCode::BAD_REQUEST, "There is a problem", m),
            PageError::Internal(m) => {
                tracing::error!(error = %m, "page failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Sorry, there is a problem with the service",
                    "Try again later. What you entered has not been saved unless the plan shows it."
                        .to_owned(),
                )
            }
        };
        let page = ErrorPage {
            chrome: Chrome::plain(heading),
            heading: heading.to_owned(),
            message,
        };
        match page.render() {
            Ok(html) => (status, html_headers(), html).into_response(),
            Err(_) => (status, heading.to_owned()).into_response(),
        }
    }
}

/// What a page may load: only this service's own files; no inline scripts or styles.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; img-src 'self' data:; media-src 'self'; style-src 'self'; script-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'";

/// Headers for every page: HTML, not cached (plans are personal), not framed, own files only.
pub fn html_headers() -> [(header::HeaderName, HeaderValue); 5] {
    [
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        ),
        (
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        ),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
        (
            header::REFERRER_POLICY,
            HeaderValue::from_static("same-origin"),
        ),
    ]
}

/// A rendered page.
pub fn page(t: &impl Template) -> Result<Response, PageError> {
    Ok((html_headers(), t.render()?).into_response())
}

/// A rendered page with a status (e.g. 422 for a form with errors).
pub fn page_with(status: StatusCode, t: &impl Template) -> Result<Response, PageError> {
    Ok((status, html_headers(), t.render()?).into_response())
}

/// "See other": after a form post, or to sign in.
pub fn redirect(to: &str) -> Response {
    let mut r = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}
