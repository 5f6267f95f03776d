//! The audit trail as FHIR `AuditEvent`s (`GET /fhir/AuditEvent?patient=…`, `GET
//! /fhir/AuditEvent/{seq}`): who read or changed a person's plan, when, whether it was allowed,
//! and each override of their consent preferences (a data controller's release) as PRODUCT.md
//! maps it: BTG as the agent's `purposeOfUse` (and the event's `purposeOfEvent`, R4's name for
//! it), and the release itself with DICOM 110127 "Emergency Override Started".
//!
//! Who may read it is the JSON API's rule (`/api/v1/audit`): a data controller (or the system)
//! any of it, the person or their representative the entries about their own plan, nobody else.
//! The account is checked in the database, never taken from memory: reading the trail is not
//! itself an audited read that would confirm it.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use careplan_fhir::terminology::{self as t, cs};
use careplan_model::{PlanId, Role};
use careplan_store::audit::{AuditFilter, AuditRecord, action};
use serde_json::{Value, json};

use super::search::{DEFAULT_COUNT, MAX_COUNT, encode, handle_unknown};
use super::{FhirError, FhirResult, Issue, base_url, check_format_uri, fhir_response, outcome};
use crate::api::{AuditRefusal, may_read_audit};
use crate::extract::Signed;
use crate::{AppState, Problem};

const DICOM: &str = "http://dicom.nema.org/resources/ontology/DCM";
const ACT_REASON: &str = "http://terminology.hl7.org/CodeSystem/v3-ActReason";
const ACTOR_ID: &str = "https://careplan.example/fhir/Id/actor";
const RELEASE_ID: &str = "https://careplan.example/fhir/Id/release";

/// The search parameters of AuditEvent, for the CapabilityStatement.
pub(crate) const SEARCH_PARAMS: [(&str, &str, &str); 2] = [
    (
        "patient",
        "reference",
        "The person whose plan the entries are about (Patient/id, id or NHS number); required unless you are a data controller",
    ),
    (
        "_count",
        "number",
        "Entries per page, oldest first (default 50, at most 500); the next link pages on",
    ),
];

/// One audit record as an R4 AuditEvent.
pub(crate) fn audit_event(r: &AuditRecord) -> Value {
    let (kind, verb) = match r.action.as_str() {
        action::CREATE_PLAN => (("110110", "Patient Record"), "C"),
        action::WRITE => (("110110", "Patient Record"), "U"),
        action::RELEASE_CREATED => (("110113", "Security Alert"), "E"),
        _ => (("110110", "Patient Record"), "R"),
    };
    let mut subtype = vec![];
    if t::display(cs::AUDIT_ACTION, &r.action).is_some() {
        subtype.push(t::coding_fixed(cs::AUDIT_ACTION, &r.action));
    }
    if r.action == action::RELEASE_CREATED {
        subtype.push(
            json!({"system": DICOM, "code": "110127", "display": "Emergency Override Started"}),
        );
    }
    let mut event = json!({
        "resourceType": "AuditEvent",
        "id": r.seq.to_string(),
        "type": {"system": DICOM, "code": kind.0, "display": kind.1},
        "action": verb,
        "recorded": r.at,
        "outcome": if r.outcome == "allowed" { "0" } else { "4" },
        "source": {"observer": {"display": "careplan"}},
    });
    if !subtype.is_empty() {
        event["subtype"] = json!(subtype);
    }
    if r.outcome != "allowed" || !r.detail.is_empty() {
        let desc = if r.detail.is_empty() {
            "Refused".to_owned()
        } else {
            r.detail.clone()
        };
        event["outcomeDesc"] = json!(desc);
    }
    let overrides = r.override_release.is_some() || r.action == action::RELEASE_CREATED;
    let btg = json!([{"coding": [
        {"system": ACT_REASON, "code": "BTG", "display": "break the glass"}
    ]}]);
    if overrides {
        // R4 names the event's reason purposeOfEvent and the agent's purposeOfUse.
        event["purposeOfEvent"] = btg.clone();
    }
    let mut agent = json!({
        "who": {"identifier": {"system": ACTOR_ID, "value": r.actor_id}, "display": r.actor_name},
        "requestor": true,
    });
    if overrides {
        agent["purposeOfUse"] = btg;
    }
    if let Ok(role) = serde_json::from_value::<Role>(json!(r.actor_role)) {
        agent["role"] = json!([{"coding": [t::coding(cs::ROLE, &role)]}]);
    }
    event["agent"] = json!([agent]);
    let mut entities = Vec::new();
    if let Some(person) = &r.person_id {
        entities.push(json!({"what": {"reference": format!("Patient/{person}")}}));
    }
    if let Some(plan) = &r.plan_id {
        let what = match r.version {
            Some(v) => format!("CarePlan/{plan}/_history/{v}"),
            None => format!("CarePlan/{plan}"),
        };
        entities.push(json!({"what": {"reference": what}}));
    }
    if let Some(release) = &r.override_release {
        entities.push(json!({
            "what": {"identifier": {"system": RELEASE_ID, "value": release}},
            "description": "The data controller's release (override) this access used",
        }));
    }
    if !entities.is_empty() {
        event["entity"] = json!(entities);
    }
    event
}

/// The refusal for a role that reads no audit trail.
fn not_theirs() -> FhirError {
    FhirError::new(
        StatusCode::FORBIDDEN,
        "forbidden",
        "Only a data controller, or the person about their own plan, may read the audit trail",
    )
}

