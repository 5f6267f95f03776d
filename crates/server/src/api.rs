//! The JSON API under `/api/v1`: people, plans, versions, diffs, commands, releases, the audit
//! trail and sign-in. Every plan read and write goes through the store's requester-bound handle.

use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use careplan_model::{
    Audience, Command, ConsentScope, ItemId, ItemKey, ItemKind, Person, Plan, PlanId, Text,
    Timestamp, VersionNumber,
};
use careplan_store::audit::AuditFilter;
use careplan_store::handle::{Handle, Viewed};
use serde::Deserialize;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::Arc;
use utoipa::IntoParams;

use crate::AppState;
use crate::extract::{Json, Query, Reader, SESSION_COOKIE, Signed, cookie};
use crate::openapi;
use crate::problem::{ApiResult, Problem};

/// The most items a list returns, whatever `limit` asks for.
const MAX_PAGE: u32 = 500;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct Page {
    /// Search by name or NHS number.
    #[serde(default)]
    q: Option<String>,
    /// At most this many (default 50, at most 500).
    #[serde(default)]
    limit: Option<u32>,
    /// Skip this many.
    #[serde(default)]
    offset: Option<u32>,
}

pub(crate) fn handle(state: &AppState, account: &Signed) -> Handle {
    state.store.handle(account.0.requester(), account.0.actor())
}

async fn plan_id(state: &AppState, key: &str) -> ApiResult<PlanId> {
    Ok(state.store.find_plan(key).await?)
}

pub(crate) fn etag(version: VersionNumber) -> HeaderValue {
    HeaderValue::from_str(&format!("W/\"{version}\"")).expect("ascii")
}

/// The version named by `If-Match` (`W/"12"`, `"12"` or `12`); 428 without one.
pub(crate) fn if_match(headers: &HeaderMap) -> ApiResult<VersionNumber> {
    let raw = headers
        .get(header::IF_MATCH)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .ok_or_else(Problem::precondition_required)?;
    let number = raw.trim_start_matches("W/").trim_matches('"');
    number
        .parse::<u64>()
        .ok()
        .and_then(|n| VersionNumber::new(n).ok())
        .ok_or_else(|| {
            Problem::bad_request(format!(
                "If-Match must name one version of the plan, such as W/\"12\", not {raw}"
            ))
        })
}

// ----- people ---------------------------------------------------------------------------------

/// The people the requester may see, by name or NHS number.
#[utoipa::path(
    get,
    path = "/people",
    tag = "people",
    params(Page),
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "A page of the people the requester may see", body = openapi::PeoplePage),
        openapi::Unreadable,
        openapi::SignInRequired,
        openapi::NotAllowed,
    )
)]
pub async fn list_people(
    State(state): State<AppState>,
    account: Signed,
    Query(page): Query<Page>,
) -> ApiResult<Response> {
    let limit = page.limit.unwrap_or(50).clamp(1, MAX_PAGE);
    let offset = page.offset.unwrap_or(0);
    let people = handle(&state, &account)
        .people(page.q.as_deref(), limit + 1, offset)
        .await?;
    let more = people.len() > limit as usize;
    let items: Vec<_> = people.into_iter().take(limit as usize).collect();
    let next = more.then(|| format!("/api/v1/people?limit={limit}&offset={}", offset + limit));
    Ok(Json_(json!({ "items": items, "next": next })).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewPerson {
    person: Person,
}

/// Adds a person with an empty plan; the requester joins their care team.
#[utoipa::path(
    post,
    path = "/people",
    tag = "people",
    request_body = openapi::NewPerson,
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 201, description = "The person and their plan were created", body = openapi::PersonCreated,
            headers(("ETag" = String, description = "The plan's version, W/\"1\""), ("Location" = String, description = "The plan's address"))),
        openapi::Unreadable,
        openapi::SignInRequired,
        openapi::NotAllowedOrNoCsrf,
        (status = 409, description = "The person already exists", body = Problem, content_type = "application/problem+json"),
        openapi::TooLarge,
        openapi::NotJson,
        openapi::BreaksARule,
    )
)]
pub async fn create_person(
    State(state): State<AppState>,
    account: Signed,
    Json(body): Json<NewPerson>,
) -> ApiResult<Response> {
    let committed = handle(&state, &account).create_person(body.person).await?;
    let person_id = committed.plan.details.person_id.to_string();
    let mut response = (
        StatusCode::CREATED,
        Json_(json!({
            "person_id": person_id,
            "plan_id": committed.plan.id,
            "version": committed.version(),
        })),
    )
        .into_response();
    let headers = response.headers_mut();
    headers.insert(header::ETAG, etag(committed.version()));
    if let Ok(location) = HeaderValue::from_str(&format!("/api/v1/people/{person_id}/plan")) {
        headers.insert(header::LOCATION, location);
    }
    Ok(response)
}

