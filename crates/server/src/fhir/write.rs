//! Create, update and transaction: FHIR resources mapped onto the model's commands, applied
//! through the requester's handle (so every rule, consent restriction and audit entry holds).
//!
//! The mapping is `careplan-fhir`'s importer: the incoming resources are put into a Bundle with
//! the plan's current resources (so references to existing items resolve), the importer turns it
//! into the commands that would build that plan, and the commands about the incoming resources
//! are kept — an add for a new item, the matching edit for an existing one, new comments, and
//! archiving or restoring. Everything the model cannot hold is refused by the importer with 422
//! naming the element; nothing is dropped silently. Several commands are applied in one
//! `Handle::apply`: all or nothing.

use std::collections::BTreeSet;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use careplan_blobs::BlobStore;
use careplan_fhir::{FhirIssue, ResourceKind, commands_from_bundle, resource, resources};
use careplan_model::{
    Change, Command, ItemId, Plan, PlanId, SuggestionStatus, Target, VersionNumber,
};
use careplan_store::attach::CarriedError;
use careplan_store::handle::Handle;
use serde_json::{Value, json};

use crate::AppState;

use super::{
    FhirError, FhirResult, Issue, Who, base_url, etag, fhir_response, outcome, parse_if_match,
    plan_kind, resource_response,
};

/// The types that can be created and updated.
pub(crate) const WRITABLE: [ResourceKind; 6] = [
    ResourceKind::Patient,
    ResourceKind::CarePlan,
    ResourceKind::Goal,
    ResourceKind::Condition,
    ResourceKind::Observation,
    ResourceKind::Task,
];

/// The body as JSON: 415 unless it is JSON, 413 when too large, 400 when it is not JSON.
fn body_json(headers: &HeaderMap, body: Result<Bytes, BytesRejection>) -> FhirResult<Value> {
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| {
            let ct = ct
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            ct == "application/fhir+json" || ct == "application/json"
        });
    if !json {
        return Err(FhirError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "not-supported",
            "Send the resource as FHIR JSON, with Content-Type: application/fhir+json",
        ));
    }
    let bytes = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            FhirError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too-costly",
                format!(
                    "The body is larger than this server accepts ({} bytes for a resource, {} for a transaction Bundle, which may carry attached files inline)",
                    crate::BODY_LIMIT,
                    super::TRANSACTION_LIMIT
                ),
            )
        } else {
            FhirError::bad_request(format!("The body could not be read: {e}"))
        }
    })?;
    let value: Value = serde_json::from_slice(&bytes).map_err(|e| {
        FhirError::new(
            StatusCode::BAD_REQUEST,
            "structure",
            format!(
                "The body is not valid JSON (line {}, column {})",
                e.line(),
                e.column()
            ),
        )
    })?;
    if !value.is_object() || !value["resourceType"].is_string() {
        return Err(FhirError::new(
            StatusCode::BAD_REQUEST,
            "structure",
            "The body must be a FHIR resource: a JSON object with a resourceType",
        ));
    }
    Ok(value)
}

/// A fresh item id for a created resource.
fn fresh_id(kind: ResourceKind) -> String {
    format!(
        "{}-{}",
        kind.as_str().to_ascii_lowercase(),
        careplan_store::new_plan_id()
    )
}

/// One resource to write, as it came in.
#[derive(Debug, Clone)]
struct Incoming {
    kind: ResourceKind,
    id: String,
    resource: Value,
    full_url: Option<String>,
    /// Where it was in the request, for messages (`Goal`, `Bundle.entry[2].resource`).
    at: String,
}

fn is_archived(r: &Value) -> bool {
    r["extension"].as_array().is_some_and(|list| {
        list.iter().any(|e| {
            e["url"]
                .as_str()
                .is_some_and(|u| u.ends_with("/StructureDefinition/archived"))
        })
    })
}

/// The resource without what the server derives, and without its archive state (which the
/// archive and restore commands change, not an edit) or a suggestion's status (which accepting
/// or declining it changes), to tell whether an update changes the item itself.
fn content(r: &Value) -> Value {
    let mut r = r.clone();
    if let Some(o) = r.as_object_mut() {
        o.remove("meta");
        o.remove("text");
        if o.get("intent").and_then(Value::as_str) == Some("proposal") {
            o.remove("status");
            o.remove("statusReason");
        }
        if let Some(list) = o.get_mut("extension").and_then(Value::as_array_mut) {
            list.retain(|e| {
                !e["url"].as_str().is_some_and(|u| {
                    u.ends_with("/StructureDefinition/archived")
                        || u.ends_with("/StructureDefinition/archive-reason")
                })
            });
            if list.is_empty() {
                o.remove("extension");
            }
        }
    }
    r
}

