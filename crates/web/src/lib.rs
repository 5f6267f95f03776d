//! The careplan web interface: server-rendered pages in the NHS.UK design system, for
//! practitioners, the person and their representative, and data controllers.
//!
//! Pages are askama templates (checked when the crate compiles) and work without JavaScript.
//! Every plan read and write goes through [`careplan_store::Handle`], so consent, releases and
//! the audit trail apply here exactly as they do to the JSON API and FHIR. Sign-in uses the same
//! session cookie as the API (`careplan_session`); every form post carries the session's CSRF
//! token in a hidden field.
//!
//! The NHS.UK design system (`nhsuk-frontend`) is installed from the npm registry by `build.rs`
//! and embedded in the binary; see [`assets`].

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use careplan_blobs::BlobStore;
use careplan_store::Store;
use careplan_store::accounts::LoginLimiter;

pub mod assets;
mod audit;
mod auth;
mod caseload;
mod error;
mod fields;
mod format;
mod forms;
mod history;
mod layout;
mod own;
mod plan;
mod schedule;
mod session;
mod upload;

pub use session::SESSION_COOKIE;

/// The "page not found" page, for a browser that asked for an address nothing answers (the
/// server's fallback uses it when the request prefers HTML; API clients get problem+json).
pub fn page_not_found() -> axum::response::Response {
    use axum::response::IntoResponse;
    error::PageError::NotFound(
        "There is nothing at this address. Check it, or start again from your caseload.".into(),
    )
    .into_response()
}

/// What the pages need: the store, the sign-in limiter shared with the JSON API (so failures
/// count once wherever they happen), and how sessions are made.
#[derive(Debug, Clone)]
pub struct WebState(Arc<Inner>);

#[derive(Debug)]
pub struct Inner {
    pub store: Store,
    /// Where attached files are kept (the same store as the JSON API's uploads).
    pub blobs: BlobStore,
    pub limiter: Arc<LoginLimiter>,
    /// Mark session cookies `Secure` (on unless the service listens on plain loopback HTTP).
    pub secure_cookies: bool,
    pub session_ttl: Duration,
}

impl std::ops::Deref for WebState {
    type Target = Inner;

    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl WebState {
    pub fn new(
        store: Store,
        blobs: BlobStore,
        limiter: Arc<LoginLimiter>,
        secure_cookies: bool,
        session_ttl: Duration,
    ) -> WebState {
        WebState(Arc::new(Inner {
            store,
            blobs,
            limiter,
            secure_cookies,
            session_ttl,
        }))
    }
}

/// Every page and asset of the web interface. The paths do not overlap the JSON API
/// (`/api/v1`), FHIR (`/fhir`) or the service routes (`/health`, `/ready`, `/metrics`), so the
/// server merges this router into its own. Generic over the outer router's state, which the
/// pages do not use.
pub fn router<S: Clone + Send + Sync + 'static>(state: WebState) -> Router<S> {
    // An upload may be as large as the blob store accepts, plus the form's other fields; the
    // store counts the file itself against its limit as it streams.
    let upload_limit = usize::try_from(state.blobs.max_upload_bytes())
        .unwrap_or(usize::MAX)
        .saturating_add(64 * 1024);
    Router::new()
        .route("/", get(caseload::home))
        .route("/sign-in", get(auth::sign_in_page).post(auth::sign_in))
        .route("/sign-out", post(auth::sign_out))
        .route("/people", get(caseload::caseload))
        .route(
            "/people/new",
            get(caseload::new_person_page).post(caseload::new_person),
        )
        .route("/people/{person}", get(plan::plan_page))
        .route("/people/{person}/print", get(plan::print_page))
        .route("/people/{person}/history", get(history::history_page))
        .route("/people/{person}/versions/{n}", get(history::version_page))
        .route("/people/{person}/diff", get(history::diff_page))
        .route(
            "/people/{person}/change/{form}",
            get(forms::form_page).post(forms::form_submit),
        )
        .route("/people/{person}/my-plan", get(own::own_page))
        .route("/people/{person}/sharing", get(own::sharing_page))
        .route(
            "/people/{person}/releases",
            get(audit::releases_page).post(audit::release_submit),
        )
        .route("/people/{person}/audit", get(audit::audit_page))
        .route(
            "/people/{person}/schedule",
            get(schedule::schedule_page).post(schedule::schedule_add),
        )
        .route(
            "/people/{person}/schedule/remove",
            post(schedule::schedule_remove),
        )
        .route(
            "/people/{person}/attach",
            get(upload::attach_page)
                .post(upload::attach_submit)
                .layer(DefaultBodyLimit::max(upload_limit)),
        )
        .route("/assets/{*path}", get(assets::serve))
        .with_state(state)
}