// ----- plans ----------------------------------------------------------------------------------

/// A plan as JSON, serialised once per plan, version and withheld set.
fn plan_body(state: &AppState, viewed: &Viewed<Arc<Plan>>, latest: VersionNumber) -> Response {
    let key = crate::json::BodyKey {
        plan: viewed.value.id.clone(),
        version: viewed.value.version,
        latest,
        withheld: viewed.withheld.clone(),
        releases_used: viewed.releases_used.clone(),
    };
    let body = state.bodies.get_or_make(key, &viewed.value);
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}

/// The current version of a plan, as the requester may see it.
#[utoipa::path(
    get,
    path = "/people/{person}/plan",
    tag = "people",
    params(
        ("person" = String, Path, description = "The person: NHS number (spaces allowed), person id or plan id"),
    ),
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "The current plan, with the sections withheld from the reader", body = openapi::Plan,
            headers(("ETag" = String, description = "The plan's version, to send back in If-Match"))),
        openapi::SignInRequired,
        openapi::NotAllowed,
        openapi::NoSuchVersion,
    )
)]
pub async fn current_plan(
    State(state): State<AppState>,
    account: Reader,
    Path(person): Path<String>,
) -> ApiResult<Response> {
    let viewed = account.handle(&state).current_by_key(&person).await?;
    let version = viewed.value.version;
    let mut response = plan_body(&state, &viewed, version);
    response.headers_mut().insert(header::ETAG, etag(version));
    Ok(response)
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ItemsQuery {
    /// Include archived items too (default: only current ones).
    #[serde(default)]
    archived: Option<bool>,
    /// At most this many (default 100, at most 500).
    #[serde(default)]
    limit: Option<u32>,
    /// Skip this many.
    #[serde(default)]
    offset: Option<u32>,
}

/// The kind named in a path, or a 404 that lists the kinds there are.
fn item_kind(kind: &str) -> ApiResult<ItemKind> {
    ItemKind::parse(kind).map_err(|_| {
        let kinds: Vec<&str> = ItemKind::ALL.iter().map(|k| k.as_str()).collect();
        Problem::not_found(format!(
            "“{kind}” is not a kind of plan item; the kinds are: {}",
            kinds.join(", ")
        ))
    })
}

fn item_json(key: &ItemKey, item: careplan_model::ItemRef<'_>) -> Value {
    json!({
        "id": key.id,
        "kind": key.kind.as_str(),
        "item": serde_json::to_value(item).unwrap_or(Value::Null),
    })
}

/// The items of one kind in the current plan: strengths, needs, goals, agreements, capacity
/// assessments, consent preferences… A section the person has withheld from the reader has no
/// items here, and `withheld` names it.
#[utoipa::path(
    get,
    path = "/people/{person}/plan/items/{kind}",
    tag = "people",
    params(
        ("person" = String, Path, description = "The person: NHS number (spaces allowed), person id or plan id"),
        ("kind" = String, Path, description = "The kind of item: details, person, capacity_support, funding, care_team, strengths, needs, concerns, problems, goals, actions, outcomes, progress, suggestions, comments, attachments, hyperlinks, agreements, capacity_assessments, best_interest_decisions, consent"),
        ItemsQuery,
    ),
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "A page of the items of that kind", body = openapi::ItemsPage,
            headers(("ETag" = String, description = "The plan's version"))),
        openapi::Unreadable,
        openapi::SignInRequired,
        openapi::NotAllowed,
        (status = 404, description = "No such person, plan or kind of item", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list_items(
    State(state): State<AppState>,
    account: Reader,
    Path((person, kind)): Path<(String, String)>,
    Query(query): Query<ItemsQuery>,
) -> ApiResult<Response> {
    let kind = item_kind(&kind)?;
    // A section withheld from the reader has no items here, and `withheld` says so.
    let viewed = account.handle(&state).current_by_key(&person).await?;
    let plan = &viewed.value;
    let archived = query.archived.unwrap_or(false);
    let limit = query.limit.unwrap_or(100).clamp(1, MAX_PAGE) as usize;
    let offset = query.offset.unwrap_or(0) as usize;
    let matching: Vec<Value> = plan
        .item_keys()
        .into_iter()
        .filter(|key| key.kind == kind)
        .filter_map(|key| plan.get(&key).map(|item| (key, item)))
        .filter(|(_, item)| archived || item.item_meta().is_active())
        .skip(offset)
        .take(limit + 1)
        .map(|(key, item)| item_json(&key, item))
        .collect();
    let more = matching.len() > limit;
    let items: Vec<Value> = matching.into_iter().take(limit).collect();
    let next = more.then(|| {
        format!(
            "/api/v1/people/{person}/plan/items/{}?archived={archived}&limit={limit}&offset={}",
            kind.as_str(),
            offset + limit
        )
    });
    let mut response = Json_(json!({
        "kind": kind.as_str(),
        "section": kind.section(),
        "version": plan.version,
        "items": items,
        "withheld": viewed.withheld,
        "next": next,
    }))
    .into_response();
    response
        .headers_mut()
        .insert(header::ETAG, etag(plan.version));
    Ok(response)
}

/// One item of the current plan, archived or not.
#[utoipa::path(
    get,
    path = "/people/{person}/plan/items/{kind}/{id}",
    tag = "people",
    params(
        ("person" = String, Path, description = "The person: NHS number (spaces allowed), person id or plan id"),
        ("kind" = String, Path, description = "The kind of item, as in the list of items"),
        ("id" = String, Path, description = "The item's id"),
    ),
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "The item", body = openapi::PlanItem,
            headers(("ETag" = String, description = "The plan's version"))),
        openapi::SignInRequired,
        openapi::NotAllowed,
        (status = 404, description = "No such person, plan, kind of item or item, or the item's section is withheld from the reader", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn plan_item(
    State(state): State<AppState>,
    account: Reader,
    Path((person, kind, id)): Path<(String, String, String)>,
) -> ApiResult<Response> {
    let kind = item_kind(&kind)?;
    let viewed = account.handle(&state).current_by_key(&person).await?;
    let plan = &viewed.value;
    let withheld = kind
        .section()
        .filter(|section| viewed.withheld.contains(section));
    let missing = || {
        let what = kind.as_str().replace('_', " ");
        Problem::not_found(match withheld {
            Some(section) => format!(
                "This plan has no {what} with id “{id}” that you may see: the person has withheld the “{}” section from you",
                section.title()
            ),
            None => format!("This plan has no {what} with id “{id}”"),
        })
    };
    let item_id = ItemId::parse(&id).map_err(|_| missing())?;
    let key = ItemKey::new(kind, item_id);
    let item = plan.get(&key).ok_or_else(missing)?;
    let mut body = item_json(&key, item);
    body["version"] = json!(plan.version);
    let mut response = Json_(body).into_response();
    response
        .headers_mut()
        .insert(header::ETAG, etag(plan.version));
    Ok(response)
}

/// The goal `id` of a viewed plan and its progress records (oldest first), or a 404 that says
/// when the goals section is withheld from the reader.
fn goal_progress<'p>(
    viewed: &'p Viewed<Arc<Plan>>,
    id: &str,
) -> ApiResult<(
    &'p careplan_model::Goal,
    Vec<(&'p ItemId, &'p careplan_model::ProgressRecord)>,
)> {
    let plan = &viewed.value;
    let goal = ItemId::parse(id)
        .ok()
        .and_then(|goal_id| plan.goals.get(&goal_id))
        .ok_or_else(|| {
            Problem::not_found(if viewed.withheld.contains(&careplan_model::Section::Goals) {
                format!(
                    "This plan has no goal with id “{id}” that you may see: the person has withheld the “Goals and hopes” section from you"
                )
            } else {
                format!("This plan has no goal with id “{id}”")
            })
        })?;
    let mut records: Vec<_> = plan
        .progress
        .iter()
        .filter(|(_, r)| r.meta.is_active() && r.goal.as_str() == id)
        .collect();
    records.sort_by_key(|(rid, r)| (r.date, r.meta.added.version, (*rid).clone()));
    Ok((goal, records))
}

