//! The FHIR R4 (4.0.1) REST endpoint at `/fhir`, JSON only (`application/fhir+json`).
//!
//! The mapping between plans and resources is `careplan-fhir`'s; this module is the REST layer:
//! read, vread, history, search (with `_include` / `_revinclude`), create, update, transaction,
//! `Patient/{id}/$everything`, the per-professional view (`CarePlan/{id}/$performer-view`, CSP-10),
//! and the StructureDefinitions and CodeSystems at the paths of their canonical URLs. Every read
//! and write of plan data goes through the requester-bound store handle, so consent rules,
//! redaction and the audit trail are the JSON API's. Errors are `OperationOutcome`s.
//! What is supported and refused is in `docs/fhir.md`; `/fhir/metadata` states it exactly.

mod audit;
mod binary;
mod capability;
mod read;
mod search;
mod write;

use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use careplan_fhir::{FhirIssue, ResourceKind};
use careplan_model::{Timestamp, VersionNumber};
use careplan_store::StoreError;
use careplan_store::handle::Handle;
use serde_json::{Value, json};

use crate::AppState;
use crate::extract::Reader;

/// The largest transaction Bundle accepted: it may carry attached files inline (base64), and it
/// is read whole, so it has a limit of its own above the service's [`crate::BODY_LIMIT`].
pub const TRANSACTION_LIMIT: usize = 32 * 1024 * 1024;

/// The media type of every response body.
pub(crate) const FHIR_JSON: &str = "application/fhir+json; fhirVersion=4.0";

/// The FHIR endpoint, to be nested at `/fhir`.
pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/",
            get(unsupported_root)
                .post(write::transaction)
                .layer(DefaultBodyLimit::max(TRANSACTION_LIMIT)),
        )
        .route("/metadata", get(capability::metadata))
        .route("/AuditEvent", get(audit::search))
        .route("/AuditEvent/{id}", get(audit::read))
        .route("/Binary/{id}", get(binary::read))
        .route("/{kind}", get(search::search).post(write::create))
        .route("/{kind}/_history", get(read::type_history))
        .route("/{kind}/{id}", get(read::read).put(write::update))
        .route("/{kind}/{id}/_history", get(read::instance_history))
        .route("/{kind}/{id}/_history/{vid}", get(read::vread))
        .route("/{kind}/{id}/{operation}", get(read::operation))
        .fallback(unknown_path)
        .method_not_allowed_fallback(method_not_allowed)
}

/// One issue of an OperationOutcome.
#[derive(Debug, Clone)]
pub(crate) struct Issue {
    pub severity: &'static str,
    pub code: &'static str,
    pub expression: Option<String>,
    pub text: String,
}

impl Issue {
    pub fn error(code: &'static str, text: impl Into<String>) -> Issue {
        Issue {
            severity: "error",
            code,
            expression: None,
            text: text.into(),
        }
    }

    pub fn warning(code: &'static str, text: impl Into<String>) -> Issue {
        Issue {
            severity: "warning",
            ..Issue::error(code, text)
        }
    }

    pub fn at(mut self, expression: impl Into<String>) -> Issue {
        self.expression = Some(expression.into());
        self
    }
}

impl From<&FhirIssue> for Issue {
    fn from(i: &FhirIssue) -> Issue {
        Issue {
            severity: i.severity.as_str(),
            code: i.code.as_str(),
            expression: (!i.expression.is_empty()).then(|| i.expression.clone()),
            text: i.message.clone(),
        }
    }
}

/// The issues as an OperationOutcome resource.
pub(crate) fn outcome(issues: &[Issue]) -> Value {
    let issue: Vec<Value> = issues
        .iter()
        .map(|i| {
            let mut o =
                json!({"severity": i.severity, "code": i.code, "details": {"text": i.text}});
            if let Some(e) = &i.expression {
                o["expression"] = json!([e]);
            }
            o
        })
        .collect();
    json!({"resourceType": "OperationOutcome", "issue": issue})
}

/// An error answered with an OperationOutcome and its HTTP status.
#[derive(Debug)]
pub(crate) struct FhirError {
    pub status: StatusCode,
    pub issues: Vec<Issue>,
}

impl FhirError {
    pub fn new(status: StatusCode, code: &'static str, text: impl Into<String>) -> FhirError {
        FhirError {
            status,
            issues: vec![Issue::error(code, text)],
        }
    }