fn set<T>(v: Option<T>) -> Change<T> {
    match v {
        Some(v) => Change::Set(v),
        None => Change::Clear,
    }
}

/// The item an add or record command creates.
fn created_item(c: &Command) -> Option<&ItemId> {
    match c {
        Command::AddStrength { id, .. }
        | Command::AddNeed { id, .. }
        | Command::AddConcern { id, .. }
        | Command::AddProblem { id, .. }
        | Command::AddGoal { id, .. }
        | Command::AddAction { id, .. }
        | Command::RecordOutcome { id, .. }
        | Command::RecordProgress { id, .. }
        | Command::RecordCapacityAssessment { id, .. }
        | Command::RecordBestInterestDecision { id, .. }
        | Command::SuggestActionChange { id, .. }
        | Command::RecordAgreement { id, .. }
        | Command::AddCareTeamMember { id, .. } => id.as_ref(),
        _ => None,
    }
}

/// The edit that makes an existing item what the add describes; `None` for records that
/// cannot be changed once made.
fn edit_of(add: Command) -> Option<Command> {
    Some(match add {
        Command::AddStrength {
            id: Some(id),
            description,
            importance,
        } => Command::EditStrength {
            id,
            description: Some(description),
            importance: set(importance),
        },
        Command::AddNeed {
            id: Some(id),
            description,
            identified_by,
            importance,
        } => Command::EditNeed {
            id,
            description: Some(description),
            identified_by: set(identified_by),
            importance: set(importance),
        },
        Command::AddConcern {
            id: Some(id),
            description,
            raised_by,
            domain,
            importance,
        } => Command::EditConcern {
            id,
            description: Some(description),
            raised_by: Some(raised_by),
            domain: Some(domain),
            importance: set(importance),
        },
        Command::AddProblem {
            id: Some(id),
            description,
            code,
            external_reference,
            importance,
        } => Command::EditProblem {
            id,
            description: Some(description),
            code: set(code),
            external_reference: set(external_reference),
            importance: set(importance),
        },
        Command::AddGoal {
            id: Some(id),
            label,
            description,
            why_it_matters,
            priority,
            status,
            target_date,
            addresses,
            strengths,
        } => Command::EditGoal {
            id,
            label: Some(label),
            description: Some(description),
            why_it_matters: set(why_it_matters),
            priority: set(priority),
            status,
            target_date: set(target_date),
            addresses: Some(addresses),
            strengths: Some(strengths),
        },
        Command::AddAction {
            id: Some(id),
            goal,
            description,
            performer,
            timing,
            status,
            confidence,
        } => Command::EditAction {
            id,
            goal: Some(goal),
            description: Some(description),
            performer: Some(performer),
            timing: set(timing),
            status,
            confidence: set(confidence),
        },
        _ => return None,
    })
}

