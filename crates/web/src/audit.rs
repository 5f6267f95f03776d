//! For a data controller: releasing all or part of a restricted plan with a reason and an
//! expiry, and the audit trail (which the person can also read for their own plan).

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use careplan_model::{Audience, ConsentScope, PlanId, Role, Section, Text, Timestamp, parse_date};
use careplan_store::StoreError;
use careplan_store::audit::AuditFilter;
use serde::Deserialize;

use crate::WebState;
use crate::caseload::capitalise;
use crate::error::{PageError, page, page_with, redirect};
use crate::fields::{Field, FormPage, Kind};
use crate::format;
use crate::forms::{ROLES, SECTIONS};
use crate::layout::Chrome;
use crate::own::{ReleaseRow, audience_text, scope_text};
use crate::session::{FormData, Session};

#[derive(Template)]
#[template(path = "releases.html")]
struct ReleasesPage {
    chrome: Chrome,
    base: String,
    name: String,
    releases: Vec<ReleaseRow>,
    saved: bool,
}

#[derive(Debug, Deserialize)]
pub struct ReleasesQuery {
    #[serde(default)]
    new: Option<String>,
    #[serde(default)]
    saved: Option<String>,
}

fn only_data_controllers(session: &Session) -> Result<(), PageError> {
    if matches!(session.role(), Role::DataController | Role::System) {
        Ok(())
    } else {
        Err(PageError::Forbidden(
            "Only a data controller may release a restricted record".into(),
        ))
    }
}

fn release_fields() -> Vec<Field> {
    let mut roles = ROLES.to_vec();
    roles.retain(|(v, _)| *v != "data_controller");
    vec![
        Field::new(
            "scope",
            "Which part of the plan?",
            Kind::Select(
                SECTIONS
                    .iter()
                    .map(|(v, l)| ((*v).to_owned(), (*l).to_owned()))
                    .collect(),
            ),
        ),
        Field::new(
            "audience_kind",
            "Released to",
            Kind::Radios(vec![
                ("role".into(), "Everyone in a role".into(), String::new()),
                (
                    "organisation".into(),
                    "Everyone from one organisation".into(),
                    String::new(),
                ),
            ]),
        )
        .value("role"),
        Field::new(
            "role",
            "Which role?",
            Kind::Select(
                roles
                    .iter()
                    .map(|(v, l)| ((*v).to_owned(), (*l).to_owned()))
                    .collect(),
            ),
        ),
        Field::new(
            "organisation",
            "Which organisation? (if released to an organisation)",
            Kind::Text("nhsuk-u-width-two-thirds"),
        ),
        Field::new("reason", "The legitimate reason for the release", Kind::Textarea)
            .hint("For example: the person is unconscious and cannot consent; their care team needs their concerns to plan discharge. The person will see this."),
        Field::new("expires", "Release until", Kind::Date)
            .hint("The release ends at the start of this day. For example, 1 9 2026"),
    ]
}

fn release_form(
    session: &Session,
    base: &str,
    fields: Vec<Field>,
    general: Vec<String>,
) -> FormPage {
    let errors = !general.is_empty() || fields.iter().any(|f| f.error.is_some());
    FormPage {
        chrome: Chrome::signed_in(
            if errors { "Error: Release part of a restricted plan" } else { "Release part of a restricted plan" },
            session,
            "people",
        ),
        caption: String::new(),
        heading: "Release part of a restricted plan".into(),
        intro: vec![
            "A release overrides the person's choices about who may see their plan, for a legitimate reason, until a date. Every use of it is recorded in the audit trail, and the person can see the release and each use.".into(),
        ],
        action: format!("{base}/releases"),
        csrf: session.csrf.clone(),
        base_version: 0,
        fields,
        general_errors: general,
        stale: None,
        submit: "Release".into(),
        warning: true,
        back_href: format!("{base}/releases"),
        back_text: "Back to releases".into(),
    }
}

async fn plan_and_name(
    state: &WebState,
    person: &str,
) -> Result<(PlanId, String, String), PageError> {
    let plan_id = state.store.find_plan(person).await?;
    let plan = state.store.current(&plan_id).await?;
    Ok((
        plan_id,
        format!("/people/{}", plan.details.person_id),
        plan.person.person.display_name(),
    ))
}