    pub fn bad_request(text: impl Into<String>) -> FhirError {
        FhirError::new(StatusCode::BAD_REQUEST, "invalid", text)
    }

    pub fn not_found(text: impl Into<String>) -> FhirError {
        FhirError::new(StatusCode::NOT_FOUND, "not-found", text)
    }

    /// The import's issues: 400 when the content is not readable FHIR, 422 when it is but
    /// cannot be held or breaks a rule of the plan.
    pub fn from_import(issues: &[FhirIssue]) -> FhirError {
        let structural = issues
            .iter()
            .all(|i| i.code == careplan_fhir::IssueType::Structure);
        FhirError {
            status: if structural {
                StatusCode::BAD_REQUEST
            } else {
                StatusCode::UNPROCESSABLE_ENTITY
            },
            issues: issues.iter().map(Issue::from).collect(),
        }
    }
}

impl From<StoreError> for FhirError {
    fn from(err: StoreError) -> FhirError {
        let text = err.to_string();
        match err {
            StoreError::NotFound(_) | StoreError::NoSuchVersion { .. } => {
                FhirError::not_found(text)
            }
            StoreError::Conflict { .. } => {
                FhirError::new(StatusCode::PRECONDITION_FAILED, "conflict", text)
            }
            StoreError::Rejected(issues) => FhirError {
                status: StatusCode::UNPROCESSABLE_ENTITY,
                issues: issues
                    .iter()
                    .map(|i| Issue::error("business-rule", i.message.clone()).at(i.path.clone()))
                    .collect(),
            },
            StoreError::DuplicatePerson(_) | StoreError::DuplicateAccount(_) => {
                FhirError::new(StatusCode::CONFLICT, "duplicate", text)
            }
            StoreError::Forbidden(sentence) => {
                FhirError::new(StatusCode::FORBIDDEN, "forbidden", sentence)
            }
            StoreError::NoSuchAccount(_) | StoreError::NoSuchPerson(_) => {
                FhirError::not_found(text)
            }
            // A bearer token taken from memory that the database no longer knows.
            StoreError::Unauthenticated => crate::Problem::unauthorized().into(),
            StoreError::Config(_)
            | StoreError::Corrupt(_)
            | StoreError::Database(_)
            | StoreError::Migrate(_)
            | StoreError::Secret(_)
            | StoreError::Audit(_) => {
                tracing::error!(error = %err, "store failure");
                FhirError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "exception",
                    "The service could not complete this request; nothing was changed",
                )
            }
            other => FhirError::bad_request(other.to_string()),
        }
    }
}

impl From<crate::Problem> for FhirError {
    fn from(p: crate::Problem) -> FhirError {
        let code = match p.status {
            StatusCode::UNAUTHORIZED => "login",
            StatusCode::FORBIDDEN => "forbidden",
            StatusCode::NOT_FOUND => "not-found",
            s if s.is_server_error() => "exception",
            _ => "invalid",
        };
        FhirError::new(p.status, code, p.detail)
    }
}

impl IntoResponse for FhirError {
    fn into_response(self) -> Response {
        fhir_response(self.status, &outcome(&self.issues))
    }
}

pub(crate) type FhirResult<T> = Result<T, FhirError>;

/// A body as `application/fhir+json`.
pub(crate) fn fhir_response(status: StatusCode, body: &Value) -> Response {
    let mut response = (status, serde_json::to_vec(body).unwrap_or_default()).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(FHIR_JSON));
    response
}

/// A resource with its `ETag` and `Last-Modified` (the plan version it belongs to).
pub(crate) fn resource_response(
    status: StatusCode,
    body: &Value,
    version: VersionNumber,
    at: Timestamp,
) -> Response {
    let mut response = fhir_response(status, body);
    let headers = response.headers_mut();
    headers.insert(header::ETAG, etag(version.get()));
    if let Ok(v) = HeaderValue::from_str(&http_date(at)) {
        headers.insert(header::LAST_MODIFIED, v);
    }
    response
}

pub(crate) fn etag(version: u64) -> HeaderValue {
    HeaderValue::from_str(&format!("W/\"{version}\"")).expect("ascii")
}

/// An HTTP date (IMF-fixdate), as `Last-Modified` needs.
pub(crate) fn http_date(at: Timestamp) -> String {
    let format = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    at.datetime().format(&format).unwrap_or_default()
}