/// The commands that write `incoming` into `plan` (the plan as the requester sees it now).
fn commands_for(plan: &Plan, incoming: &[Incoming], base: &str) -> FhirResult<Vec<Command>> {
    let replaced: BTreeSet<(&str, &str)> = incoming
        .iter()
        .map(|i| (i.kind.as_str(), i.id.as_str()))
        .collect();
    let mut entries: Vec<Value> = resources(plan)
        .into_iter()
        .filter(|r| {
            let t = r["resourceType"].as_str().unwrap_or_default();
            let id = r["id"].as_str().unwrap_or_default();
            t != "List" && !replaced.contains(&(t, id))
        })
        .map(|r| {
            let url = format!(
                "{base}/{}/{}",
                r["resourceType"].as_str().unwrap_or_default(),
                r["id"].as_str().unwrap_or_default()
            );
            json!({"fullUrl": url, "resource": r})
        })
        .collect();
    let existing = entries.len();
    entries.extend(incoming.iter().map(|i| {
        let url = i
            .full_url
            .clone()
            .unwrap_or_else(|| format!("{base}/{}/{}", i.kind.as_str(), i.id));
        json!({"fullUrl": url, "resource": i.resource})
    }));
    let bundle = json!({"resourceType": "Bundle", "type": "collection", "entry": entries});
    let import = commands_from_bundle(&bundle).map_err(|issues| {
        let located: Vec<FhirIssue> = issues
            .into_iter()
            .map(|mut i| {
                i.expression = relocate(&i.expression, existing, incoming);
                i
            })
            .collect();
        FhirError::from_import(&located)
    })?;
    let targets: BTreeSet<&str> = incoming.iter().map(|i| i.id.as_str()).collect();
    // Each incoming resource as the plan has it now (None for a new one), built once.
    let now: Vec<Option<Value>> = incoming
        .iter()
        .map(|i| resource(plan, i.kind, &i.id))
        .collect();
    // Resources sent back exactly as they are: nothing to change.
    let unchanged: BTreeSet<&str> = incoming
        .iter()
        .zip(&now)
        .filter(|(i, r)| {
            r.as_ref()
                .is_some_and(|r| content(r) == content(&i.resource))
        })
        .map(|(i, _)| i.id.as_str())
        .collect();
    // A suggestion accepted or declined stays so: its status cannot be sent back otherwise.
    for (i, current) in incoming.iter().zip(&now) {
        if let (Ok(id), Some(current)) = (ItemId::parse(&i.id), current)
            && plan
                .suggestions
                .get(&id)
                .is_some_and(|s| s.status != SuggestionStatus::Open)
            && (current["status"] != i.resource["status"]
                || current.get("statusReason") != i.resource.get("statusReason"))
        {
            return Err(FhirError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "business-rule",
                format!(
                    "Suggestion {id} was already {}: it cannot be reopened or decided again",
                    plan.suggestions[&id].status.label()
                ),
            ));
        }
    }
    let mut out = Vec::new();
    for i in incoming {
        match i.kind {
            ResourceKind::Patient if import.person != plan.person.person => {
                out.push(Command::UpdatePerson {
                    person: import.person.clone(),
                });
            }
            ResourceKind::CarePlan => {
                for c in &import.commands {
                    let differs = match c {
                        Command::SetPlanStatus { status } => *status != plan.details.status,
                        Command::SetFundingSource {
                            source,
                            details_held_at,
                        } => plan.funding.as_ref().is_none_or(|f| {
                            f.source != *source || f.details_held_at != *details_held_at
                        }),
                        Command::SetCapacitySupport {
                            steps_to_maximise_capacity,
                            rights_promotion,
                        } => plan.capacity_support.as_ref().is_none_or(|c| {
                            c.steps_to_maximise_capacity != *steps_to_maximise_capacity
                                || c.rights_promotion != *rights_promotion
                        }),
                        _ => false,
                    };
                    if differs {
                        out.push(c.clone());
                    }
                }
            }
            _ => {}
        }
    }
    for c in import.commands {
        if let Some(id) = created_item(&c).filter(|id| targets.contains(id.as_str())) {
            if unchanged.contains(id.as_str()) {
                continue;
            }
            if plan.kind_of(id).is_none() {
                out.push(c);
                continue;
            }
            let name = id.to_string();
            match edit_of(c) {
                Some(edit) => out.push(edit),
                None => {
                    return Err(FhirError::new(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "business-rule",
                        format!(
                            "{name} is a record that cannot be changed once made: record a new one"
                        ),
                    ));
                }
            }
            continue;
        }
        match &c {
            Command::AddComment {
                id: Some(comment),
                target,
                ..
            } if plan.kind_of(comment).is_none() => {
                let ours = match target {
                    Target::Item { item } => targets.contains(item.as_str()),
                    Target::Plan | Target::Section { .. } => {
                        incoming.iter().any(|i| i.kind == ResourceKind::CarePlan)
                    }
                };
                if ours {
                    out.push(c);
                }
            }
            // Accepting or declining a suggestion: its status, sent back changed.
            Command::AcceptSuggestion { id } | Command::DeclineSuggestion { id, .. }
                if targets.contains(id.as_str())
                    && plan
                        .suggestions
                        .get(id)
                        .is_none_or(|s| s.status == SuggestionStatus::Open) =>
            {
                out.push(c);
            }
            Command::Archive { id, .. } | Command::ArchiveGoal { id, .. }
                if targets.contains(id.as_str()) =>
            {
                let now_archived = incoming
                    .iter()
                    .zip(&now)
                    .find(|(i, _)| i.id == id.as_str())
                    .and_then(|(_, r)| r.as_ref())
                    .is_some_and(is_archived);
                if !now_archived {
                    out.push(c);
                }
            }
            _ => {}
        }
    }
    for (i, current) in incoming.iter().zip(&now) {
        if let (Ok(id), Some(current)) = (ItemId::parse(&i.id), current)
            && is_archived(current)
            && !is_archived(&i.resource)
        {
            out.push(Command::Restore { id });
        }
    }
    Ok(out)
}

