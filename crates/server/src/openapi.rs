//! The OpenAPI 3.1 document, generated from the `#[utoipa::path]` of every handler as `app()`
//! registers it, and served at `/api/v1/openapi.json`; plus the schemas of the wire shapes.
//!
//! The model crate does not depend on utoipa, so bodies holding model types are described here
//! as objects with a description and an example.

use std::sync::OnceLock;

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

use crate::extract::SESSION_COOKIE;

/// The fixed part of the document: info, tags and security schemes; `app::router()` adds the
/// paths and their schemas.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "careplan",
        description = "The careplan HTTP service: people, their care and support plans, \
                       versions and diffs, commands, consent-based releases and the audit trail. \
                       Errors are RFC 9457 `application/problem+json`.",
        license(name = "MIT OR Apache-2.0")
    ),
    modifiers(&Security),
    tags(
        (name = "service", description = "Health, readiness, metrics and this document"),
        (name = "session", description = "Signing in and out"),
        (name = "people", description = "People and their plans"),
        (name = "releases", description = "Consent-based releases of a plan"),
        (name = "audit", description = "The audit trail"),
    )
)]
#[derive(Debug)]
pub struct ApiDoc;

/// Adds the two ways to sign in: a bearer token, or the session cookie set by `POST /session`.
#[derive(Debug)]
struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("An API token: `Authorization: Bearer cpt_…`"))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                SESSION_COOKIE,
                "The session cookie set by POST /api/v1/session; unsafe requests must also send \
                 the session's CSRF token in X-CSRF-Token",
            ))),
        );
    }
}

/// The whole document, as generated from the router.
pub fn document() -> utoipa::openapi::OpenApi {
    crate::app::router().into_openapi()
}

/// Every (method, path) the document describes, methods in upper case, in path order.
pub fn operations(doc: &utoipa::openapi::OpenApi) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (path, item) in &doc.paths.paths {
        let methods = [
            ("GET", &item.get),
            ("PUT", &item.put),
            ("POST", &item.post),
            ("DELETE", &item.delete),
            ("OPTIONS", &item.options),
            ("HEAD", &item.head),
            ("PATCH", &item.patch),
            ("TRACE", &item.trace),
            ("QUERY", &item.query),
        ];
        for (method, operation) in methods {
            if operation.is_some() {
                out.push((method.to_owned(), path.clone()));
            }
        }
        for method in item.additional_operations.keys() {
            out.push((method.to_ascii_uppercase(), path.clone()));
        }
    }
    out
}

/// This document.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "service",
    responses((status = 200, description = "The OpenAPI 3.1 document of this service", body = Object, content_type = "application/json"))
)]
pub async fn openapi_json() -> Response {
    static JSON: OnceLock<String> = OnceLock::new();
    let body = JSON.get_or_init(|| document().to_json().unwrap_or_default());
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body.as_str(),
    )
        .into_response()
}

// ----- error responses shared by many routes ----------------------------------------------------

/// Declares, for each name, a one-response type for `responses(…)` of `#[utoipa::path]`: the
/// status and description of an RFC 9457 problem that many routes can answer with.
macro_rules! problem_responses {
    ($($(#[$doc:meta])* $name:ident = $status:literal, $description:literal;)*) => {$(
        $(#[$doc])*
        #[derive(Debug, utoipa::IntoResponses)]
        #[response(status = $status, description = $description, content_type = "application/problem+json")]
        pub struct $name(pub crate::Problem);
    )*};
}

problem_responses! {
    /// 400: the request could not be read.
    Unreadable = 400, "The request could not be read: a bad query, path or body, naming the field";
    /// 401: no valid bearer token or session.
    SignInRequired = 401, "Sign-in required: no valid bearer token or session";
    /// 403: no consent or role for the request.
    NotAllowed = 403, "Not allowed: no consent or role for this";
    /// 403: no consent or role, or a missing CSRF token on a session's write.
    NotAllowedOrNoCsrf = 403, "Not allowed: no consent or role for this, or a missing CSRF token";
    /// 404: no such person, plan or version.
    NoSuchVersion = 404, "No such person, plan or version";
    /// 404: no such goal, or its section withheld.
    NoSuchGoal = 404, "No such person, plan or goal, or the goals section is withheld from the reader";
    /// 412: a write based on an old version.
    Stale = 412, "The plan has changed since the If-Match version; current_version says which it is now";
    /// 413: a body over the limit.
    TooLarge = 413, "The body is larger than the service accepts";
    /// 415: a body that is not JSON.
    NotJson = 415, "The body is not JSON";
    /// 422: a change the plan's rules refuse.
    BreaksARule = 422, "The change breaks a rule of the plan; issues names each";
    /// 428: a write without If-Match.
    IfMatchMissing = 428, "If-Match is missing";
}

// ----- schemas ----------------------------------------------------------------------------------

/// Whether the service is up (`ok`) or ready (`ready`).
#[derive(Debug, ToSchema)]
#[schema(example = json!({"status": "ok"}))]
pub struct Status {
    pub status: String,
}

/// A signed-in account.
#[derive(Debug, ToSchema)]
#[schema(example = json!({
    "id": "0f8fad5b-d9cb-469f-a165-70867728950e", "username": "nurse", "display_name": "nurse",
    "role": "practitioner", "organisation": "Community Nursing", "disabled": false
}))]
pub struct Account {
    pub id: String,
    pub username: String,
    pub display_name: String,
    /// person, representative, carer, practitioner, data_controller or system.
    pub role: String,
    /// For a person, representative or carer account: the NHS number of the person.
    pub person_id: Option<String>,
    pub organisation: Option<String>,
    pub disabled: bool,
}