/// The chart of a goal's progress: the records on the scale of the most recent one (a goal's
/// progress is normally all on one scale; records on another are listed, not drawn).
fn progress_series(
    records: &[(&ItemId, &careplan_model::ProgressRecord)],
) -> ApiResult<careplan_content::ProgressSeries> {
    let scale = records
        .last()
        .map_or(careplan_model::ProgressScale::GoalAttainment, |(_, r)| {
            r.progress.scale()
        });
    careplan_content::ProgressSeries::from_records(
        scale,
        records
            .iter()
            .map(|(_, r)| *r)
            .filter(|r| r.progress.scale() == scale),
    )
    .map_err(|e| Problem::bad_request(e.to_string()))
}

/// Progress towards a goal: every record (date, value on its scale with its label, note as
/// written and as safe HTML), the same data as an accessible HTML table, and the chart's address.
#[utoipa::path(
    get,
    path = "/people/{person}/plan/goals/{id}/progress",
    tag = "people",
    params(
        ("person" = String, Path, description = "The person: NHS number (spaces allowed), person id or plan id"),
        ("id" = String, Path, description = "The goal's id"),
    ),
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "The goal's progress records, oldest first", body = openapi::GoalProgress),
        openapi::SignInRequired,
        openapi::NotAllowed,
        openapi::NoSuchGoal,
    )
)]
pub async fn goal_progress_json(
    State(state): State<AppState>,
    account: Reader,
    Path((person, id)): Path<(String, String)>,
) -> ApiResult<Response> {
    let viewed = account.handle(&state).current_by_key(&person).await?;
    let (goal, records) = goal_progress(&viewed, &id)?;
    let series = progress_series(&records)?;
    let scale = series.scale();
    let items: Vec<Value> = records
        .iter()
        .map(|(rid, r)| {
            let value = i32::from(r.progress.value());
            json!({
                "id": rid,
                "date": r.date,
                "scale": r.progress.scale(),
                "value": value,
                "label": careplan_content::ChartScale::from(r.progress.scale()).label(value),
                "note": r.note,
                "note_html": r.note.as_ref().map(|n| careplan_content::render_markdown(n.as_str())),
            })
        })
        .collect();
    let caption = format!("Progress towards “{}”", goal.description);
    let mut response = Json_(json!({
        "goal": id,
        "description": goal.description,
        "scale": scale.name(),
        "records": items,
        "table_html": careplan_content::progress_table(&caption, &series),
        "chart": format!("/api/v1/people/{person}/plan/goals/{id}/progress.svg"),
        "version": viewed.value.version,
    }))
    .into_response();
    response
        .headers_mut()
        .insert(header::ETAG, etag(viewed.value.version));
    Ok(response)
}