/// `GET /people/{person}/releases` (`?new` for the form).
pub async fn releases_page(
    State(state): State<WebState>,
    session: Session,
    Path(person): Path<String>,
    Query(q): Query<ReleasesQuery>,
) -> Result<Response, PageError> {
    only_data_controllers(&session)?;
    let (plan_id, base, name) = plan_and_name(&state, &person).await?;
    if q.new.is_some() {
        return page(&release_form(&session, &base, release_fields(), Vec::new()));
    }
    let now = time::OffsetDateTime::now_utc();
    let releases = session
        .handle(&state)
        .releases(&plan_id)
        .await?
        .into_iter()
        .rev()
        .map(|r| ReleaseRow {
            part: scope_text(&r.scope),
            who: audience_text(&r.audience),
            reason: r.reason.to_string(),
            by: r.granted_by.to_string(),
            from: format::when(r.granted_at),
            until: format::when(r.expires_at),
            active: r.expires_at.datetime() > now,
        })
        .collect();
    page(&ReleasesPage {
        chrome: Chrome::signed_in(
            &format!("Releases of the plan for {name}"),
            &session,
            "people",
        ),
        base,
        name,
        releases,
        saved: q.saved.is_some(),
    })
}

/// `POST /people/{person}/releases`.
pub async fn release_submit(
    State(state): State<WebState>,
    session: Session,
    Path(person): Path<String>,
    body: Bytes,
) -> Result<Response, PageError> {
    let form = FormData::parse(&body);
    session.check_csrf(&form)?;
    only_data_controllers(&session)?;
    let (plan_id, base, _) = plan_and_name(&state, &person).await?;
    let mut fields = release_fields();
    for f in &mut fields {
        f.fill_from(&form);
    }
    let value = |fields: &[Field], name: &str| {
        fields
            .iter()
            .find(|f| f.name == name)
            .map(|f| f.value.trim().to_owned())
            .unwrap_or_default()
    };
    let mut errors: Vec<(&str, String)> = Vec::new();
    let scope = match value(&fields, "scope").as_str() {
        "whole_plan" => Some(ConsentScope::WholePlan),
        other => serde_json::from_value::<Section>(serde_json::Value::String(other.to_owned()))
            .ok()
            .map(ConsentScope::Section),
    };
    if scope.is_none() {
        errors.push(("scope", "Select which part of the plan to release".into()));
    }
    let audience = match value(&fields, "audience_kind").as_str() {
        "role" => serde_json::from_value::<Role>(serde_json::Value::String(value(&fields, "role")))
            .ok()
            .map(Audience::Role),
        "organisation" => Text::new(&value(&fields, "organisation"))
            .ok()
            .map(Audience::Organisation),
        _ => None,
    };
    if audience.is_none() {
        let field = if value(&fields, "audience_kind") == "organisation" {
            "organisation"
        } else {
            "audience_kind"
        };
        errors.push((field, "Select who the plan is released to".into()));
    }
    let reason = Text::new(&value(&fields, "reason")).ok();
    if reason.is_none() {
        errors.push((
            "reason",
            "Enter the legitimate reason for the release".into(),
        ));
    }
    let expires_raw = value(&fields, "expires");
    let expires = if expires_raw.is_empty() {
        errors.push(("expires", "Enter the date the release ends".into()));
        None
    } else {
        match parse_date(&expires_raw) {
            Ok(d) => Some(Timestamp::from_datetime(d.midnight().assume_utc())),
            Err(_) => {
                errors.push((
                    "expires",
                    "The end date must be a real date, for example 1 9 2026".into(),
                ));
                None
            }
        }
    };
    if errors.is_empty()
        && let (Some(scope), Some(audience), Some(reason), Some(expires)) =
            (scope, audience, reason, expires)
    {
        match session
            .handle(&state)
            .release(&plan_id, scope, audience, reason, expires)
            .await
        {
            Ok(_) => return Ok(redirect(&format!("{base}/releases?saved=1"))),
            Err(StoreError::Rejected(issues)) => {
                for i in issues {
                    let field = if i.path.contains("expires") {
                        "expires"
                    } else {
                        "reason"
                    };
                    errors.push((field, capitalise(&i.message)));
                }
            }
            Err(e) => return Err(e.into()),
        }
    }
    for (name, message) in errors {
        if let Some(f) = fields.iter_mut().find(|f| f.name == name) {
            f.error.get_or_insert(message);
        }
    }
    page_with(
        StatusCode::UNPROCESSABLE_ENTITY,
        &release_form(&session, &base, fields, Vec::new()),
    )
}

