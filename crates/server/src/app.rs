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
use axum::routing::{get, post};
use careplan_store::Store;
use careplan_store::accounts::LoginLimiter;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use serde_json::json;

use crate::api;
use crate::problem::Problem;

/// What every handler can reach.
#[derive(Debug, Clone)]
pub struct AppState {
    pub store: Store,
    pub limiter: Arc<LoginLimiter>,
    /// Mark session cookies `Secure` (on unless the service listens on plain loopback HTTP).
    pub secure_cookies: bool,
    pub session_ttl: Duration,
}

impl AppState {
    pub fn new(store: Store, secure_cookies: bool) -> AppState {
        AppState {
            store,
            limiter: Arc::new(LoginLimiter::default()),
            secure_cookies,
            session_ttl: Duration::from_secs(8 * 60 * 60),
        }
    }
}

/// The largest request body accepted (plans are small; attachments have their own limits).
pub const BODY_LIMIT: usize = 1024 * 1024;

/// The routes of the service.
pub fn app(state: AppState) -> Router {
    let api = Router::new()
        .route("/session", post(api::login).delete(api::logout))
        .route("/me", get(api::me))
        .route("/people", get(api::list_people).post(api::create_person))
        .route("/people/{person}/plan", get(api::current_plan))
        .route("/people/{person}/plan/versions", get(api::plan_history))
        .route(
            "/people/{person}/plan/versions/{number}",
            get(api::plan_version),
        )
        .route("/people/{person}/plan/diff", get(api::plan_diff))
        .route("/people/{person}/plan/commands", post(api::apply_commands))
        .route(
            "/people/{person}/releases",
            get(api::list_releases).post(api::create_release),
        )
        .route("/audit", get(api::audit_trail));
    Router::new()
        .route("/health", get(health))
        .route("/ready", get(ready))
        .route("/metrics", get(metrics))
        .nest("/api/v1", api)
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
async fn health() -> Response {
    axum::Json(json!({ "status": "ok" })).into_response()
}

/// Readiness: the database answers.
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

async fn not_found() -> Problem {
    Problem::not_found("There is nothing at this address")
}

async fn method_not_allowed() -> Problem {
    Problem::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "/problems/method-not-allowed",
        "Method not allowed",
        "This address does not accept that method",
    )
}