/// The chart of progress towards a goal, as an SVG image with a title and a description for
/// screen readers (the same data as a table is in the progress document).
#[utoipa::path(
    get,
    path = "/people/{person}/plan/goals/{id}/progress.svg",
    tag = "people",
    params(
        ("person" = String, Path, description = "The person: NHS number (spaces allowed), person id or plan id"),
        ("id" = String, Path, description = "The goal's id"),
    ),
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "The progress chart", content_type = "image/svg+xml"),
        openapi::SignInRequired,
        openapi::NotAllowed,
        openapi::NoSuchGoal,
    )
)]
pub async fn goal_progress_svg(
    State(state): State<AppState>,
    account: Reader,
    Path((person, id)): Path<(String, String)>,
) -> ApiResult<Response> {
    let viewed = account.handle(&state).current_by_key(&person).await?;
    let (goal, records) = goal_progress(&viewed, &id)?;
    let series = progress_series(&records)?;
    let svg = careplan_content::progress_svg(
        &format!("Progress towards “{}”", goal.description),
        &series,
    );
    let mut response = (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("image/svg+xml; charset=utf-8"),
            ),
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'"),
            ),
        ],
        svg,
    )
        .into_response();
    response
        .headers_mut()
        .insert(header::ETAG, etag(viewed.value.version));
    Ok(response)
}