/// The signed-in requester's handle; sign-in failures are OperationOutcomes too.
///
/// A bearer token's account may come from memory ([`Reader`]): everything FHIR does with the
/// account goes through this handle, which checks such a sign-in in the database before
/// anything but an audited read, and after any failed look-up, and whose reads confirm it as
/// their audit entries are written. So plans are found with [`Handle::find_plan`], never the
/// store's own, lest a revoked token learn which plans exist.
#[derive(Debug)]
pub(crate) struct Who(pub Handle);

impl FromRequestParts<AppState> for Who {
    type Rejection = FhirError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, FhirError> {
        check_format_of(parts)?;
        let reader = Reader::from_request_parts(parts, state).await?;
        Ok(Who(reader.handle(state)))
    }
}

/// `_format` and `Accept`: JSON is served; XML (or anything else that excludes JSON) is 406.
pub(crate) fn check_format_of(parts: &Parts) -> FhirResult<()> {
    check_format_uri(&parts.uri, &parts.headers)
}

/// [`check_format_of`] for handlers that are not signed in.
pub(crate) fn check_format_uri(uri: &Uri, headers: &HeaderMap) -> FhirResult<()> {
    let refuse = |what: &str| {
        FhirError::new(
            StatusCode::NOT_ACCEPTABLE,
            "not-supported",
            format!("This server speaks FHIR JSON only (application/fhir+json), not {what}"),
        )
    };
    for (k, v) in form_urlencoded_pairs(uri.query().unwrap_or("")) {
        if k == "_format" {
            let v = v.to_ascii_lowercase();
            let json = matches!(
                v.split(';').next().unwrap_or("").trim(),
                "json" | "application/json" | "application/fhir+json"
            );
            if !json {
                return Err(refuse(&v));
            }
        }
    }
    if let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) {
        let accept = accept.to_ascii_lowercase();
        let ok = accept.split(',').any(|t| {
            let t = t.split(';').next().unwrap_or("").trim();
            t == "*/*"
                || t == "application/*"
                || t == "application/json"
                || t == "application/fhir+json"
                || t.is_empty()
        });
        if !ok {
            return Err(refuse(&accept));
        }
    }
    Ok(())
}

/// The query string's parameters, in order (repeats kept: `_include` may repeat).
pub(crate) fn params_of(uri: &Uri) -> Vec<(String, String)> {
    form_urlencoded_pairs(uri.query().unwrap_or(""))
}

/// Decodes `a=b&c=d` (percent-encoding and `+` as space).
pub(crate) fn form_urlencoded_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The server's base URL for `fullUrl`s and links, from the request's Host.
pub(crate) fn base_url(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .filter(|h| {
            h.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b".:-[]".contains(&b))
        })
        .unwrap_or("localhost");
    format!("http://{host}/fhir")
}

/// The resource types this endpoint serves plan data as.
pub(crate) fn plan_kind(name: &str) -> FhirResult<ResourceKind> {
    ResourceKind::parse(name).ok_or_else(|| {
        FhirError::not_found(format!(
            "This server has no resource type “{name}”: it serves {}, StructureDefinition and CodeSystem",
            ResourceKind::ALL.map(|k| k.as_str()).join(", ")
        ))
    })
}

/// The version named by an `If-Match` value (`W/"12"`, `"12"` or `12`).
pub(crate) fn parse_if_match(raw: &str) -> FhirResult<VersionNumber> {
    let raw = raw.trim();
    raw.trim_start_matches("W/")
        .trim_matches('"')
        .parse::<u64>()
        .ok()
        .and_then(|n| VersionNumber::new(n).ok())
        .ok_or_else(|| {
            FhirError::bad_request(format!(
                "If-Match must name one version, such as W/\"12\", not {raw}"
            ))
        })
}

/// `GET /fhir`: the base itself is not a resource.
async fn unsupported_root(_who: Who) -> FhirError {
    FhirError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "not-supported",
        "GET on the FHIR base is not supported: see /fhir/metadata; POST a transaction Bundle here",
    )
}

async fn unknown_path() -> FhirError {
    FhirError::not_found("There is no FHIR interaction at this address: see /fhir/metadata")
}

async fn method_not_allowed() -> FhirError {
    FhirError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "not-supported",
        "This FHIR address does not accept that method: see /fhir/metadata",
    )
}