#[derive(Debug, Clone)]
pub struct AuditRow {
    pub seq: u64,
    pub at: String,
    pub who: String,
    pub role: String,
    pub what: String,
    pub allowed: bool,
    pub version: String,
    pub detail: String,
    pub release: String,
}

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage {
    chrome: Chrome,
    base: String,
    name: String,
    rows: Vec<AuditRow>,
    own: bool,
    older: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct AuditQuery {
    /// Entries before this sequence number (paging back).
    #[serde(default)]
    before: Option<u64>,
}

fn action_text(action: &str) -> String {
    match action {
        "read_plan" => "Read the plan".into(),
        "read_version" => "Read an earlier version".into(),
        "read_history" => "Read the history".into(),
        "read_versions" => "Read several versions".into(),
        "read_diff" => "Compared two versions".into(),
        "create_plan" => "Started the plan".into(),
        "write" => "Changed the plan".into(),
        "release_created" => "Released a restricted record".into(),
        "release_used" => "Used a release".into(),
        "read_releases" => "Read the releases".into(),
        other => capitalise(&other.replace('_', " ")),
    }
}

/// `GET /people/{person}/audit`: who did what with the plan, newest first.
pub async fn audit_page(
    State(state): State<WebState>,
    session: Session,
    Path(person): Path<String>,
    Query(q): Query<AuditQuery>,
) -> Result<Response, PageError> {
    let (plan_id, base, name) = plan_and_name(&state, &person).await?;
    let own = match session.role() {
        Role::DataController | Role::System => false,
        Role::Person | Role::Representative => {
            let plan_person = state.store.current(&plan_id).await?.details.person_id;
            if session.account.person_id.as_ref() != Some(&plan_person) {
                return Err(PageError::Forbidden(
                    "You may see the audit trail of your own plan only".into(),
                ));
            }
            true
        }
        _ => {
            return Err(PageError::Forbidden(
                "Only a data controller, or the person about their own plan, may see the audit trail"
                    .into(),
            ));
        }
    };
    const PAGE: u32 = 100;
    let mut records = state
        .store
        .audit_records(AuditFilter {
            plan_id: Some(plan_id),
            newest_first: true,
            limit: 10_000,
            ..AuditFilter::default()
        })
        .await?;
    if let Some(before) = q.before {
        records.retain(|r| r.seq < before);
    }
    let more = records.len() > PAGE as usize;
    records.truncate(PAGE as usize);
    let older = more
        .then(|| {
            records
                .last()
                .map(|r| format!("{base}/audit?before={}", r.seq))
        })
        .flatten();
    let rows = records
        .into_iter()
        .map(|r| AuditRow {
            seq: r.seq,
            at: format::when_text(&r.at),
            who: r.actor_name,
            role: capitalise(&r.actor_role.replace('_', " ")),
            what: action_text(&r.action),
            allowed: r.outcome == "allowed",
            version: r.version.map(|v| v.to_string()).unwrap_or_default(),
            detail: if r.action == "write" || r.action == "create_plan" {
                capitalise(&r.detail.replace('_', " "))
            } else {
                r.detail
            },
            release: r.override_release.unwrap_or_default(),
        })
        .collect();
    page(&AuditPage {
        chrome: Chrome::signed_in(
            if own {
                "Who has looked at the plan"
            } else {
                "Audit trail"
            },
            &session,
            if own { "audit" } else { "people" },
        ),
        base,
        name,
        rows,
        own,
        older,
    })
}