/// One version of a plan, as the requester may see it.
#[utoipa::path(
    get,
    path = "/people/{person}/plan/versions/{number}",
    tag = "people",
    params(
        ("person" = String, Path, description = "The person: NHS number (spaces allowed), person id or plan id"),
        ("number" = u64, Path, description = "The version number"),
    ),
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "The plan as it was at that version", body = openapi::Plan),
        openapi::Unreadable,
        openapi::SignInRequired,
        openapi::NotAllowed,
        openapi::NoSuchVersion,
    )
)]
pub async fn plan_version(
    State(state): State<AppState>,
    account: Reader,
    Path((person, number)): Path<(String, u64)>,
) -> ApiResult<Response> {
    let id = account.handle(&state).find_plan(&person).await?;
    let h = account.handle(&state);
    let (viewed, latest) = h.version_and_latest(&id, number).await?;
    Ok(plan_body(&state, &viewed, latest))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct HistoryPage {
    /// Versions after this one.
    #[serde(default)]
    after: Option<u64>,
    /// At most this many (default 100, at most 500).
    #[serde(default)]
    limit: Option<u32>,
}

/// The history of a plan: who changed what, when and why.
#[utoipa::path(
    get,
    path = "/people/{person}/plan/versions",
    tag = "people",
    params(
        ("person" = String, Path, description = "The person: NHS number (spaces allowed), person id or plan id"),
        HistoryPage,
    ),
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "A page of the plan's versions", body = openapi::VersionsPage),
        openapi::Unreadable,
        openapi::SignInRequired,
        openapi::NotAllowed,
        openapi::NoSuchVersion,
    )
)]
pub async fn plan_history(
    State(state): State<AppState>,
    account: Reader,
    Path(person): Path<String>,
    Query(page): Query<HistoryPage>,
) -> ApiResult<Response> {
    let id = account.handle(&state).find_plan(&person).await?;
    let limit = page.limit.unwrap_or(100).clamp(1, MAX_PAGE);
    let after = page.after.unwrap_or(0);
    let viewed = account
        .handle(&state)
        .history(&id, after, limit + 1)
        .await?;
    let more = viewed.value.len() > limit as usize;
    let items: Vec<_> = viewed.value.into_iter().take(limit as usize).collect();
    let next = more
        .then(|| {
            items.last().map(|v| {
                format!(
                    "/api/v1/people/{person}/plan/versions?after={}&limit={limit}",
                    v.number
                )
            })
        })
        .flatten();
    Ok(Json_(json!({ "items": items, "withheld": viewed.withheld, "next": next })).into_response())
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DiffQuery {
    /// The earlier version.
    from: u64,
    /// The later version.
    to: u64,
}

/// What changed in a plan between two versions.
#[utoipa::path(
    get,
    path = "/people/{person}/plan/diff",
    tag = "people",
    params(
        ("person" = String, Path, description = "The person: NHS number (spaces allowed), person id or plan id"),
        DiffQuery,
    ),
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "What changed between the two versions", body = openapi::PlanDiff),
        openapi::Unreadable,
        openapi::SignInRequired,
        openapi::NotAllowed,
        openapi::NoSuchVersion,
    )
)]
pub async fn plan_diff(
    State(state): State<AppState>,
    account: Reader,
    Path(person): Path<String>,
    Query(q): Query<DiffQuery>,
) -> ApiResult<Response> {
    let id = account.handle(&state).find_plan(&person).await?;
    let viewed = account.handle(&state).diff(&id, q.from, q.to).await?;
    Ok(Json_(json!({ "diff": viewed.value, "withheld": viewed.withheld })).into_response())
}