/// Whether this account may read the audit trail, and of which plan: `Some(plan)` for one
/// plan, `None` for all of it (a data controller without `patient`).
async fn scope(
    state: &AppState,
    account: &Signed,
    patient: Option<&str>,
) -> FhirResult<Option<PlanId>> {
    let requester = account.0.requester();
    let plan = match patient {
        Some(p) => {
            let key = p.strip_prefix("Patient/").unwrap_or(p);
            Some(state.store.find_plan(key).await.map_err(|e| match e {
                careplan_store::StoreError::NotFound(_) => {
                    FhirError::not_found(format!("There is no Patient “{key}”"))
                }
                e => e.into(),
            })?)
        }
        None => None,
    };
    match may_read_audit(state, &requester, plan.as_ref()).await {
        Ok(()) => Ok(plan),
        Err(AuditRefusal::OwnPlanOnly) => Err(FhirError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "You may read the audit trail of your own plan only: search with patient= your Patient id or NHS number",
        )),
        Err(AuditRefusal::Role) => Err(not_theirs()),
        Err(AuditRefusal::Store(e)) => Err(e.into()),
    }
}

/// `GET /fhir/AuditEvent?patient=…&_count=…`: a page of the trail, oldest first.
pub(crate) async fn search(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    account: Result<Signed, Problem>,
) -> FhirResult<Response> {
    check_format_uri(&uri, &headers)?;
    let account = account?;
    let params = super::params_of(&uri);
    let mut patient = None;
    let mut count = DEFAULT_COUNT;
    let mut after = 0u64;
    let mut unknown = Vec::new();
    for (name, value) in &params {
        match name.as_str() {
            "patient" => patient = Some(value.clone()),
            "_count" => {
                count = value
                    .parse::<usize>()
                    .ok()
                    .filter(|n| (1..=MAX_COUNT).contains(n))
                    .ok_or_else(|| {
                        FhirError::bad_request(format!(
                            "_count must be a whole number from 1 to {MAX_COUNT}"
                        ))
                        .with_expression("_count")
                    })?;
            }
            "_after" => {
                after = value.parse().map_err(|_| {
                    FhirError::bad_request("_after is the page's position (from a next link)")
                })?;
            }
            "_format" => {}
            other => unknown.push(
                Issue::warning(
                    "not-supported",
                    format!("The search parameter “{other}” is not supported for AuditEvent and was not used"),
                )
                .at(other.to_owned()),
            ),
        }
    }
    let warnings = handle_unknown(&headers, unknown)?;
    let plan = scope(&state, &account, patient.as_deref()).await?;
    let records = state
        .store
        .audit_records(AuditFilter {
            plan_id: plan,
            after_seq: after,
            limit: u32::try_from(count).unwrap_or(u32::MAX),
            ..AuditFilter::default()
        })
        .await?;
    let base = base_url(&headers);
    let here = |after: u64| {
        let mut q = vec![format!("_count={count}")];
        if let Some(p) = &patient {
            q.push(format!("patient={}", encode(p)));
        }
        if after > 0 {
            q.push(format!("_after={after}"));
        }
        format!("{base}/AuditEvent?{}", q.join("&"))
    };
    let mut links = vec![json!({"relation": "self", "url": here(after)})];
    if records.len() == count
        && let Some(last) = records.last()
    {
        links.push(json!({"relation": "next", "url": here(last.seq)}));
    }
    let mut entries: Vec<Value> = records
        .iter()
        .map(|r| {
            json!({"fullUrl": format!("{base}/AuditEvent/{}", r.seq),
                   "resource": audit_event(r), "search": {"mode": "match"}})
        })
        .collect();
    if !warnings.is_empty() {
        entries.push(json!({"resource": outcome(&warnings), "search": {"mode": "outcome"}}));
    }
    let bundle =
        json!({"resourceType": "Bundle", "type": "searchset", "link": links, "entry": entries});
    Ok(fhir_response(StatusCode::OK, &bundle))
}

/// `GET /fhir/AuditEvent/{seq}`: one entry, under the same rule as the search.
pub(crate) async fn read(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    uri: Uri,
    account: Result<Signed, Problem>,
) -> FhirResult<Response> {
    check_format_uri(&uri, &headers)?;
    let account = account?;
    let missing = || FhirError::not_found(format!("There is no AuditEvent “{id}”"));
    let seq: u64 = id.parse().map_err(|_| missing())?;
    let record = state
        .store
        .audit_records(AuditFilter {
            after_seq: seq.saturating_sub(1),
            limit: 1,
            ..AuditFilter::default()
        })
        .await?
        .into_iter()
        .find(|r| r.seq == seq)
        .ok_or_else(missing)?;
    let requester = account.0.requester();
    let allowed = match requester.role {
        Role::DataController | Role::System => true,
        Role::Person | Role::Representative => match (&record.person_id, &requester.person) {
            (Some(about), Some(me)) => about == me.as_str(),
            _ => false,
        },
        _ => false,
    };
    if !allowed {
        // Whether an entry exists about someone else is not told.
        return Err(match requester.role {
            Role::Person | Role::Representative => missing(),
            _ => not_theirs(),
        });
    }
    Ok(fhir_response(StatusCode::OK, &audit_event(&record)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every action the store records has a code, so no AuditEvent loses what was done.
    #[test]
    fn csp1_every_audited_action_has_a_code() {
        for a in action::ALL {
            assert!(
                t::display(cs::AUDIT_ACTION, a).is_some(),
                "the audit-action CodeSystem lacks {a}"
            );
        }
    }
}