/// Signed in: the account, and the CSRF token that unsafe requests must echo in `X-CSRF-Token`.
#[derive(Debug, ToSchema)]
pub struct SignedIn {
    pub account: Account,
    pub csrf_token: String,
}

/// A person to add; the requester joins their care team.
#[derive(Debug, ToSchema)]
#[schema(example = json!({"person": {"given_name": "Ada", "family_name": "Lovelace",
    "date_of_birth": "1950-12-10", "nhs_number": "943 476 5919"}}))]
pub struct NewPerson {
    /// The person's details: names, date of birth and NHS number.
    #[schema(value_type = Object)]
    pub person: serde_json::Value,
}

/// A person added, with their new (empty) plan.
#[derive(Debug, ToSchema)]
#[schema(example = json!({"person_id": "9434765919", "plan_id": "plan-…", "version": 1}))]
pub struct PersonCreated {
    pub person_id: String,
    pub plan_id: String,
    pub version: u64,
}

/// A page of people; `next` is the address of the next page, if there is one.
#[derive(Debug, ToSchema)]
pub struct PeoplePage {
    #[schema(value_type = Vec<Object>)]
    pub items: Vec<serde_json::Value>,
    pub next: Option<String>,
}

/// A plan as the reader may see it: every item by kind and id, the sections withheld from the
/// reader, and the releases used to show it.
#[derive(Debug, ToSchema)]
#[schema(example = json!({
    "plan_id": "plan-…", "person_id": "9434765919", "version": 2, "latest_version": 2,
    "last_updated": "2026-01-05T10:00:00Z", "withheld": [], "releases_used": [],
    "items": {"need": {"need-1": {"description": "To get out more"}}}
}))]
pub struct Plan {
    pub plan_id: String,
    pub person_id: String,
    pub version: u64,
    pub latest_version: u64,
    pub last_updated: String,
    pub withheld: Vec<String>,
    pub releases_used: Vec<String>,
    /// Items by kind, then by id (single items, such as the person's details, by kind only).
    #[schema(value_type = Object)]
    pub items: serde_json::Value,
}

/// A page of plan versions (who changed what, when and why).
#[derive(Debug, ToSchema)]
pub struct VersionsPage {
    #[schema(value_type = Vec<Object>)]
    pub items: Vec<serde_json::Value>,
    pub withheld: Vec<String>,
    pub next: Option<String>,
}

/// What changed between two versions.
#[derive(Debug, ToSchema)]
pub struct PlanDiff {
    #[schema(value_type = Object)]
    pub diff: serde_json::Value,
    pub withheld: Vec<String>,
}

/// Commands to apply in one go, with an optional reason; a single command object is accepted
/// too.
#[derive(Debug, ToSchema)]
#[schema(example = json!({"commands": [
    {"type": "add_need", "id": "need-1", "description": "To get out more"}
], "reason": "First visit"}))]
pub struct Commands {
    /// Each command is an object whose `type` names it, such as `add_need` or `add_goal`.
    #[schema(value_type = Vec<Object>)]
    pub commands: Vec<serde_json::Value>,
    pub reason: Option<String>,
}

/// The versions the commands made.
#[derive(Debug, ToSchema)]
#[schema(example = json!({"plan_id": "plan-…", "versions": [2, 3], "version": 3}))]
pub struct CommandsApplied {
    pub plan_id: String,
    pub versions: Vec<u64>,
    pub version: u64,
}

/// A release of part of a plan to an audience, for a reason, until it expires.
#[derive(Debug, ToSchema)]
pub struct NewRelease {
    /// Which sections of the plan are released.
    #[schema(value_type = Object)]
    pub scope: serde_json::Value,
    /// To whom: an organisation or an account.
    #[schema(value_type = Object)]
    pub audience: serde_json::Value,
    pub reason: String,
    /// RFC 3339.
    pub expires_at: String,
}

/// The releases of a plan.
#[derive(Debug, ToSchema)]
pub struct ReleasesPage {
    #[schema(value_type = Vec<Object>)]
    pub items: Vec<serde_json::Value>,
}

/// Audit records, oldest first.
#[derive(Debug, ToSchema)]
pub struct AuditPage {
    #[schema(value_type = Vec<Object>)]
    pub items: Vec<serde_json::Value>,
}

/// The items of one kind in a plan (current ones unless `archived=true`), as the reader may see
/// them.
#[derive(Debug, ToSchema)]
#[schema(example = json!({
    "kind": "needs", "section": "needs", "version": 7,
    "items": [{"id": "need-1", "kind": "needs", "item": {"description": "To get out more"}}],
    "withheld": [], "next": null
}))]
pub struct ItemsPage {
    pub kind: String,
    pub section: Option<String>,
    pub version: u64,
    #[schema(value_type = Vec<Object>)]
    pub items: Vec<serde_json::Value>,
    pub withheld: Vec<String>,
    pub next: Option<String>,
}

/// One item of a plan, with the plan version it was read at.
#[derive(Debug, ToSchema)]
#[schema(example = json!({"id": "need-1", "kind": "needs", "version": 7, "item": {"description": "To get out more"}}))]
pub struct PlanItem {
    pub id: String,
    pub kind: String,
    pub version: u64,
    #[schema(value_type = Object)]
    pub item: serde_json::Value,
}

/// Progress towards a goal: its records oldest first, the same data as an accessible HTML
/// table, and the address of the SVG chart.
#[derive(Debug, ToSchema)]
pub struct GoalProgress {
    pub goal: String,
    pub description: String,
    /// The scale the chart is drawn on: that of the most recent record.
    pub scale: String,
    #[schema(value_type = Vec<Object>)]
    pub records: Vec<serde_json::Value>,
    pub table_html: String,
    pub chart: String,
    pub version: u64,
}