/// Changes a plan: applies commands, all or none, on top of the If-Match version.
#[utoipa::path(
    post,
    path = "/people/{person}/plan/commands",
    tag = "people",
    params(
        ("person" = String, Path, description = "The person: NHS number (spaces allowed), person id or plan id"),
        ("If-Match" = String, Header, description = "The version the change is based on, as in the ETag: W/\"12\""),
    ),
    request_body = openapi::Commands,
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "The commands were applied, one version each", body = openapi::CommandsApplied,
            headers(("ETag" = String, description = "The plan's new version"))),
        openapi::Unreadable,
        openapi::SignInRequired,
        openapi::NotAllowedOrNoCsrf,
        openapi::NoSuchVersion,
        openapi::Stale,
        openapi::TooLarge,
        openapi::NotJson,
        openapi::BreaksARule,
        openapi::IfMatchMissing,
    )
)]
pub async fn apply_commands(
    State(state): State<AppState>,
    account: Signed,
    Path(person): Path<String>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> ApiResult<Response> {
    let base = if_match(&headers)?;
    let (commands, reason) = read_commands(body)?;
    if commands
        .iter()
        .any(|c| matches!(c, Command::AddAttachment { .. }))
    {
        // The record must name a file that is stored and was checked: it comes with the file.
        return Err(Problem::bad_request(
            "Attach a file by uploading it: POST it to /api/v1/people/{person}/plan/attachments",
        ));
    }
    let id = plan_id(&state, &person).await?;
    let committed = handle(&state, &account)
        .apply(&id, base, commands, reason)
        .await?;
    let last = committed.last().expect("at least one");
    let versions: Vec<u64> = committed.iter().map(|c| c.version().get()).collect();
    let mut response =
        Json_(json!({ "plan_id": id, "versions": versions, "version": last.version() }))
            .into_response();
    response
        .headers_mut()
        .insert(header::ETAG, etag(last.version()));
    Ok(response)
}

/// Reads `{"commands": [...], "reason": ...}` or a single command, naming the failing field.
fn read_commands(body: Value) -> ApiResult<(Vec<Command>, Option<Text>)> {
    let read = |v: Value, at: String| {
        serde_path_to_error::deserialize::<_, Command>(v).map_err(|e| {
            let path = e.path().to_string();
            let place = if path == "." {
                at.clone()
            } else {
                format!("{at}{path}")
            };
            Problem::bad_request(format!(
                "The command at {place} cannot be used: {}",
                e.inner()
            ))
        })
    };
    match body {
        Value::Object(mut map) if map.contains_key("commands") => {
            let reason =
                match map.remove("reason") {
                    None | Some(Value::Null) => None,
                    Some(Value::String(s)) => Some(Text::new(&s).map_err(|e| {
                        Problem::bad_request(format!("The reason is not valid: {e}"))
                    })?),
                    Some(_) => return Err(Problem::bad_request("The reason must be text")),
                };
            let Some(Value::Array(items)) = map.remove("commands") else {
                return Err(Problem::bad_request("commands must be a list of commands"));
            };
            if let Some(extra) = map.keys().next() {
                return Err(Problem::bad_request(format!(
                    "Unknown field “{extra}”: send commands and, optionally, reason"
                )));
            }
            if items.is_empty() {
                return Err(Problem::bad_request(
                    "commands is empty, so there is nothing to change",
                ));
            }
            let commands = items
                .into_iter()
                .enumerate()
                .map(|(i, v)| read(v, format!("commands[{i}]")))
                .collect::<ApiResult<Vec<_>>>()?;
            Ok((commands, reason))
        }
        other => Ok((vec![read(other, String::new())?], None)),
    }
}

// ----- releases and the audit trail -------------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewRelease {
    scope: ConsentScope,
    audience: Audience,
    reason: Text,
    expires_at: Timestamp,
}