/// An importer's expression about the combined Bundle, as the client's request names it.
fn relocate(expression: &str, existing: usize, incoming: &[Incoming]) -> String {
    let Some(rest) = expression.strip_prefix("Bundle.entry[") else {
        return expression.to_owned();
    };
    let Some((n, tail)) = rest.split_once(']') else {
        return expression.to_owned();
    };
    match n
        .parse::<usize>()
        .ok()
        .and_then(|n| n.checked_sub(existing))
    {
        Some(k) if k < incoming.len() => {
            let tail = tail.strip_prefix(".resource").unwrap_or(tail);
            format!("{}{tail}", incoming[k].at)
        }
        _ => expression.to_owned(),
    }
}

/// Reads the resource a request sends for `kind`, checking its type (and id, for an update).
fn incoming_resource(
    value: Value,
    kind: ResourceKind,
    id: Option<&str>,
    at: String,
) -> FhirResult<Incoming> {
    if value["resourceType"] != kind.as_str() {
        return Err(FhirError::new(
            StatusCode::BAD_REQUEST,
            "invalid",
            format!(
                "The body is a {}, not a {}",
                value["resourceType"].as_str().unwrap_or("?"),
                kind.as_str()
            ),
        ));
    }
    let mut resource = value;
    let id = match id {
        Some(id) => {
            if resource["id"].as_str() != Some(id) {
                return Err(FhirError::bad_request(format!(
                    "The resource's id must be the id in the address, “{id}”"
                )));
            }
            id.to_owned()
        }
        None => {
            let id = fresh_id(kind);
            resource["id"] = json!(id);
            id
        }
    };
    Ok(Incoming {
        kind,
        id,
        resource,
        full_url: None,
        at,
    })
}

/// The Patient a resource is about (`subject`, `for` or `patient`).
fn patient_of(r: &Value) -> Option<String> {
    ["subject", "for", "patient"].iter().find_map(|k| {
        let reference = r[*k]["reference"].as_str()?;
        let (t, id) = super::search::type_and_id(reference)?;
        (t == "Patient").then_some(id)
    })
}

fn if_match_of(headers: &HeaderMap) -> FhirResult<Option<VersionNumber>> {
    headers
        .get(header::IF_MATCH)
        .and_then(|v| v.to_str().ok())
        .map(parse_if_match)
        .transpose()
}

fn precondition_required() -> FhirError {
    FhirError::new(
        StatusCode::PRECONDITION_REQUIRED,
        "required",
        "Send If-Match with the version your change is based on (the ETag you read, such as W/\"12\")",
    )
}

/// Writes resources into an existing plan, based on `base` (or the current version).
async fn write_into(
    h: &Handle,
    plan_id: &PlanId,
    base: Option<VersionNumber>,
    incoming: &[Incoming],
    url: &str,
) -> FhirResult<Plan> {
    let viewed = h.current(plan_id).await?;
    let plan = viewed.value;
    let base_version = base.unwrap_or(plan.version);
    if base_version != plan.version {
        return Err(careplan_store::StoreError::Conflict {
            expected: base_version,
            current: plan.version,
        }
        .into());
    }
    let commands = commands_for(&plan, incoming, url)?;
    if commands.is_empty() {
        return Ok(std::sync::Arc::unwrap_or_clone(plan));
    }
    let mut committed = h.apply(plan_id, base_version, commands, None).await?;
    Ok(committed.pop().expect("at least one command").plan)
}

/// The plan of a Patient id, 404 if none.
async fn plan_of_patient(h: &Handle, person: &str) -> FhirResult<PlanId> {
    h.find_plan(person).await.map_err(|e| match e {
        careplan_store::StoreError::NotFound(_) => {
            FhirError::not_found(format!("There is no Patient “{person}”"))
        }
        e => e.into(),
    })
}

