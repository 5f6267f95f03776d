//! Read, vread, history (instance and type), `Patient/{id}/$everything`,
//! `CarePlan/{id}/$performer-view` (CSP-10), and the conformance resources.
//!
//! Every resource of a plan carries the plan's version (CSP-14: a change anywhere in the plan
//! is a new version of all of it), so a resource's versions are the plan's versions in which
//! it exists, and `vread` of version n is the resource as it was in version n of the plan.

use axum::extract::Path;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use careplan_fhir::{
    ResourceKind, VersionMeta, code_system, code_systems, document, performer_bundle, plan_bundle,
    provenance, resource, structure_definition, structure_definitions,
};
use careplan_model::{Plan, PlanId, Section, Timestamp, VersionNumber};
use careplan_store::StoreError;
use careplan_store::handle::{Handle, HistoryEntry};
use serde_json::{Value, json};

use super::search::{MAX_COUNT, MAX_PLANS, handle_unknown, page_url};
use super::{
    FhirError, FhirResult, Issue, Who, base_url, check_format_uri, fhir_response, outcome,
    params_of, plan_kind, resource_response,
};

const HISTORY_COUNT: usize = 20;

/// The issue that says sections were withheld from the reader (CSP-1).
pub(crate) fn withheld_issue(withheld: &[Section]) -> Issue {
    let names: Vec<&str> = withheld.iter().map(|s| s.title()).collect();
    Issue {
        severity: "information",
        code: "suppressed",
        expression: None,
        text: format!(
            "Parts of this plan are not shown: the person has not shared them with you ({})",
            names.join(", ")
        ),
    }
}

/// The `meta.security` label of a resource that has had content withheld.
fn mark_redacted(r: &mut Value) {
    let label = json!({"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue", "code": "REDACTED", "display": "redacted"});
    if !r["meta"].is_object() {
        r["meta"] = json!({});
    }
    match r["meta"]["security"].as_array_mut() {
        Some(list) => list.push(label),
        None => r["meta"]["security"] = json!([label]),
    }
}

/// Every version of the plan as the requester may see its history (one audit entry).
async fn history_of(h: &Handle, plan_id: &PlanId) -> Result<Vec<HistoryEntry>, StoreError> {
    Ok(h.history(plan_id, 0, u32::MAX).await?.value)
}

fn version_meta(e: &HistoryEntry) -> VersionMeta {
    VersionMeta {
        number: e.number,
        at: e.at,
        actor_name: e.by.name.to_string(),
        actor_role: e.by.role,
        command: e
            .command
            .as_ref()
            .map_or("withheld", |c| c.name())
            .to_owned(),
    }
}

/// The Provenance of every version of the plan.
pub(crate) async fn provenances(h: &Handle, plan: &Plan) -> Result<Vec<Value>, StoreError> {
    Ok(history_of(h, &plan.id)
        .await?
        .iter()
        .map(|e| provenance(plan, &version_meta(e)))
        .collect())
}