/// Releases part of a plan to an audience, for a reason, until it expires.
#[utoipa::path(
    post,
    path = "/people/{person}/releases",
    tag = "releases",
    params(
        ("person" = String, Path, description = "The person: NHS number (spaces allowed), person id or plan id"),
    ),
    request_body = openapi::NewRelease,
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 201, description = "The release, as recorded", body = Object),
        openapi::Unreadable,
        openapi::SignInRequired,
        openapi::NotAllowedOrNoCsrf,
        openapi::NoSuchVersion,
        openapi::TooLarge,
        openapi::NotJson,
        openapi::BreaksARule,
    )
)]
pub async fn create_release(
    State(state): State<AppState>,
    account: Signed,
    Path(person): Path<String>,
    Json(body): Json<NewRelease>,
) -> ApiResult<Response> {
    let id = plan_id(&state, &person).await?;
    let release = handle(&state, &account)
        .release(&id, body.scope, body.audience, body.reason, body.expires_at)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json_(serde_json::to_value(release).unwrap_or(Value::Null)),
    )
        .into_response())
}

/// The releases of a plan.
#[utoipa::path(
    get,
    path = "/people/{person}/releases",
    tag = "releases",
    params(
        ("person" = String, Path, description = "The person: NHS number (spaces allowed), person id or plan id"),
    ),
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "The releases of the plan", body = openapi::ReleasesPage),
        openapi::SignInRequired,
        openapi::NotAllowed,
        openapi::NoSuchVersion,
    )
)]
pub async fn list_releases(
    State(state): State<AppState>,
    account: Signed,
    Path(person): Path<String>,
) -> ApiResult<Response> {
    let id = plan_id(&state, &person).await?;
    let releases = handle(&state, &account).releases(&id).await?;
    Ok(Json_(json!({ "items": releases })).into_response())
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Only the records about this person's plan (NHS number, person id or plan id).
    #[serde(default)]
    person: Option<String>,
    /// Records after this sequence number.
    #[serde(default)]
    after: Option<u64>,
    /// At most this many (default 100, at most 500).
    #[serde(default)]
    limit: Option<u32>,
}

/// The audit trail: all of it for a data controller; for the person and their representative,
/// the entries about their own plan (who read it, and every use of a release).
#[utoipa::path(
    get,
    path = "/audit",
    tag = "audit",
    params(AuditQuery),
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "Audit records, oldest first", body = openapi::AuditPage),
        openapi::Unreadable,
        openapi::SignInRequired,
        openapi::NotAllowed,
        openapi::NoSuchVersion,
    )
)]
pub async fn audit_trail(
    State(state): State<AppState>,
    account: Signed,
    Query(q): Query<AuditQuery>,
) -> ApiResult<Response> {
    let plan = match &q.person {
        Some(p) => Some(plan_id(&state, p).await?),
        None => None,
    };
    match may_read_audit(&state, &account.0.requester(), plan.as_ref()).await {
        Ok(()) => {}
        Err(AuditRefusal::OwnPlanOnly) => {
            return Err(Problem::forbidden(
                "You may see the audit trail of your own plan only: add ?person= with your NHS number",
            ));
        }
        Err(AuditRefusal::Role) => {
            return Err(Problem::forbidden(
                "Only a data controller, or the person about their own plan, may see the audit trail",
            ));
        }
        Err(AuditRefusal::Store(e)) => return Err(e.into()),
    }
    let limit = q.limit.unwrap_or(100).clamp(1, MAX_PAGE);
    let records = state
        .store
        .audit_records(AuditFilter {
            plan_id: plan,
            after_seq: q.after.unwrap_or(0),
            limit,
            ..AuditFilter::default()
        })
        .await?;
    Ok(Json_(json!({ "items": records })).into_response())
}

/// Why an account may not read (part of) the audit trail.
pub(crate) enum AuditRefusal {
    /// The person or their representative asked for more than their own plan's entries.
    OwnPlanOnly,
    /// The role reads no audit trail.
    Role,
    Store(careplan_store::StoreError),
}