/// `PUT /fhir/{Type}/{id}` with `If-Match`.
pub(crate) async fn update(
    Path((kind, id)): Path<(String, String)>,
    headers: HeaderMap,
    Who(h): Who,
    body: Result<Bytes, BytesRejection>,
) -> FhirResult<Response> {
    let kind = writable(&kind)?;
    let value = body_json(&headers, body)?;
    let incoming = incoming_resource(value, kind, Some(&id), kind.as_str().to_owned())?;
    let base = if_match_of(&headers)?.ok_or_else(precondition_required)?;
    let person = match kind {
        ResourceKind::Patient => id.clone(),
        ResourceKind::CarePlan => {
            let plan = plan_of_patient(&h, &id).await?;
            let current = h.current(&plan).await?;
            current.value.details.person_id.to_string()
        }
        _ => patient_of(&incoming.resource).ok_or_else(|| {
            FhirError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "required",
                format!("The {} must name its Patient (subject)", kind.as_str()),
            )
        })?,
    };
    let plan_id = plan_of_patient(&h, &person).await?;
    if kind != ResourceKind::Patient && kind != ResourceKind::CarePlan {
        let current = h.current(&plan_id).await?;
        if resource(&current.value, kind, &id).is_none() {
            return Err(FhirError::new(
                StatusCode::NOT_FOUND,
                "not-found",
                format!(
                    "There is no {} “{id}” in this plan to update: create it with POST",
                    kind.as_str()
                ),
            ));
        }
    }
    let plan = write_into(&h, &plan_id, Some(base), &[incoming], &base_url(&headers)).await?;
    let r = resource(&plan, kind, &id)
        .ok_or_else(|| FhirError::not_found("The resource is not in the plan after the update"))?;
    let mut response = resource_response(StatusCode::OK, &r, plan.version, plan.last_updated);
    location(&mut response, kind, &id, plan.version);
    Ok(response)
}

fn writable(kind: &str) -> FhirResult<ResourceKind> {
    let kind = plan_kind(kind)?;
    if kind == ResourceKind::DocumentReference {
        return Err(FhirError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "not-supported",
            "A DocumentReference cannot be written here: attachments and links are added through the JSON API, which stores the file",
        ));
    }
    if !WRITABLE.contains(&kind) {
        return Err(FhirError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "not-supported",
            format!(
                "{} cannot be written here: the plan derives it",
                kind.as_str()
            ),
        ));
    }
    Ok(kind)
}

fn location(response: &mut Response, kind: ResourceKind, id: &str, version: VersionNumber) {
    if let Ok(v) = HeaderValue::from_str(&format!("{}/{id}/_history/{version}", kind.as_str())) {
        response.headers_mut().insert(header::LOCATION, v);
    }
}

/// Starts a plan from a Bundle with a Patient: the person, every command and the files the
/// Bundle's attachments carry inline, in one transaction (the files kept first, and removed
/// again if the plan is refused).
async fn create_plan(h: &Handle, blobs: &BlobStore, bundle: &Value) -> FhirResult<Plan> {
    let import = commands_from_bundle(bundle).map_err(|i| FhirError::from_import(&i))?;
    for c in &import.commands {
        if !careplan_model::may_command(h.requester().role, c) {
            return Err(FhirError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                format!(
                    "As {} you may not {}",
                    h.requester().role.label(),
                    c.summary().to_lowercase()
                ),
            ));
        }
    }
    let files = crate::carried_files(import.files);
    // The person, their plan, every change to it and its files are kept together, or nothing is.
    let mut committed = h
        .create_person_with_files(blobs, import.person.clone(), import.commands, files)
        .await
        .map_err(|e| match e {
            CarriedError::Store(e) => FhirError::from(e),
            e @ CarriedError::Refused { .. } => {
                FhirError::new(StatusCode::UNPROCESSABLE_ENTITY, "value", e.to_string())
            }
            CarriedError::Storage(e) => {
                tracing::error!(error = %e, "an imported file could not be kept");
                FhirError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "exception",
                    "The service could not keep the plan's files; nothing was changed",
                )
            }
        })?;
    Ok(committed.pop().expect("at least version 1").plan)
}