/// The plan whose id a derived resource id carries (`<plan>-care-team`, `<plan>-goal-order`,
/// `<plan>-review`, `<plan>-v<n>`), if there is one.
pub(crate) async fn derived_plan(
    h: &Handle,
    kind: ResourceKind,
    id: &str,
) -> Result<Option<PlanId>, StoreError> {
    let prefix = match kind {
        ResourceKind::CareTeam => id.strip_suffix("-care-team"),
        ResourceKind::List => id.strip_suffix("-goal-order"),
        ResourceKind::Task => id.strip_suffix("-review"),
        ResourceKind::Provenance => id
            .rsplit_once("-v")
            .filter(|(_, n)| n.parse::<u64>().is_ok())
            .map(|(p, _)| p),
        _ => None,
    };
    let Some(prefix) = prefix else {
        return Ok(None);
    };
    match h.find_plan(prefix).await {
        Ok(plan) => Ok(Some(plan)),
        Err(StoreError::NotFound(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// The plan a resource belongs to, among those the requester may open.
pub(crate) async fn locate(h: &Handle, kind: ResourceKind, id: &str) -> FhirResult<PlanId> {
    let missing = || {
        FhirError::not_found(format!(
            "There is no {} with id “{id}” that you may see",
            kind.as_str()
        ))
    };
    match kind {
        ResourceKind::Patient | ResourceKind::CarePlan => {
            return h.find_plan(id).await.map_err(|e| match e {
                StoreError::NotFound(_) => missing(),
                e => e.into(),
            });
        }
        _ => {}
    }
    if let Some(plan) = derived_plan(h, kind, id).await? {
        return Ok(plan);
    }
    let mut plans = h.plans_with_item(id).await?;
    match plans.len() {
        0 => Err(missing()),
        1 => Ok(plans.remove(0)),
        n => Err(FhirError::new(
            StatusCode::CONFLICT,
            "multiple-matches",
            format!(
                "{n} plans you may see have a {} with id “{id}”: search with patient and _id instead",
                kind.as_str()
            ),
        )),
    }
}

/// The resource in `plan` (Provenance from the plan's history).
async fn find_in(
    h: &Handle,
    plan: &Plan,
    kind: ResourceKind,
    id: &str,
) -> FhirResult<Option<(Value, VersionNumber, Timestamp)>> {
    if kind == ResourceKind::Provenance {
        let entries = history_of(h, &plan.id).await?;
        return Ok(entries.iter().find_map(|e| {
            let p = provenance(plan, &version_meta(e));
            (p["id"] == id).then_some((p, VersionNumber::FIRST, e.at))
        }));
    }
    Ok(resource(plan, kind, id).map(|r| (r, plan.version, plan.last_updated)))
}

/// `StructureDefinition` or `CodeSystem` by name: the conformance resources need no sign-in.
fn conformance_one(kind: &str, id: &str) -> Option<FhirResult<Value>> {
    let found = match kind {
        "StructureDefinition" => structure_definition(id),
        "CodeSystem" => code_system(id),
        _ => return None,
    };
    Some(found.ok_or_else(|| FhirError::not_found(format!("There is no {kind} “{id}” here"))))
}

/// Every `StructureDefinition` or `CodeSystem`.
pub(crate) fn conformance_all(kind: &str) -> Option<Vec<Value>> {
    match kind {
        "StructureDefinition" => Some(structure_definitions()),
        "CodeSystem" => Some(code_systems()),
        _ => None,
    }
}

/// Read and vread take no parameters but `_format`: anything else is refused with 400 naming
/// it (a read has no Bundle to carry a warning, and ignoring it silently would mislead).
fn no_parameters(uri: &Uri) -> FhirResult<()> {
    let unknown: Vec<Issue> = params_of(uri)
        .into_iter()
        .filter(|(n, _)| n != "_format")
        .map(|(n, _)| {
            Issue::error(
                "not-supported",
                format!("The parameter “{n}” is not supported on a read: see /fhir/metadata"),
            )
            .at(n)
        })
        .collect();
    if unknown.is_empty() {
        Ok(())
    } else {
        Err(FhirError {
            status: StatusCode::BAD_REQUEST,
            issues: unknown,
        })
    }
}

/// `GET /fhir/{Type}/{id}`.
pub(crate) async fn read(
    Path((kind, id)): Path<(String, String)>,
    uri: Uri,
    headers: HeaderMap,
    who: Result<Who, FhirError>,
) -> FhirResult<Response> {
    if let Some(found) = conformance_one(&kind, &id) {
        check_format_uri(&uri, &headers)?;
        return Ok(fhir_response(StatusCode::OK, &found?));
    }
    let Who(h) = who?;
    let kind = plan_kind(&kind)?;
    no_parameters(&uri)?;
    let plan_id = locate(&h, kind, &id).await?;
    let viewed = h.current(&plan_id).await?;
    let Some((mut r, version, at)) = find_in(&h, &viewed.value, kind, &id).await? else {
        return Err(FhirError::not_found(format!(
            "There is no {} with id “{id}” that you may see",
            kind.as_str()
        )));
    };
    if kind == ResourceKind::CarePlan && !viewed.withheld.is_empty() {
        mark_redacted(&mut r);
    }
    Ok(resource_response(StatusCode::OK, &r, version, at))
}

/// `GET /fhir/{Type}/{id}/_history/{vid}`.
pub(crate) async fn vread(
    Path((kind, id, vid)): Path<(String, String, String)>,
    uri: Uri,
    Who(h): Who,
) -> FhirResult<Response> {
    let kind = plan_kind(&kind)?;
    no_parameters(&uri)?;
    let number: u64 = vid.parse().ok().filter(|n| *n > 0).ok_or_else(|| {
        FhirError::not_found(format!("“{vid}” is not a version: versions are 1, 2, 3…"))
    })?;
    let plan_id = locate(&h, kind, &id).await?;
    let plan = if kind == ResourceKind::Provenance {
        if number != 1 {
            return Err(FhirError::not_found("A Provenance has one version, 1"));
        }
        h.current(&plan_id).await?
    } else {
        h.version(&plan_id, number).await?
    };
    let Some((mut r, version, at)) = find_in(&h, &plan.value, kind, &id).await? else {
        return Err(FhirError::not_found(format!(
            "There was no {} with id “{id}” that you may see in version {number}",
            kind.as_str()
        )));
    };
    if kind == ResourceKind::CarePlan && !plan.withheld.is_empty() {
        mark_redacted(&mut r);
    }
    Ok(resource_response(StatusCode::OK, &r, version, at))
}

/// `_since`, `_count` and `_offset` of a history request.
struct HistoryQuery {
    since: Option<Timestamp>,
    count: usize,
    offset: usize,
}

fn history_query(uri: &Uri, headers: &HeaderMap) -> FhirResult<HistoryQuery> {
    let mut q = HistoryQuery {
        since: None,
        count: HISTORY_COUNT,
        offset: 0,
    };
    let mut unknown = Vec::new();
    for (name, value) in params_of(uri) {
        let number = |v: &str| {
            v.parse::<usize>().map_err(|_| {
                FhirError::bad_request(format!("{name} must be a whole number, not “{v}”"))
            })
        };
        match name.as_str() {
            "_since" => {
                q.since = Some(Timestamp::parse(&value).map_err(|_| {
                    FhirError::bad_request(format!(
                        "_since must be an instant such as 2026-03-01T09:30:00Z, not “{value}”"
                    ))
                })?)
            }
            "_count" => q.count = number(&value)?.min(MAX_COUNT),
            "_offset" => q.offset = number(&value)?,
            "_format" => {}
            _ => unknown.push(
                Issue::warning(
                    "not-supported",
                    format!("The history parameter “{name}” is not supported and was not used"),
                )
                .at(name.clone()),
            ),
        }
    }
    let warnings = handle_unknown(headers, unknown)?;
    if !warnings.is_empty() {
        // History Bundles have no outcome entries: an unknown parameter is refused.
        return Err(FhirError {
            status: StatusCode::BAD_REQUEST,
            issues: warnings
                .into_iter()
                .map(|i| Issue {
                    severity: "error",
                    ..i
                })
                .collect(),
        });
    }
    Ok(q)
}

fn history_entry(base: &str, r: Value, version: u64, at: Timestamp, created: bool) -> Value {
    let (t, id) = (
        r["resourceType"].as_str().unwrap_or_default().to_owned(),
        r["id"].as_str().unwrap_or_default().to_owned(),
    );
    json!({
        "fullUrl": format!("{base}/{t}/{id}"),
        "resource": r,
        "request": {
            "method": if created { "POST" } else { "PUT" },
            "url": if created { t.clone() } else { format!("{t}/{id}") },
        },
        "response": {
            "status": if created { "201 Created" } else { "200 OK" },
            "etag": format!("W/\"{version}\""),
            "lastModified": at.to_string(),
        },
    })
}

fn history_bundle(entries: Vec<Value>, links: Vec<Value>, total: Option<usize>) -> Value {
    let mut b =
        json!({"resourceType": "Bundle", "type": "history", "link": links, "entry": entries});
    if let Some(t) = total {
        b["total"] = json!(t);
    }
    b
}

fn history_links(
    uri: &Uri,
    base: &str,
    tail: &str,
    offset: usize,
    count: usize,
    more: bool,
) -> Vec<Value> {
    let params = params_of(uri);
    let path = format!("{base}{tail}");
    let mut links = vec![json!({"relation": "self", "url": page_url(&path, &params, None)})];
    if more {
        links.push(
            json!({"relation": "next", "url": page_url(&path, &params, Some(offset + count))}),
        );
    }
    links
}

/// `GET /fhir/{Type}/{id}/_history`: the resource in each version of its plan, newest first.
pub(crate) async fn instance_history(
    Path((kind, id)): Path<(String, String)>,
    uri: Uri,
    headers: HeaderMap,
    Who(h): Who,
) -> FhirResult<Response> {
    let kind = plan_kind(&kind)?;
    let q = history_query(&uri, &headers)?;
    let base = base_url(&headers);
    let plan_id = locate(&h, kind, &id).await?;
    let tail = format!("/{}/{id}/_history", kind.as_str());
    if kind == ResourceKind::Provenance {
        let current = h.current(&plan_id).await?;
        let found = find_in(&h, &current.value, kind, &id).await?;
        let entries: Vec<Value> = found
            .filter(|(_, _, at)| q.since.is_none_or(|s| *at > s))
            .map(|(r, v, at)| history_entry(&base, r, v.get(), at, true))
            .into_iter()
            .collect();
        let total = entries.len();
        let links = history_links(&uri, &base, &tail, 0, q.count, false);
        return Ok(fhir_response(
            StatusCode::OK,
            &history_bundle(entries, links, Some(total)),
        ));
    }
    let versions = history_of(&h, &plan_id).await?;
    let numbers: Vec<(u64, Timestamp)> = versions
        .iter()
        .rev()
        .filter(|e| q.since.is_none_or(|s| e.at > s))
        .map(|e| (e.number.get(), e.at))
        .collect();
    let page: Vec<u64> = numbers
        .iter()
        .skip(q.offset)
        .take(q.count)
        .map(|(n, _)| *n)
        .collect();
    // One older version too, to tell whether the oldest on the page created the resource.
    let mut load = page.clone();
    if let Some(&oldest) = page.last()
        && oldest > 1
    {
        load.push(oldest - 1);
    }
    let plans = h.versions(&plan_id, &load).await?;
    let mut entries = Vec::new();
    for (i, plan) in plans.value.iter().enumerate().take(page.len()) {
        let Some(r) = resource(plan, kind, &id) else {
            continue;
        };
        let created = match plans.value.get(i + 1) {
            Some(older) => resource(older, kind, &id).is_none(),
            None => plan.version == VersionNumber::FIRST,
        };
        entries.push(history_entry(
            &base,
            r,
            plan.version.get(),
            plan.last_updated,
            created,
        ));
    }
    let more = q.offset + q.count < numbers.len() && !entries.is_empty();
    let links = history_links(&uri, &base, &tail, q.offset, q.count, more);
    Ok(fhir_response(
        StatusCode::OK,
        &history_bundle(entries, links, None),
    ))
}

/// `GET /fhir/{Type}/_history`: every resource of the type in each version of the plans the
/// requester may open, newest version first.
pub(crate) async fn type_history(
    Path(kind): Path<String>,
    uri: Uri,
    headers: HeaderMap,
    Who(h): Who,
) -> FhirResult<Response> {
    let kind = plan_kind(&kind)?;
    let q = history_query(&uri, &headers)?;
    let base = base_url(&headers);
    let people = h.people(None, MAX_PLANS + 1, 0).await?;
    if people.len() > MAX_PLANS as usize {
        return Err(FhirError::new(
            StatusCode::BAD_REQUEST,
            "too-costly",
            format!(
                "You may see more than {MAX_PLANS} plans: ask for the history of one resource instead"
            ),
        ));
    }
    let mut versions: Vec<(Timestamp, PlanId, u64, VersionMeta)> = Vec::new();
    for person in &people {
        let Ok(plan_id) = PlanId::parse(&person.plan_id) else {
            continue;
        };
        match history_of(&h, &plan_id).await {
            Ok(list) => versions.extend(
                list.iter()
                    .filter(|e| q.since.is_none_or(|s| e.at > s))
                    .map(|e| (e.at, plan_id.clone(), e.number.get(), version_meta(e))),
            ),
            Err(StoreError::Forbidden(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    versions.sort_by(|a, b| (b.0, &b.1, b.2).cmp(&(a.0, &a.1, a.2)));
    let mut entries = Vec::new();
    let mut skipped = 0;
    let mut more = false;
    'walk: for (_, plan_id, number, meta) in &versions {
        let mut load = vec![*number];
        if *number > 1 && kind != ResourceKind::Provenance {
            load.push(number - 1);
        }
        let plans = h.versions(plan_id, &load).await?.value;
        let older = plans.get(1);
        let of_kind: Vec<Value> = if kind == ResourceKind::Provenance {
            vec![provenance(&plans[0], meta)]
        } else {
            careplan_fhir::resources(&plans[0])
                .into_iter()
                .filter(|r| r["resourceType"] == kind.as_str())
                .collect()
        };
        for r in of_kind {
            if skipped < q.offset {
                skipped += 1;
                continue;
            }
            if entries.len() == q.count {
                more = true;
                break 'walk;
            }
            let id = r["id"].as_str().unwrap_or_default().to_owned();
            let created = older.is_none_or(|o| resource(o, kind, &id).is_none());
            entries.push(history_entry(
                &base,
                r,
                *number,
                plans[0].last_updated,
                created,
            ));
        }
    }
    let links = history_links(
        &uri,
        &base,
        &format!("/{}/_history", kind.as_str()),
        q.offset,
        q.count,
        more,
    );
    Ok(fhir_response(
        StatusCode::OK,
        &history_bundle(entries, links, None),
    ))
}

/// `GET /fhir/Patient/{id}/$everything` and `GET /fhir/CarePlan/{id}/$performer-view`.
pub(crate) async fn operation(
    Path((kind, id, operation)): Path<(String, String, String)>,
    uri: Uri,
    headers: HeaderMap,
    Who(h): Who,
) -> FhirResult<Response> {
    let base = base_url(&headers);
    let params = params_of(&uri);
    let allowed: &[&str] = match (kind.as_str(), operation.as_str()) {
        ("Patient", "$everything") => &["_format"],
        ("CarePlan", "$performer-view") => &["_format", "performer"],
        ("CarePlan", "$document") => &["_format", "version"],
        _ => {
            plan_kind(&kind)?;
            return Err(FhirError::new(
                StatusCode::NOT_FOUND,
                "not-supported",
                format!("There is no operation “{operation}” on {kind}: see /fhir/metadata"),
            ));
        }
    };
    let unknown: Vec<Issue> = params
        .iter()
        .filter(|(n, _)| !allowed.contains(&n.as_str()))
        .map(|(n, _)| {
            Issue::warning(
                "not-supported",
                format!("The parameter “{n}” is not supported by {operation} and was not used"),
            )
            .at(n.clone())
        })
        .collect();
    let mut notes = handle_unknown(&headers, unknown)?;
    let kind = plan_kind(&kind)?;
    let plan_id = locate(&h, kind, &id).await?;
    let viewed = h.current(&plan_id).await?;
    let plan = &viewed.value;
    if resource(plan, kind, &id).is_none() {
        return Err(FhirError::not_found(format!(
            "There is no {} with id “{id}”",
            kind.as_str()
        )));
    }
    let mut withheld = viewed.withheld.clone();
    let mut bundle = if operation == "$document" {
        let wanted = params.iter().find(|(n, _)| n == "version").map(|(_, v)| v);
        let number = match wanted {
            Some(v) => v
                .parse::<u64>()
                .ok()
                .filter(|n| (1..=plan.version.get()).contains(n))
                .ok_or_else(|| {
                    FhirError::bad_request(format!(
                        "version must be a version of this plan, from 1 to {}",
                        plan.version
                    ))
                })?,
            None => plan.version.get(),
        };
        let at = if number == plan.version.get() {
            plan.clone()
        } else {
            let old = h.version(&plan_id, number).await?;
            withheld = old.withheld.clone();
            old.value
        };
        let author = h
            .history(&plan_id, number - 1, 1)
            .await?
            .value
            .first()
            .map_or_else(|| "unknown".to_owned(), |e| e.by.name.to_string());
        document(&at, &author, &base)
    } else if operation == "$everything" {
        let metas: Vec<VersionMeta> = history_of(&h, &plan_id)
            .await?
            .iter()
            .map(version_meta)
            .collect();
        let mut b = plan_bundle(plan, &metas, &base);
        b["type"] = json!("searchset");
        if let Some(entries) = b["entry"].as_array_mut() {
            for e in entries.iter_mut() {
                e["search"] = json!({"mode": "match"});
            }
            b["total"] = json!(entries.len());
        }
        b
    } else {
        let Some(performer) = params
            .iter()
            .find(|(n, _)| n == "performer")
            .map(|(_, v)| v.trim())
            .filter(|v| !v.is_empty())
        else {
            return Err(FhirError::new(
                StatusCode::BAD_REQUEST,
                "required",
                "Name the practitioner or organisation: $performer-view?performer=NAME",
            ));
        };
        performer_bundle(plan, performer, &base)
    };
    if !withheld.is_empty() {
        notes.push(withheld_issue(&withheld));
        let label = json!({"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue", "code": "REDACTED", "display": "redacted"});
        bundle["meta"] = json!({"security": [label]});
    }
    let searchset = bundle["type"] == "searchset";
    if !notes.is_empty()
        && let Some(entries) = bundle["entry"].as_array_mut()
    {
        let mut e = json!({"resource": outcome(&notes)});
        if searchset {
            e["search"] = json!({"mode": "outcome"});
        }
        entries.push(e);
    }
    Ok(fhir_response(StatusCode::OK, &bundle))
}