/// Who may read the audit trail, for the JSON API and FHIR alike: a data controller (or the
/// system) any of it, `plan` given or not; the person or their representative only the entries
/// about their own plan, which `plan` must be; anyone else none.
pub(crate) async fn may_read_audit(
    state: &AppState,
    requester: &careplan_model::Requester,
    plan: Option<&PlanId>,
) -> Result<(), AuditRefusal> {
    use careplan_model::Role;
    match requester.role {
        Role::DataController | Role::System => Ok(()),
        Role::Person | Role::Representative => {
            let (Some(plan), Some(person)) = (plan, &requester.person) else {
                return Err(AuditRefusal::OwnPlanOnly);
            };
            // A person has one plan: theirs is the one their person id finds.
            match state.store.find_plan(person.as_str()).await {
                Ok(own) if own == *plan => Ok(()),
                Ok(_) | Err(careplan_store::StoreError::NotFound(_)) => {
                    Err(AuditRefusal::OwnPlanOnly)
                }
                Err(e) => Err(AuditRefusal::Store(e)),
            }
        }
        _ => Err(AuditRefusal::Role),
    }
}

// ----- sign-in --------------------------------------------------------------------------------

/// A username and password.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Login {
    username: String,
    password: String,
}

/// Signs in with a username and password: sets the session cookie (HttpOnly, SameSite=Strict,
/// Secure unless the service runs on plain loopback HTTP) and returns the CSRF token that
/// unsafe requests must echo in `X-CSRF-Token`.
#[utoipa::path(
    post,
    path = "/session",
    tag = "session",
    request_body = Login,
    responses(
        (status = 200, description = "Signed in; the session cookie is set", body = openapi::SignedIn,
            headers(("Set-Cookie" = String, description = "The session cookie, HttpOnly and SameSite=Strict"))),
        openapi::Unreadable,
        (status = 401, description = "The username or password is not right", body = Problem, content_type = "application/problem+json"),
        openapi::TooLarge,
        openapi::NotJson,
        (status = 429, description = "Too many failed sign-ins; try again later", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Json(body): Json<Login>,
) -> ApiResult<Response> {
    let username = body.username.trim().to_lowercase();
    let address = Some(peer.ip());
    if let Err(blocked) = state
        .limiter
        .check(&username, address, std::time::Instant::now())
    {
        return Err(Problem::too_many_requests(blocked.to_string()));
    }
    let Some(account) = state.store.authenticate(&username, &body.password).await? else {
        state
            .limiter
            .record_failure(&username, address, std::time::Instant::now());
        return Err(Problem::new(
            StatusCode::UNAUTHORIZED,
            "/problems/sign-in-failed",
            "Sign-in failed",
            "The username or password is not right",
        ));
    };
    state.limiter.record_success(&username);
    let (session, csrf) = state
        .store
        .create_session(&account.id, state.session_ttl)
        .await?;
    let secure = if state.secure_cookies { "; Secure" } else { "" };
    let cookie_value = format!(
        "{SESSION_COOKIE}={session}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
        state.session_ttl.as_secs()
    );
    let mut response = Json_(json!({ "account": account, "csrf_token": csrf })).into_response();
    if let Ok(v) = HeaderValue::from_str(&cookie_value) {
        response.headers_mut().insert(header::SET_COOKIE, v);
    }
    Ok(response)
}

/// Signs out: ends the session and clears the cookie.
#[utoipa::path(
    delete,
    path = "/session",
    tag = "session",
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 204, description = "Signed out; the session cookie is cleared"),
        openapi::SignInRequired,
        (status = 403, description = "The request's CSRF token is missing or wrong", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn logout(
    State(state): State<AppState>,
    _account: Signed,
    request: axum::extract::Request,
) -> ApiResult<Response> {
    let (parts, _) = request.into_parts();
    if let Some(session) = cookie(&parts, SESSION_COOKIE) {
        state.store.end_session(&session).await?;
    }
    let mut response = StatusCode::NO_CONTENT.into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static("careplan_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"),
    );
    Ok(response)
}

/// The signed-in account.
#[utoipa::path(
    get,
    path = "/me",
    tag = "session",
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "The signed-in account", body = openapi::Account),
        openapi::SignInRequired,
    )
)]
pub async fn me(account: Signed) -> ApiResult<Response> {
    Ok(Json_(serde_json::to_value(&account.0).unwrap_or(Value::Null)).into_response())
}

/// axum's JSON response (our `Json` is the extractor).
pub use axum::Json as Json_;