/// `POST /fhir/{Type}`: a Patient starts a plan (a practitioner joins its care team); other
/// types are added to the plan of the Patient they name.
pub(crate) async fn create(
    State(state): State<AppState>,
    Path(kind): Path<String>,
    headers: HeaderMap,
    Who(h): Who,
    body: Result<Bytes, BytesRejection>,
) -> FhirResult<Response> {
    let kind = writable(&kind)?;
    let value = body_json(&headers, body)?;
    let mut incoming = incoming_resource(value, kind, None, kind.as_str().to_owned())?;
    let (plan, id) = match kind {
        ResourceKind::Patient => {
            incoming.resource.as_object_mut().map(|o| o.remove("id"));
            let bundle = json!({"resourceType": "Bundle", "type": "collection", "entry": [{"resource": incoming.resource}]});
            let plan = create_plan(&h, &state.blobs, &bundle).await?;
            let id = plan.details.person_id.to_string();
            (plan, id)
        }
        ResourceKind::CarePlan => {
            return Err(FhirError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "not-supported",
                "A person has one CarePlan, made with their Patient: POST the Patient (or a transaction Bundle), then PUT the CarePlan",
            ));
        }
        _ => {
            let person = patient_of(&incoming.resource).ok_or_else(|| {
                FhirError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "required",
                    format!("The {} must name its Patient (subject)", kind.as_str()),
                )
            })?;
            let plan_id = plan_of_patient(&h, &person).await?;
            let base = if_match_of(&headers)?;
            let id = incoming.id.clone();
            let plan = write_into(&h, &plan_id, base, &[incoming], &base_url(&headers)).await?;
            (plan, id)
        }
    };
    let r = resource(&plan, kind, &id).ok_or_else(|| {
        FhirError::not_found("The resource is not in the plan after it was created")
    })?;
    let mut response = resource_response(StatusCode::CREATED, &r, plan.version, plan.last_updated);
    location(&mut response, kind, &id, plan.version);
    Ok(response)
}

