//! The application: state, the router, health and readiness, metrics, and serving with a
//! graceful shutdown.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use careplan_blobs::BlobStore;
use careplan_store::Store;
use careplan_store::accounts::LoginLimiter;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use serde_json::json;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api;
use crate::attachments;
use crate::openapi::{self, ApiDoc};
use crate::problem::Problem;

/// What every handler can reach. Cloned for every request, so it is one shared pointer.
#[derive(Debug, Clone)]
pub struct AppState(Arc<Shared>);

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// The state behind [`AppState`].
#[derive(Debug)]
pub struct Shared {
    pub store: Store,
    /// The bytes of attachments (CSP-2), stored once per content.
    pub blobs: BlobStore,
    pub limiter: Arc<LoginLimiter>,
    /// Mark session cookies `Secure` (on unless the service listens on plain loopback HTTP).
    pub secure_cookies: bool,
    pub session_ttl: Duration,
    /// Plan bodies already serialised, by plan, version and what the reader may not see.
    pub bodies: Arc<crate::json::PlanBodies>,
}

impl AppState {
    pub fn new(store: Store, blobs: BlobStore, secure_cookies: bool) -> AppState {
        AppState(Arc::new(Shared {
            store,
            blobs,
            limiter: Arc::new(LoginLimiter::default()),
            secure_cookies,
            session_ttl: Duration::from_secs(8 * 60 * 60),
            bodies: Arc::default(),
        }))
    }
}

/// The largest request body accepted (plans are small; attachments have their own limits).
pub const BODY_LIMIT: usize = 1024 * 1024;

/// Every route of the service, each registered with `routes!` from its handler's
/// `#[utoipa::path]`, so the router and the OpenAPI document cannot disagree. Register routes
/// here only this way (never with a plain `.route`): `tests/openapi.rs` checks that every route
/// served is in the document.
pub(crate) fn router() -> OpenApiRouter<AppState> {
    // One `routes!` per path: it mounts all its handlers on every path they name.
    let api = OpenApiRouter::new()
        .routes(routes!(openapi::openapi_json))
        .routes(routes!(api::login, api::logout))
        .routes(routes!(api::me))
        .routes(routes!(api::list_people, api::create_person))
        .routes(routes!(api::current_plan))
        .routes(routes!(api::list_items))
        .routes(routes!(api::plan_item))
        .routes(routes!(api::goal_progress_json))
        .routes(routes!(api::goal_progress_svg))
        .routes(routes!(api::plan_history))
        .routes(routes!(api::plan_version))
        .routes(routes!(api::plan_diff))
        .routes(routes!(api::apply_commands))
        .routes(routes!(attachments::upload_attachment))
        .routes(routes!(attachments::attachment_content))
        .routes(routes!(api::list_releases, api::create_release))
        .routes(routes!(api::audit_trail));
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(health))
        .routes(routes!(ready))
        .routes(routes!(metrics))
        .nest("/api/v1", api)
}

/// Every route the service serves, as (method, path template), from the router `app()` builds.
pub fn routes() -> Vec<(String, String)> {
    openapi::operations(router().get_openapi())
}

/// The routes of the service.
pub fn app(state: AppState) -> Router {
    let (router, _) = router().split_for_parts();
    // The web interface's pages and assets (careplan-web), on the same store, limiter and sessions.
    let web = careplan_web::router(careplan_web::WebState::new(
        state.store.clone(),
        state.blobs.clone(),
        state.limiter.clone(),
        state.secure_cookies,
        state.session_ttl,
    ));
    router
        // FHIR R4 at /fhir: a plain router, outside the JSON API's OpenAPI document.
        .nest("/fhir", crate::fhir::router())
        .merge(web)
        // After routing, so the matched route template names the metric, not the raw path.
        .route_layer(middleware::from_fn(observe))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(state)
}

/// Serves until `shutdown` resolves, then finishes the requests under way (every acknowledged
/// write is already committed) and closes the store.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let store = state.store.clone();
    let service = app(state).into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, service)
        .with_graceful_shutdown(shutdown)
        .await?;
    store.close().await;
    Ok(())
}

/// Liveness: the process answers.
#[utoipa::path(
    get,
    path = "/health",
    tag = "service",
    responses((status = 200, description = "The process answers", body = openapi::Status))
)]
async fn health() -> Response {
    axum::Json(json!({ "status": "ok" })).into_response()
}

/// Readiness: the database answers.
#[utoipa::path(
    get,
    path = "/ready",
    tag = "service",
    responses(
        (status = 200, description = "The database answers", body = openapi::Status),
        (status = 503, description = "The database cannot be reached", body = Problem, content_type = "application/problem+json"),
    )
)]
async fn ready(State(state): State<AppState>) -> Response {
    match state.store.ping().await {
        Ok(()) => axum::Json(json!({ "status": "ready" })).into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "not ready");
            Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "/problems/not-ready",
                "Not ready",
                "The database cannot be reached",
            )
            .into_response()
        }
    }
}

fn recorder() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        // One global recorder per process; if another is already installed, we still render ours.
        let _ = metrics::set_global_recorder(recorder);
        handle
    })
}

/// Prometheus text exposition.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "service",
    responses((status = 200, description = "Request counts and durations by route and status", body = String, content_type = "text/plain; version=0.0.4"))
)]
async fn metrics() -> Response {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        recorder().render(),
    )
        .into_response()
}

/// Counts and times every request by route and status, and logs it.
async fn observe(request: Request, next: Next) -> Response {
    recorder();
    let started = Instant::now();
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    let elapsed = started.elapsed();
    metrics::counter!("careplan_http_requests_total", "method" => method.to_string(), "route" => route.clone(), "status" => status.clone()).increment(1);
    metrics::histogram!("careplan_http_request_duration_seconds", "route" => route.clone())
        .record(elapsed.as_secs_f64());
    tracing::info!(%method, %route, %status, elapsed_ms = elapsed.as_secs_f64() * 1000.0, "request");
    response
}

/// Nothing at this address: a page for a browser, problem+json for everything else (and
/// always under `/api` and `/fhir`).
async fn not_found(uri: axum::http::Uri, headers: axum::http::HeaderMap) -> Response {
    let api = uri.path().starts_with("/api/") || uri.path().starts_with("/fhir");
    let wants_html = headers
        .get(axum::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"));
    if wants_html && !api {
        careplan_web::page_not_found()
    } else {
        Problem::not_found("There is nothing at this address").into_response()
    }
}

async fn method_not_allowed() -> Problem {
    Problem::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "/problems/method-not-allowed",
        "Method not allowed",
        "This address does not accept that method",
    )
}