/// `POST /fhir` with a `transaction` Bundle: a whole new plan (a Patient entry with POST), or
/// changes to one existing plan; all or nothing.
pub(crate) async fn transaction(
    State(state): State<AppState>,
    headers: HeaderMap,
    Who(h): Who,
    body: Result<Bytes, BytesRejection>,
) -> FhirResult<Response> {
    let bundle = body_json(&headers, body)?;
    if bundle["resourceType"] != "Bundle" || bundle["type"] != "transaction" {
        return Err(FhirError::new(
            StatusCode::BAD_REQUEST,
            "not-supported",
            "POST to the base takes a Bundle of type transaction (batch is not supported)",
        ));
    }
    let entries = bundle["entry"].as_array().cloned().unwrap_or_default();
    let base = base_url(&headers);
    let mut incoming = Vec::new();
    // A POSTed Patient makes the Bundle a whole new plan: then every resource the plan is
    // exported as may be in it (the importer reads them all); otherwise only writable types.
    let creates_patient = entries
        .iter()
        .any(|e| e["request"]["method"] == "POST" && e["resource"]["resourceType"] == "Patient");
    let mut if_matches = BTreeSet::new();
    for (n, e) in entries.iter().enumerate() {
        let at = format!("Bundle.entry[{n}].resource");
        let method = e["request"]["method"].as_str().unwrap_or("");
        let r = e["resource"].clone();
        let t = r["resourceType"].as_str().unwrap_or("");
        let kind = ResourceKind::parse(t)
            .filter(|k| creates_patient || WRITABLE.contains(k))
            .ok_or_else(|| {
                FhirError::new(
                    StatusCode::BAD_REQUEST,
                    "not-supported",
                    format!("{at}: a {t} cannot be written here"),
                )
                .with_expression(&at)
            })?;
        if let Some(v) = e["request"]["ifMatch"].as_str() {
            if_matches.insert(parse_if_match(v)?);
        }
        match method {
            "POST" | "PUT" => {}
            other => {
                return Err(FhirError::new(
                    StatusCode::BAD_REQUEST,
                    "not-supported",
                    format!(
                        "Bundle.entry[{n}].request.method: {other:?} is not supported in a transaction (POST or PUT)"
                    ),
                ));
            }
        }
        let id = if method == "PUT" {
            let url = e["request"]["url"].as_str().unwrap_or("");
            let id = super::search::type_and_id(url)
                .map(|(_, id)| id)
                .ok_or_else(|| {
                    FhirError::bad_request(format!(
                        "Bundle.entry[{n}].request.url must be Type/id for a PUT"
                    ))
                })?;
            Some(id)
        } else {
            None
        };
        let mut item = incoming_resource(r.clone(), kind, None, at)?;
        if let Some(id) = id {
            item.id = id.clone();
            item.resource["id"] = json!(id);
        } else if let Some(given) = r["id"].as_str() {
            item.id = given.to_owned();
            item.resource["id"] = json!(given);
        }
        item.full_url = e["fullUrl"].as_str().map(str::to_owned);
        incoming.push(item);
    }
    if incoming.is_empty() {
        return Err(FhirError::bad_request("The transaction has no entries"));
    }
    let mut existed = vec![false; incoming.len()];
    let plan = if creates_patient {
        let mut whole = bundle.clone();
        for (n, item) in incoming.iter().enumerate() {
            whole["entry"][n]["resource"] = item.resource.clone();
        }
        create_plan(&h, &state.blobs, &whole).await?
    } else {
        let people: BTreeSet<String> = incoming
            .iter()
            .filter_map(|i| match i.kind {
                ResourceKind::Patient => Some(i.id.clone()),
                _ => patient_of(&i.resource),
            })
            .collect();
        let person = match people.len() {
            1 => people.into_iter().next().expect("one"),
            0 => {
                return Err(FhirError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "required",
                    "The transaction names no Patient: each resource must have its subject",
                ));
            }
            _ => {
                return Err(FhirError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "business-rule",
                    "A transaction changes one person's plan: its resources name more than one Patient",
                ));
            }
        };
        let plan_id = plan_of_patient(&h, &person).await?;
        if if_matches.len() > 1 {
            return Err(FhirError::new(
                StatusCode::PRECONDITION_FAILED,
                "conflict",
                "The entries' ifMatch name different versions of the plan",
            ));
        }
        let current = h.current(&plan_id).await?;
        for (e, i) in existed.iter_mut().zip(&incoming) {
            *e = resource(&current.value, i.kind, &i.id).is_some();
        }
        let updates_existing = existed.iter().any(|e| *e);
        let version = if_matches.into_iter().next().or(if_match_of(&headers)?);
        if updates_existing && version.is_none() {
            return Err(precondition_required());
        }
        write_into(&h, &plan_id, version, &incoming, &base).await?
    };
    let person_id = plan.details.person_id.to_string();
    // In a new plan, ids derived from the sender's plan id take the new plan's id.
    let old_plan = incoming
        .iter()
        .find(|i| i.kind == ResourceKind::CarePlan)
        .map(|i| i.id.clone());
    let response_entries: Vec<Value> = incoming
        .iter()
        .zip(&existed)
        .map(|(i, existed)| {
            let id = match (i.kind, &old_plan) {
                (ResourceKind::Patient, _) => person_id.clone(),
                (ResourceKind::CarePlan, _) => plan.id.to_string(),
                (_, Some(old)) if creates_patient && i.id.starts_with(old.as_str()) => {
                    i.id.replacen(old.as_str(), plan.id.as_str(), 1)
                }
                _ => i.id.clone(),
            };
            if i.kind == ResourceKind::Provenance || resource(&plan, i.kind, &id).is_none() {
                // Read and not kept: the plan derives it (Provenance: the new history).
                return json!({"response": {
                    "status": "200 OK",
                    "outcome": outcome(&[Issue {
                        severity: "information",
                        code: "informational",
                        expression: Some(i.at.clone()),
                        text: format!(
                            "The plan has no {} with this id now: it derives it (a Provenance belongs to the new history; an access preference takes the id of the version that made it)",
                            i.kind.as_str()
                        ),
                    }]),
                }});
            }
            json!({"response": {
                "status": if *existed { "200 OK" } else { "201 Created" },
                "location": format!("{}/{id}/_history/{}", i.kind.as_str(), plan.version),
                "etag": format!("W/\"{}\"", plan.version),
                "lastModified": plan.last_updated.to_string(),
            }})
        })
        .collect();
    let reply = json!({"resourceType": "Bundle", "type": "transaction-response", "entry": response_entries});
    let mut response = fhir_response(StatusCode::OK, &reply);
    response
        .headers_mut()
        .insert(header::ETAG, etag(plan.version.get()));
    Ok(response)
}

impl FhirError {
    pub(crate) fn with_expression(mut self, expression: &str) -> FhirError {
        for i in &mut self.issues {
            i.expression = Some(expression.to_owned());
        }
        self
    }
}
