//! The plan as FHIR R4 resources and Bundles.
//!
//! Every resource's id is stable: an item keeps its item id, the CarePlan has the plan's id and
//! the Patient the person's id. Resources that stand for the plan as a whole (its care team, the
//! person's order of goals, the review task, each version's Provenance) have ids derived from
//! the plan's id. Every resource carries `meta.versionId` and `meta.lastUpdated` of the plan's
//! version (CSP-14: a change anywhere in the plan is a new version of all of it), except
//! Provenance, which records one version and never changes (`versionId` 1, `lastUpdated` the
//! version's time).

use std::collections::HashMap;

use careplan_model::Change;
use careplan_model::{
    Action, ActionStatus, AgreedBy, Agreement, AgreementOutcome, Attachment, Audience,
    BestInterestDecision, CapacityAssessment, CareTeamMember, Comment, Concern, ConsentPreference,
    ConsentScope, Goal, GoalStatus, Hyperlink, ItemId, ItemKind, ItemMeta, Need, Outcome,
    PerformerKind, Plan, PlanStatus, Problem, ProgressRecord, Purpose, RaisedBy, Role, Stamp,
    Strength, Suggestion, SuggestionStatus, Target, Timestamp, VersionNumber, focus_of,
};
use serde_json::{Map, Value, json};

use crate::terminology::{
    self as t, CONDITION_CATEGORY, CONDITION_CLINICAL, CONSENT_SCOPE, GOAL_ACHIEVEMENT,
    GOAL_PRIORITY, LIST_ORDER, LOINC, NHS_NUMBER, PERTAINS_TO_GOAL, PROVENANCE_PARTICIPANT,
    PRSB_POLICY, SCT_CARE_PLAN, SNOMED, V3_DATA_OPERATION, V3_OBSERVATION_VALUE,
    V3_PARTICIPATION_TYPE, V3_ROLE_CODE, cs, ext, extension_url,
};

/// One committed version of the plan, as Provenance records it: its number, when, who (name
/// and role) and the command that made it. The store knows these; the model's plan does not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionMeta {
    pub number: VersionNumber,
    pub at: Timestamp,
    pub actor_name: String,
    pub actor_role: Role,
    /// The command's name as it appears in JSON (`add_goal`).
    pub command: String,
}

impl VersionMeta {
    /// The version a stamp describes, made by `command` (a command name such as `add_goal`).
    pub fn from_stamp(stamp: &Stamp, command: &str) -> Self {
        Self {
            number: stamp.version,
            at: stamp.at,
            actor_name: stamp.by.name.to_string(),
            actor_role: stamp.by.role,
            command: command.to_owned(),
        }
    }
}

/// The FHIR resource types a plan is exported as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ResourceKind {
    Patient,
    CarePlan,
    CareTeam,
    Condition,
    Goal,
    List,
    Task,
    Observation,
    Consent,
    DocumentReference,
    Provenance,
}

impl ResourceKind {
    pub const ALL: [ResourceKind; 11] = [
        ResourceKind::Patient,
        ResourceKind::CarePlan,
        ResourceKind::CareTeam,
        ResourceKind::Condition,
        ResourceKind::Goal,
        ResourceKind::List,
        ResourceKind::Task,
        ResourceKind::Observation,
        ResourceKind::Consent,
        ResourceKind::DocumentReference,
        ResourceKind::Provenance,
    ];

    /// The FHIR resource type name.
    pub fn as_str(self) -> &'static str {
        match self {
            ResourceKind::Patient => "Patient",
            ResourceKind::CarePlan => "CarePlan",
            ResourceKind::CareTeam => "CareTeam",
            ResourceKind::Condition => "Condition",
            ResourceKind::Goal => "Goal",
            ResourceKind::List => "List",
            ResourceKind::Task => "Task",
            ResourceKind::Observation => "Observation",
            ResourceKind::Consent => "Consent",
            ResourceKind::DocumentReference => "DocumentReference",
            ResourceKind::Provenance => "Provenance",
        }
    }

    /// The kind with this FHIR type name.
    pub fn parse(name: &str) -> Option<ResourceKind> {
        ResourceKind::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

/// The id of a resource that stands for the whole plan: the plan's id and a suffix, kept within
/// FHIR's 64 characters by shortening the plan's id from the front if it must.
pub fn derived_id(plan: &Plan, suffix: &str) -> String {
    let tail = format!("-{suffix}");
    let room = 64usize.saturating_sub(tail.len());
    let id = plan.id.as_str();
    let start = id.len().saturating_sub(room);
    format!("{}{tail}", &id[start..])
}

/// The id of the Provenance of version `number`.
pub fn provenance_id(plan: &Plan, number: VersionNumber) -> String {
    derived_id(plan, &format!("v{number}"))
}

/// Suffixes of the derived ids.
pub(crate) const CARE_TEAM_SUFFIX: &str = "care-team";
pub(crate) const GOAL_ORDER_SUFFIX: &str = "goal-order";
pub(crate) const REVIEW_SUFFIX: &str = "review";

/// Where the JSON API will serve an attachment's bytes, relative to the server's root:
/// `/api/v1/people/{person}/plan/attachments/{id}/content`. The address is exported as
/// `DocumentReference.content.attachment.url`.
pub fn attachment_content_path(person_id: &str, attachment_id: &str) -> String {
    format!("/api/v1/people/{person_id}/plan/attachments/{attachment_id}/content")
}

/// Puts each attached file's bytes into its `DocumentReference` as `content.attachment.data`
/// (base64), so that the Bundle carries the files as well as their records. `files` holds the
/// bytes by SHA-256 (lower-case hex); an attachment whose digest is not there is left as it
/// was. Returns how many attachments now carry their file.
pub fn inline_files(bundle: &mut Value, files: &HashMap<String, Vec<u8>>) -> usize {
    use base64::Engine as _;
    let mut inlined = 0;
    let url = extension_url(ext::ATTACHMENT_SHA256);
    let property = t::extension(ext::ATTACHMENT_SHA256)
        .expect("the attachment-sha256 extension is defined")
        .value
        .property();
    let Some(entries) = bundle.get_mut("entry").and_then(Value::as_array_mut) else {
        return 0;
    };
    for entry in entries {
        let resource = &mut entry["resource"];
        if resource["resourceType"] != "DocumentReference" {
            continue;
        }
        let Some(attachment) = resource
            .pointer_mut("/content/0/attachment")
            .and_then(Value::as_object_mut)
        else {
            continue;
        };
        let digest = attachment
            .get("extension")
            .and_then(Value::as_array)
            .and_then(|exts| {
                exts.iter()
                    .find(|e| e["url"].as_str() == Some(url.as_str()))
            })
            .and_then(|e| e[property].as_str());
        if let Some(bytes) = digest.and_then(|d| files.get(d)) {
            attachment.insert(
                "data".into(),
                json!(base64::engine::general_purpose::STANDARD.encode(bytes)),
            );
            inlined += 1;
        }
    }
    inlined
}

/// The FHIR resource type an item of this kind is exported as, when it has one of its own
/// (care team members are CareTeam participants and comments Annotations; the steps to maximise
/// capacity are CarePlan extensions).
pub(crate) fn item_resource_type(kind: ItemKind) -> Option<&'static str> {
    match kind {
        ItemKind::Need | ItemKind::Concern | ItemKind::Problem => Some("Condition"),
        ItemKind::Goal => Some("Goal"),
        ItemKind::Action | ItemKind::Suggestion => Some("Task"),
        ItemKind::Strength
        | ItemKind::Progress
        | ItemKind::Outcome
        | ItemKind::CapacityAssessment
        | ItemKind::BestInterestDecision => Some("Observation"),
        ItemKind::Agreement | ItemKind::ConsentPreference => Some("Consent"),
        ItemKind::Attachment | ItemKind::Hyperlink => Some("DocumentReference"),
        _ => None,
    }
}

/// One resource of the plan by type and id, as a server's read returns it. Provenance is not
/// found here: it needs the versions, see [`provenance`].
pub fn resource(plan: &Plan, kind: ResourceKind, id: &str) -> Option<Value> {
    let item = ItemId::parse(id).ok();
    let item_kind = item.as_ref().and_then(|i| plan.kind_of(i));
    let x = Exporter::new(plan);
    match (kind, item_kind, item) {
        (ResourceKind::Patient, ..) => (id == plan.details.person_id.as_str()).then(|| x.patient()),
        (ResourceKind::CarePlan, ..) => (id == plan.id.as_str()).then(|| x.care_plan(None)),
        (ResourceKind::CareTeam, ..) => {
            (id == derived_id(plan, CARE_TEAM_SUFFIX)).then(|| x.care_team())?
        }
        (ResourceKind::List, ..) => {
            (id == derived_id(plan, GOAL_ORDER_SUFFIX)).then(|| x.goal_order())?
        }
        (ResourceKind::Condition, Some(ItemKind::Need), Some(i)) => {
            Some(x.need(&i, &plan.needs[&i]))
        }
        (ResourceKind::Condition, Some(ItemKind::Concern), Some(i)) => {
            Some(x.concern(&i, &plan.concerns[&i]))
        }
        (ResourceKind::Condition, Some(ItemKind::Problem), Some(i)) => {
            Some(x.problem(&i, &plan.problems[&i]))
        }
        (ResourceKind::Goal, Some(ItemKind::Goal), Some(i)) => Some(x.goal(&i, &plan.goals[&i])),
        (ResourceKind::Task, Some(ItemKind::Action), Some(i)) => {
            Some(x.task(&i, &plan.actions[&i]))
        }
        (ResourceKind::Task, Some(ItemKind::Suggestion), Some(i)) => {
            Some(x.suggestion(&i, &plan.suggestions[&i]))
        }
        (ResourceKind::Task, ..) => (id == derived_id(plan, REVIEW_SUFFIX)).then(|| x.review())?,
        (ResourceKind::Observation, Some(ItemKind::Strength), Some(i)) => {
            Some(x.strength(&i, &plan.strengths[&i]))
        }
        (ResourceKind::Observation, Some(ItemKind::Progress), Some(i)) => {
            Some(x.progress(&i, &plan.progress[&i]))
        }
        (ResourceKind::Observation, Some(ItemKind::Outcome), Some(i)) => {
            Some(x.outcome(&i, &plan.outcomes[&i]))
        }
        (ResourceKind::Observation, Some(ItemKind::CapacityAssessment), Some(i)) => {
            Some(x.capacity_assessment(&i, &plan.capacity_assessments[&i]))
        }
        (ResourceKind::Observation, Some(ItemKind::BestInterestDecision), Some(i)) => {
            Some(x.best_interest(&i, &plan.best_interest_decisions[&i]))
        }
        (ResourceKind::Consent, Some(ItemKind::Agreement), Some(i)) => {
            Some(x.agreement(&i, &plan.agreements[&i]))
        }
        (ResourceKind::Consent, Some(ItemKind::ConsentPreference), Some(i)) => {
            Some(x.preference(&i, &plan.consent[&i]))
        }
        (ResourceKind::DocumentReference, Some(ItemKind::Attachment), Some(i)) => {
            Some(x.attachment(&i, &plan.attachments[&i]))
        }
        (ResourceKind::DocumentReference, Some(ItemKind::Hyperlink), Some(i)) => {
            Some(x.hyperlink(&i, &plan.hyperlinks[&i]))
        }
        _ => None,
    }
}

/// Every resource of the plan (archived items included, marked with the `archived` extension
/// and their FHIR status), Provenance excepted: Patient, CarePlan, CareTeam, Conditions,
/// strength Observations, Goals, the goal order List, Tasks (actions, then suggested changes to
/// them, then the review), progress and outcome Observations, capacity assessment and best-interest decision Observations, DocumentReferences
/// (attachments, then hyperlinks), Consents.
pub fn resources(plan: &Plan) -> Vec<Value> {
    let x = Exporter::new(plan);
    let mut out = vec![x.patient(), x.care_plan(None)];
    out.extend(x.care_team());
    out.extend(plan.needs.iter().map(|(id, n)| x.need(id, n)));
    out.extend(plan.concerns.iter().map(|(id, c)| x.concern(id, c)));
    out.extend(plan.problems.iter().map(|(id, p)| x.problem(id, p)));
    out.extend(plan.strengths.iter().map(|(id, s)| x.strength(id, s)));
    out.extend(plan.goals.iter().map(|(id, g)| x.goal(id, g)));
    out.extend(x.goal_order());
    out.extend(plan.actions.iter().map(|(id, a)| x.task(id, a)));
    out.extend(plan.suggestions.iter().map(|(id, s)| x.suggestion(id, s)));
    out.extend(x.review());
    out.extend(plan.progress.iter().map(|(id, p)| x.progress(id, p)));
    out.extend(plan.outcomes.iter().map(|(id, o)| x.outcome(id, o)));
    out.extend(
        plan.capacity_assessments
            .iter()
            .map(|(id, a)| x.capacity_assessment(id, a)),
    );
    out.extend(
        plan.best_interest_decisions
            .iter()
            .map(|(id, d)| x.best_interest(id, d)),
    );
    out.extend(plan.attachments.iter().map(|(id, a)| x.attachment(id, a)));
    out.extend(plan.hyperlinks.iter().map(|(id, h)| x.hyperlink(id, h)));
    out.extend(plan.agreements.iter().map(|(id, a)| x.agreement(id, a)));
    out.extend(plan.consent.iter().map(|(id, p)| x.preference(id, p)));
    out
}

/// The Provenance of one version of the plan: who made it, when, and with which command.
pub fn provenance(plan: &Plan, version: &VersionMeta) -> Value {
    let operation = if version.number == VersionNumber::FIRST {
        ("CREATE", "create")
    } else {
        ("UPDATE", "revise")
    };
    json!({
        "resourceType": "Provenance",
        "id": provenance_id(plan, version.number),
        "meta": {"versionId": "1", "lastUpdated": version.at.to_string()},
        "target": [{"reference": format!("CarePlan/{}/_history/{}", plan.id, version.number)}],
        "recorded": version.at.to_string(),
        "activity": {
            "coding": [{"system": V3_DATA_OPERATION, "code": operation.0, "display": operation.1}],
            "text": version.command,
        },
        "agent": [{
            "type": {"coding": [{"system": PROVENANCE_PARTICIPANT, "code": "author", "display": "Author"}]},
            "role": [{"coding": [t::coding(cs::ROLE, &version.actor_role)]}],
            "who": {"display": version.actor_name},
        }],
    })
}

/// The whole plan as a FHIR `collection` Bundle: every resource of [`resources`] and the
/// Provenance of each version in `versions`. Every entry has a `fullUrl` under `base` (the FHIR
/// server's base URL, such as `https://example.org/fhir`), so a server can turn it into a
/// `searchset` by adding `search.mode` to each entry.
pub fn plan_bundle(plan: &Plan, versions: &[VersionMeta], base: &str) -> Value {
    let mut all = resources(plan);
    all.extend(versions.iter().map(|v| provenance(plan, v)));
    bundle("collection", &plan.last_updated, all, base)
}

/// The plan as a FHIR `document` Bundle: a `Composition` first, then the Patient, the CarePlan
/// and every item of the plan's current view (archived items are left out), as the plan was at
/// its version. `author` is who made that version. The Composition's sections follow the
/// standard's (the plan itself and its review; strengths; needs, concerns and problems; goals and hopes; actions and suggested
/// changes; progress and outcomes; mental capacity; agreement; access preferences; attachments
/// and links; the care team) and reference their entries; when an agreement agreed exactly
/// this version, its maker attests the document (`personal` for the person, `legal` for a
/// representative). So `CarePlan/{id}/_history/{n}` of an agreement becomes a document a
/// person or another system can keep.
pub fn document(plan: &Plan, author: &str, base: &str) -> Value {
    let archived_url = extension_url(ext::ARCHIVED);
    let (archived, active): (Vec<Value>, Vec<Value>) = resources(plan).into_iter().partition(|r| {
        r["extension"].as_array().is_some_and(|exts| {
            exts.iter()
                .any(|e| e["url"].as_str() == Some(archived_url.as_str()))
        })
    });
    let code = |r: &Value| {
        r.pointer("/code/coding/0/code")
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let scope = |r: &Value| {
        r.pointer("/scope/coding/0/code")
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    type Pick = fn(&Value, Option<String>, Option<String>) -> bool;
    let sections: [(&str, Pick); 11] = [
        ("The plan", |r, code, _| {
            r["resourceType"] == "CarePlan"
                || r["resourceType"] == "Task" && code.as_deref() == Some("plan-review")
        }),
        ("Strengths", |r, code, _| {
            r["resourceType"] == "Observation" && code.as_deref() == Some("strength")
        }),
        ("Needs, concerns and problems", |r, _, _| {
            r["resourceType"] == "Condition"
        }),
        ("Goals and hopes", |r, _, _| {
            r["resourceType"] == "Goal" || r["resourceType"] == "List"
        }),
        ("Actions", |r, code, _| {
            r["resourceType"] == "Task" && code.as_deref() != Some("plan-review")
        }),
        ("Progress and outcomes", |r, code, _| {
            r["resourceType"] == "Observation"
                && matches!(code.as_deref(), Some("goal-progress" | "goal-outcome"))
        }),
        ("Mental capacity", |r, code, _| {
            r["resourceType"] == "Observation"
                && matches!(
                    code.as_deref(),
                    Some("capacity-assessment" | "best-interest-decision")
                )
        }),
        ("Agreement", |r, _, scope| {
            r["resourceType"] == "Consent" && scope.as_deref() == Some("treatment")
        }),
        ("Access preferences", |r, _, scope| {
            r["resourceType"] == "Consent" && scope.as_deref() == Some("patient-privacy")
        }),
        ("Attachments and links", |r, _, _| {
            r["resourceType"] == "DocumentReference"
        }),
        ("Care team", |r, _, _| r["resourceType"] == "CareTeam"),
    ];
    let refer = |r: &Value| {
        reference(format!(
            "{}/{}",
            r["resourceType"].as_str().unwrap_or_default(),
            r["id"].as_str().unwrap_or_default()
        ))
    };
    let mut section: Vec<Value> = sections
        .iter()
        .filter_map(|(title, pick)| {
            let entry: Vec<Value> = active
                .iter()
                .filter(|r| pick(r, code(r), scope(r)))
                .map(refer)
                .collect();
            (!entry.is_empty()).then(|| json!({"title": title, "entry": entry}))
        })
        .collect();
    // Archived items are no longer part of the plan, but what is still in it may name them (a
    // goal the need it addressed): they come last, in a section of their own.
    if !archived.is_empty() {
        section.push(json!({
            "title": "No longer part of the plan (archived)",
            "entry": archived.iter().map(refer).collect::<Vec<_>>(),
        }));
    }
    let person = plan.person.person.display_name();
    let id = format!("{}-v{}", plan.id, plan.version);
    let mut composition = json!({
        "resourceType": "Composition",
        "id": id,
        "status": "final",
        "type": {"coding": [{"system": SNOMED, "code": SCT_CARE_PLAN.0, "display": SCT_CARE_PLAN.1}]},
        "subject": {"reference": format!("Patient/{}", plan.details.person_id), "display": person},
        "date": plan.last_updated.to_string(),
        "author": [{"display": author}],
        "title": format!("Care and support plan of {person}, version {}", plan.version),
        "section": section,
    });
    let agreed = plan.agreements.iter().find(|(_, a)| {
        a.meta.is_active()
            && a.agreed_version == plan.version
            && matches!(a.outcome, AgreementOutcome::Agreed { .. })
    });
    if let Some((_, a)) = agreed
        && let AgreementOutcome::Agreed { by } = &a.outcome
    {
        let (mode, party) = match by {
            AgreedBy::Person => ("personal", person.clone()),
            AgreedBy::Representative {
                name, relationship, ..
            } => ("legal", format!("{name} ({relationship})")),
        };
        composition["attester"] = json!([{
            "mode": mode,
            "time": a.meta.added.at.to_string(),
            "party": {"display": party},
        }]);
    }
    let mut all = vec![composition];
    all.extend(active);
    all.extend(archived);
    let mut b = bundle("document", &plan.last_updated, all, base);
    b["identifier"] = json!({"system": "urn:ietf:rfc:3986", "value": format!("urn:careplan:{}:v{}", plan.id, plan.version)});
    b
}

/// A Bundle of `type` with one entry per resource, each with its `fullUrl` under `base`.
pub fn bundle(kind: &str, timestamp: &Timestamp, resources: Vec<Value>, base: &str) -> Value {
    let base = base.trim_end_matches('/');
    let entry: Vec<Value> = resources
        .into_iter()
        .map(|r| {
            let url = format!(
                "{base}/{}/{}",
                r["resourceType"].as_str().unwrap_or_default(),
                r["id"].as_str().unwrap_or_default()
            );
            json!({"fullUrl": url, "resource": r})
        })
        .collect();
    json!({
        "resourceType": "Bundle",
        "type": kind,
        "timestamp": timestamp.to_string(),
        "total": if kind == "searchset" { Some(entry.len()) } else { None },
        "entry": entry,
    })
    .as_object()
    .map(|o| {
        Value::Object(
            o.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        )
    })
    .unwrap_or_default()
}

/// CSP-10: the CarePlan restricted to the goals and actions whose performer is `performer` (a
/// practitioner's name or an organisation, ignoring case), with the needs those goals address
/// and the strengths they draw on. It is tagged `SUBSETTED`: it is a part of the plan, for that
/// professional's own system, not the whole of it.
pub fn care_plan_for_performer(plan: &Plan, performer: &str) -> Value {
    let focus = focus_of(plan, performer);
    Exporter::new(plan).care_plan(Some(&focus))
}

/// CSP-10 as a Bundle: the restricted CarePlan, the Patient, and the Goals, Tasks, Conditions
/// and strength Observations it references.
pub fn performer_bundle(plan: &Plan, performer: &str, base: &str) -> Value {
    let focus = focus_of(plan, performer);
    let x = Exporter::new(plan);
    let mut out = vec![x.patient(), x.care_plan(Some(&focus))];
    let goals: Vec<&Goal> = focus.goals.iter().map(|g| &plan.goals[g]).collect();
    for (id, n) in plan.needs.iter() {
        if goals.iter().any(|g| g.addresses.contains(id)) {
            out.push(x.need(id, n));
        }
    }
    for (id, c) in plan.concerns.iter() {
        if goals.iter().any(|g| g.addresses.contains(id)) {
            out.push(x.concern(id, c));
        }
    }
    for (id, p) in plan.problems.iter() {
        if goals.iter().any(|g| g.addresses.contains(id)) {
            out.push(x.problem(id, p));
        }
    }
    for (id, s) in plan.strengths.iter() {
        if goals.iter().any(|g| g.strengths.contains(id)) {
            out.push(x.strength(id, s));
        }
    }
    out.extend(focus.goals.iter().map(|g| x.goal(g, &plan.goals[g])));
    out.extend(focus.actions.iter().map(|a| x.task(a, &plan.actions[a])));
    bundle("collection", &plan.last_updated, out, base)
}

/// Builds resources for one plan.
struct Exporter<'p> {
    plan: &'p Plan,
}

/// The Goal.priority code derived from a 1–10 priority: 8–10 high, 4–7 medium, 1–3 low.
pub fn goal_priority_code(priority: u8) -> (&'static str, &'static str) {
    match priority {
        8.. => ("high-priority", "High Priority"),
        4..=7 => ("medium-priority", "Medium Priority"),
        _ => ("low-priority", "Low Priority"),
    }
}

/// True when comments on items of this kind travel in the item's own `note`.
pub(crate) fn has_note(kind: ItemKind) -> bool {
    matches!(
        kind,
        ItemKind::Need
            | ItemKind::Concern
            | ItemKind::Problem
            | ItemKind::Goal
            | ItemKind::Action
            | ItemKind::Strength
            | ItemKind::Progress
            | ItemKind::Outcome
            | ItemKind::CapacityAssessment
            | ItemKind::BestInterestDecision
            | ItemKind::Suggestion
    )
}

/// The FHIR `Task.status` of an action with this status (and of the status a suggestion
/// proposes).
pub(crate) fn task_status(status: ActionStatus) -> &'static str {
    match status {
        ActionStatus::NotStarted => "ready",
        ActionStatus::InProgress => "in-progress",
        ActionStatus::OnHold => "on-hold",
        ActionStatus::Completed => "completed",
        ActionStatus::Cancelled => "cancelled",
    }
}

fn reference(target: String) -> Value {
    json!({ "reference": target })
}

fn extension(name: &str, value: Value) -> Value {
    let def = t::extension(name).unwrap_or_else(|| panic!("no extension named {name}"));
    let mut o = Map::new();
    o.insert("url".into(), Value::String(extension_url(name)));
    o.insert(def.value.property().into(), value);
    Value::Object(o)
}

/// Inserts `key` only when the list is not empty (FHIR forbids empty arrays).
fn put_list(o: &mut Map<String, Value>, key: &str, list: Vec<Value>) {
    if !list.is_empty() {
        o.insert(key.into(), Value::Array(list));
    }
}

fn put(o: &mut Map<String, Value>, key: &str, value: Option<Value>) {
    if let Some(v) = value {
        o.insert(key.into(), v);
    }
}

fn archived(meta: &ItemMeta) -> Vec<Value> {
    match &meta.archived {
        None => Vec::new(),
        Some(a) => {
            let mut out = vec![extension(ext::ARCHIVED, json!(a.stamp.at.to_string()))];
            if let Some(reason) = &a.reason {
                out.push(extension(ext::ARCHIVE_REASON, json!(reason.as_str())));
            }
            out
        }
    }
}

fn priority_ext(p: Option<careplan_model::Priority>) -> Option<Value> {
    p.map(|p| extension(ext::PRIORITY, json!(p.get())))
}

fn raised_by_reference(by: RaisedBy) -> Value {
    let kind = match by {
        RaisedBy::Person => "Patient",
        RaisedBy::Carer => "RelatedPerson",
        RaisedBy::Professional => "Practitioner",
    };
    json!({"type": kind, "display": by.label()})
}

impl<'p> Exporter<'p> {
    fn new(plan: &'p Plan) -> Self {
        Self { plan }
    }

    fn meta(&self) -> Value {
        json!({
            "versionId": self.plan.version.to_string(),
            "lastUpdated": self.plan.last_updated.to_string(),
        })
    }

    /// A resource's common start: type, id, meta.
    fn start(&self, kind: &str, id: &str) -> Map<String, Value> {
        let mut o = Map::new();
        o.insert("resourceType".into(), json!(kind));
        o.insert("id".into(), json!(id));
        o.insert("meta".into(), self.meta());
        o
    }

    fn patient_ref(&self) -> Value {
        json!({
            "reference": format!("Patient/{}", self.plan.details.person_id),
            "display": self.plan.person.person.display_name(),
        })
    }

    fn care_plan_ref(&self) -> Value {
        reference(format!("CarePlan/{}", self.plan.id))
    }

    fn annotation(&self, id: &ItemId, c: &Comment) -> Value {
        let mut o = Map::new();
        o.insert("id".into(), json!(id));
        let mut exts = Vec::new();
        match &c.target {
            Target::Section { section } => {
                exts.push(extension(
                    ext::COMMENT_SECTION,
                    t::coding(cs::PLAN_SECTION, section),
                ));
            }
            Target::Item { item } => {
                let carried = self.plan.kind_of(item).is_some_and(has_note);
                if !carried {
                    exts.push(extension(ext::COMMENT_ON_ITEM, json!(item)));
                }
            }
            Target::Plan => {}
        }
        exts.extend(archived(&c.meta));
        put_list(&mut o, "extension", exts);
        o.insert("authorString".into(), json!(c.meta.added.by.name));
        o.insert("time".into(), json!(c.meta.added.at.to_string()));
        o.insert("text".into(), json!(c.text));
        Value::Object(o)
    }

    /// The comments on one item, as Annotations.
    fn notes(&self, item: &ItemId) -> Vec<Value> {
        self.plan
            .comments
            .iter()
            .filter(|(_, c)| matches!(&c.target, Target::Item { item: i } if i == item))
            .map(|(id, c)| self.annotation(id, c))
            .collect()
    }

    /// Comments on the plan, on a section, or on an item whose resource has no note.
    fn plan_notes(&self) -> Vec<Value> {
        self.plan
            .comments
            .iter()
            .filter(|(_, c)| match &c.target {
                Target::Plan | Target::Section { .. } => true,
                Target::Item { item } => !self.plan.kind_of(item).is_some_and(has_note),
            })
            .map(|(id, c)| self.annotation(id, c))
            .collect()
    }

    fn patient(&self) -> Value {
        let person = &self.plan.person.person;
        let mut o = self.start("Patient", self.plan.details.person_id.as_str());
        let mut identifiers = Vec::new();
        if let Some(nhs) = &person.nhs_number {
            identifiers.push(json!({"system": NHS_NUMBER, "value": nhs.as_str()}));
        }
        for other in &person.other_identifiers {
            identifiers.push(identifier(other.system.as_str(), other.value.as_str()));
        }
        put_list(&mut o, "identifier", identifiers);
        let mut names = vec![json!({
            "use": "official",
            "family": person.family_name,
            "given": [person.given_name],
        })];
        if let Some(preferred) = &person.preferred_name {
            names.push(json!({"use": "usual", "family": person.family_name, "given": [preferred]}));
        }
        o.insert("name".into(), Value::Array(names));
        o.insert("birthDate".into(), json!(person.date_of_birth.to_string()));
        Value::Object(o)
    }

    fn care_plan(&self, focus: Option<&careplan_model::Focus>) -> Value {
        let plan = self.plan;
        let mut o = self.start("CarePlan", plan.id.as_str());
        if focus.is_some() {
            o.insert(
                "meta".into(),
                json!({
                    "versionId": plan.version.to_string(),
                    "lastUpdated": plan.last_updated.to_string(),
                    "tag": [{"system": V3_OBSERVATION_VALUE, "code": "SUBSETTED", "display": "subsetted"}],
                }),
            );
        }
        let in_goals = |id: &ItemId| focus.is_none_or(|f| f.goals.contains(id));
        let focus_goals: Vec<&Goal> = plan
            .goals
            .iter()
            .filter(|(id, _)| in_goals(id))
            .map(|(_, g)| g)
            .collect();
        let mut exts = Vec::new();
        if focus.is_none()
            && let Some(f) = plan.funding.as_ref().filter(|f| f.meta.is_active())
        {
            exts.push(extension(
                ext::FUNDING_SOURCE,
                t::coding(cs::FUNDING_SOURCE, &f.source),
            ));
            if let Some(at) = &f.details_held_at {
                exts.push(extension(ext::FUNDING_DETAILS_HELD_AT, json!(at)));
            }
        }
        if focus.is_none()
            && let Some(c) = plan
                .capacity_support
                .as_ref()
                .filter(|c| c.meta.is_active())
        {
            if let Some(steps) = &c.steps_to_maximise_capacity {
                exts.push(extension(ext::CAPACITY_STEPS, json!(steps)));
            }
            if let Some(rights) = &c.rights_promotion {
                exts.push(extension(ext::RIGHTS_PROMOTION, json!(rights)));
            }
        }
        put_list(&mut o, "extension", exts);
        let status = match plan.details.status {
            PlanStatus::Draft => "draft",
            PlanStatus::Active => "active",
            PlanStatus::OnHold => "on-hold",
            PlanStatus::Completed => "completed",
            PlanStatus::Revoked => "revoked",
        };
        o.insert("status".into(), json!(status));
        o.insert("intent".into(), json!("plan"));
        o.insert(
            "category".into(),
            json!([{"coding": [{"system": SNOMED, "code": SCT_CARE_PLAN.0, "display": SCT_CARE_PLAN.1}]}]),
        );
        o.insert("subject".into(), self.patient_ref());
        if focus.is_none() && plan.care_team.values().next().is_some() {
            o.insert(
                "careTeam".into(),
                json!([reference(format!(
                    "CareTeam/{}",
                    derived_id(plan, CARE_TEAM_SUFFIX)
                ))]),
            );
        }
        let addressed =
            |id: &ItemId| focus.is_none() || focus_goals.iter().any(|g| g.addresses.contains(id));
        let mut addresses = Vec::new();
        for (id, meta) in plan
            .needs
            .iter()
            .map(|(id, n)| (id, &n.meta))
            .chain(plan.concerns.iter().map(|(id, c)| (id, &c.meta)))
            .chain(plan.problems.iter().map(|(id, p)| (id, &p.meta)))
        {
            if meta.is_active() && addressed(id) {
                addresses.push(reference(format!("Condition/{id}")));
            }
        }
        put_list(&mut o, "addresses", addresses);
        let mut supporting: Vec<Value> = plan
            .strengths
            .iter()
            .filter(|(id, s)| {
                s.meta.is_active()
                    && (focus.is_none() || focus_goals.iter().any(|g| g.strengths.contains(id)))
            })
            .map(|(id, _)| reference(format!("Observation/{id}")))
            .collect();
        if focus.is_none() {
            let documents = plan
                .attachments
                .iter()
                .filter(|(_, a)| a.meta.is_active())
                .map(|(id, _)| id)
                .chain(
                    plan.hyperlinks
                        .iter()
                        .filter(|(_, h)| h.meta.is_active())
                        .map(|(id, _)| id),
                );
            supporting.extend(documents.map(|id| reference(format!("DocumentReference/{id}"))));
        }
        put_list(&mut o, "supportingInfo", supporting);
        let goals: Vec<Value> = plan
            .goals_in_order()
            .into_iter()
            .filter(|(id, _)| in_goals(id))
            .map(|(id, _)| reference(format!("Goal/{id}")))
            .collect();
        put_list(&mut o, "goal", goals);
        let activity: Vec<Value> = plan
            .actions
            .iter()
            .filter(|(id, a)| a.meta.is_active() && focus.is_none_or(|f| f.actions.contains(id)))
            .map(|(id, _)| json!({"reference": reference(format!("Task/{id}"))}))
            .collect();
        put_list(&mut o, "activity", activity);
        if focus.is_none() {
            put_list(&mut o, "note", self.plan_notes());
        }
        Value::Object(o)
    }

    fn care_team(&self) -> Option<Value> {
        let plan = self.plan;
        if plan.care_team.is_empty() {
            return None;
        }
        let mut o = self.start("CareTeam", &derived_id(plan, CARE_TEAM_SUFFIX));
        o.insert("status".into(), json!("active"));
        o.insert("subject".into(), self.patient_ref());
        let participants: Vec<Value> = plan
            .care_team
            .iter()
            .map(|(id, m)| self.participant(id, m))
            .collect();
        o.insert("participant".into(), Value::Array(participants));
        Some(Value::Object(o))
    }

    fn participant(&self, id: &ItemId, m: &CareTeamMember) -> Value {
        let mut p = Map::new();
        p.insert("id".into(), json!(id));
        put_list(&mut p, "extension", archived(&m.meta));
        p.insert("role".into(), json!([{"text": m.role}]));
        p.insert("member".into(), json!({"display": m.name}));
        put(
            &mut p,
            "onBehalfOf",
            m.organisation.as_ref().map(|org| json!({"display": org})),
        );
        Value::Object(p)
    }

    fn condition(
        &self,
        id: &ItemId,
        meta: &ItemMeta,
        category: Vec<Value>,
        code: Value,
        importance: Option<careplan_model::Priority>,
    ) -> Map<String, Value> {
        let mut o = self.start("Condition", id.as_str());
        let mut exts: Vec<Value> = priority_ext(importance).into_iter().collect();
        exts.extend(archived(meta));
        put_list(&mut o, "extension", exts);
        let clinical = if meta.is_active() {
            ("active", "Active")
        } else {
            ("inactive", "Inactive")
        };
        o.insert(
            "clinicalStatus".into(),
            json!({"coding": [{"system": CONDITION_CLINICAL, "code": clinical.0, "display": clinical.1}]}),
        );
        o.insert("category".into(), Value::Array(category));
        o.insert("code".into(), code);
        o.insert("subject".into(), self.patient_ref());
        put_list(&mut o, "note", self.notes(id));
        o
    }

    fn need(&self, id: &ItemId, n: &Need) -> Value {
        let category = vec![json!({"coding": [{
            "system": t::code_system_url(cs::CONDITION_KIND),
            "code": "assessed-need",
            "display": "Assessed need",
        }]})];
        let mut o = self.condition(
            id,
            &n.meta,
            category,
            json!({"text": n.description}),
            n.importance,
        );
        put(&mut o, "asserter", n.identified_by.map(raised_by_reference));
        Value::Object(o)
    }

    fn concern(&self, id: &ItemId, c: &Concern) -> Value {
        let category = vec![
            json!({"coding": [{"system": CONDITION_CATEGORY, "code": "health-concern", "display": "Health Concern"}]}),
            json!({"coding": [t::coding(cs::CONCERN_DOMAIN, &c.domain)]}),
        ];
        let mut o = self.condition(
            id,
            &c.meta,
            category,
            json!({"text": c.description}),
            c.importance,
        );
        o.insert("asserter".into(), raised_by_reference(c.raised_by));
        Value::Object(o)
    }

    fn problem(&self, id: &ItemId, p: &Problem) -> Value {
        let category = vec![json!({"coding": [{
            "system": CONDITION_CATEGORY,
            "code": "problem-list-item",
            "display": "Problem List Item",
        }]})];
        let code = match &p.code {
            Some(sct) => json!({
                "coding": [{"system": SNOMED, "code": sct.code.as_str(), "display": sct.display}],
                "text": p.description,
            }),
            None => json!({"text": p.description}),
        };
        let mut o = self.condition(id, &p.meta, category, code, p.importance);
        if let Some(r) = &p.external_reference {
            o.insert(
                "identifier".into(),
                json!([identifier(r.system.as_str(), r.value.as_str())]),
            );
        }
        Value::Object(o)
    }

    fn strength(&self, id: &ItemId, s: &Strength) -> Value {
        let mut o = self.start("Observation", id.as_str());
        let mut exts: Vec<Value> = priority_ext(s.importance).into_iter().collect();
        exts.extend(archived(&s.meta));
        put_list(&mut o, "extension", exts);
        o.insert("status".into(), json!("final"));
        o.insert("code".into(), observation_code("strength"));
        o.insert("subject".into(), self.patient_ref());
        let focus: Vec<Value> = self
            .plan
            .goals
            .iter()
            .filter(|(_, g)| g.strengths.contains(id))
            .map(|(gid, _)| reference(format!("Goal/{gid}")))
            .collect();
        put_list(&mut o, "focus", focus);
        o.insert("valueString".into(), json!(s.description));
        put_list(&mut o, "note", self.notes(id));
        Value::Object(o)
    }

    fn goal(&self, id: &ItemId, g: &Goal) -> Value {
        let plan = self.plan;
        let mut o = self.start("Goal", id.as_str());
        let mut exts: Vec<Value> = priority_ext(g.priority).into_iter().collect();
        if let Some(why) = &g.why_it_matters {
            exts.push(extension(ext::WHY_IT_MATTERS, json!(why)));
        }
        exts.extend(archived(&g.meta));
        put_list(&mut o, "extension", exts);
        let (lifecycle, achievement) = match g.status {
            GoalStatus::Proposed => ("proposed", None),
            GoalStatus::Active => ("active", None),
            GoalStatus::OnHold => ("on-hold", None),
            GoalStatus::Achieved => ("completed", Some(("achieved", "Achieved"))),
            GoalStatus::NotAchieved => ("completed", Some(("not-achieved", "Not Achieved"))),
            GoalStatus::Cancelled => ("cancelled", None),
        };
        o.insert("lifecycleStatus".into(), json!(lifecycle));
        put(
            &mut o,
            "achievementStatus",
            achievement.map(|(code, display)| {
                json!({"coding": [{"system": GOAL_ACHIEVEMENT, "code": code, "display": display}]})
            }),
        );
        o.insert(
            "category".into(),
            json!([{"coding": [t::coding(cs::GOAL_LABEL, &g.label)]}]),
        );
        put(
            &mut o,
            "priority",
            g.priority.map(|p| {
                let (code, display) = goal_priority_code(p.get());
                json!({"coding": [{"system": GOAL_PRIORITY, "code": code, "display": display}]})
            }),
        );
        o.insert("description".into(), json!({"text": g.description}));
        o.insert("subject".into(), self.patient_ref());
        put(
            &mut o,
            "target",
            g.target_date.map(|d| json!([{"dueDate": d.to_string()}])),
        );
        let addresses: Vec<Value> = g
            .addresses
            .iter()
            .map(|n| reference(format!("Condition/{n}")))
            .collect();
        put_list(&mut o, "addresses", addresses);
        put_list(&mut o, "note", self.notes(id));
        let outcomes: Vec<Value> = plan
            .outcomes
            .iter()
            .filter(|(_, out)| out.goal == *id)
            .map(|(oid, _)| reference(format!("Observation/{oid}")))
            .collect();
        put_list(&mut o, "outcomeReference", outcomes);
        Value::Object(o)
    }

    /// The person's order of importance of their active goals (CSP-6), as an ordered List.
    fn goal_order(&self) -> Option<Value> {
        let goals = self.plan.goals_in_order();
        if goals.is_empty() {
            return None;
        }
        let mut o = self.start("List", &derived_id(self.plan, GOAL_ORDER_SUFFIX));
        o.insert("status".into(), json!("current"));
        o.insert("mode".into(), json!("snapshot"));
        o.insert(
            "title".into(),
            json!("Goals in the person's order of importance"),
        );
        o.insert("subject".into(), self.patient_ref());
        o.insert(
            "orderedBy".into(),
            json!({"coding": [{"system": LIST_ORDER, "code": "priority", "display": "Sorted by Priority"}]}),
        );
        let entries: Vec<Value> = goals
            .into_iter()
            .map(|(id, _)| json!({"item": reference(format!("Goal/{id}"))}))
            .collect();
        o.insert("entry".into(), Value::Array(entries));
        Some(Value::Object(o))
    }

    fn task(&self, id: &ItemId, a: &Action) -> Value {
        let mut o = self.start("Task", id.as_str());
        let mut exts = vec![extension_raw(
            PERTAINS_TO_GOAL,
            "valueReference",
            reference(format!("Goal/{}", a.goal)),
        )];
        if let Some(c) = a.confidence {
            exts.push(extension(ext::CONFIDENCE, json!(c.get())));
        }
        if let Some(timing) = &a.timing {
            exts.push(extension(ext::ACTION_TIMING, json!(timing)));
        }
        if let (Some(_), Some(org)) = (&a.performer.name, &a.performer.organisation) {
            exts.push(extension(ext::PERFORMER_ORGANISATION, json!(org)));
        }
        exts.extend(archived(&a.meta));
        o.insert("extension".into(), Value::Array(exts));
        o.insert("basedOn".into(), json!([self.care_plan_ref()]));
        o.insert("status".into(), json!(task_status(a.status)));
        o.insert("intent".into(), json!("plan"));
        o.insert("description".into(), json!(a.description));
        o.insert("for".into(), self.patient_ref());
        o.insert(
            "performerType".into(),
            json!([{"coding": [t::coding(cs::PERFORMER_KIND, &a.performer.kind)]}]),
        );
        let owner = match (&a.performer.name, &a.performer.organisation) {
            (Some(name), _) => {
                let mut r = Map::new();
                if let Some(kind) = performer_resource_type(a.performer.kind) {
                    r.insert("type".into(), json!(kind));
                }
                r.insert("display".into(), json!(name));
                Some(Value::Object(r))
            }
            (None, Some(org)) => Some(json!({"type": "Organization", "display": org})),
            (None, None) => None,
        };
        put(&mut o, "owner", owner);
        put_list(&mut o, "note", self.notes(id));
        Value::Object(o)
    }

    /// CSP-8: a suggested change to an action, as PRODUCT.md maps it: a `Task` with intent
    /// `proposal` and `focus` → the action's Task. Each proposed change is one `input`, typed
    /// from our `action-change` CodeSystem; the suggester's note is the first `note`. Open is
    /// `requested`, accepted (the edit was made) `completed`, declined `rejected` with the reason
    /// as `statusReason`.
    fn suggestion(&self, id: &ItemId, s: &Suggestion) -> Value {
        let mut o = self.start("Task", id.as_str());
        put_list(&mut o, "extension", archived(&s.meta));
        o.insert("basedOn".into(), json!([self.care_plan_ref()]));
        let status = match &s.status {
            SuggestionStatus::Open => "requested",
            SuggestionStatus::Accepted { .. } => "completed",
            SuggestionStatus::Declined { reason } => {
                if let Some(r) = reason {
                    o.insert("statusReason".into(), json!({"text": r}));
                }
                "rejected"
            }
        };
        o.insert("status".into(), json!(status));
        o.insert("intent".into(), json!("proposal"));
        o.insert(
            "code".into(),
            json!({"coding": [t::coding_fixed(cs::TASK_KIND, "action-change")]}),
        );
        o.insert("focus".into(), reference(format!("Task/{}", s.action)));
        o.insert("for".into(), self.patient_ref());
        let input = |code: &str, property: &str, value: Value| {
            let mut i = Map::new();
            i.insert(
                "type".into(),
                json!({"coding": [t::coding_fixed(cs::ACTION_CHANGE, code)]}),
            );
            i.insert(property.into(), value);
            Value::Object(i)
        };
        let c = &s.changes;
        let mut inputs = Vec::new();
        if let Some(goal) = &c.goal {
            inputs.push(input(
                "goal",
                "valueReference",
                reference(format!("Goal/{goal}")),
            ));
        }
        if let Some(d) = &c.description {
            inputs.push(input("description", "valueString", json!(d)));
        }
        if let Some(p) = &c.performer {
            inputs.push(input(
                "performer-kind",
                "valueCoding",
                t::coding(cs::PERFORMER_KIND, &p.kind),
            ));
            if let Some(name) = &p.name {
                inputs.push(input("performer-name", "valueString", json!(name)));
            }
            if let Some(org) = &p.organisation {
                inputs.push(input("performer-organisation", "valueString", json!(org)));
            }
        }
        match &c.timing {
            Change::Set(t) => inputs.push(input("timing", "valueString", json!(t))),
            Change::Clear => inputs.push(input("timing-removed", "valueBoolean", json!(true))),
            Change::Keep => {}
        }
        if let Some(status) = c.status {
            inputs.push(input("status", "valueCode", json!(task_status(status))));
        }
        match &c.confidence {
            Change::Set(n) => inputs.push(input("confidence", "valueInteger", json!(n.get()))),
            Change::Clear => {
                inputs.push(input("confidence-removed", "valueBoolean", json!(true)));
            }
            Change::Keep => {}
        }
        put_list(&mut o, "input", inputs);
        let mut notes: Vec<Value> = s.note.iter().map(|n| json!({"text": n})).collect();
        notes.extend(self.notes(id));
        put_list(&mut o, "note", notes);
        Value::Object(o)
    }

    /// The plan's review date as a Task to review the plan, restricted to the date.
    fn review(&self) -> Option<Value> {
        let date = self.plan.details.review_date?;
        let mut o = self.start("Task", &derived_id(self.plan, REVIEW_SUFFIX));
        o.insert("status".into(), json!("requested"));
        o.insert("intent".into(), json!("plan"));
        o.insert(
            "code".into(),
            json!({"coding": [t::coding_fixed(cs::TASK_KIND, "plan-review")]}),
        );
        o.insert("focus".into(), self.care_plan_ref());
        o.insert("for".into(), self.patient_ref());
        o.insert(
            "restriction".into(),
            json!({"period": {"end": date.to_string()}}),
        );
        Some(Value::Object(o))
    }

    fn progress(&self, id: &ItemId, p: &ProgressRecord) -> Value {
        let mut o = self.start("Observation", id.as_str());
        put_list(&mut o, "extension", archived(&p.meta));
        o.insert("status".into(), json!("final"));
        o.insert("code".into(), observation_code("goal-progress"));
        o.insert("subject".into(), self.patient_ref());
        o.insert(
            "focus".into(),
            json!([reference(format!("Goal/{}", p.goal))]),
        );
        o.insert("effectiveDateTime".into(), json!(p.date.to_string()));
        o.insert("valueInteger".into(), json!(p.progress.value()));
        o.insert(
            "method".into(),
            json!({"coding": [t::coding(cs::PROGRESS_SCALE, &p.progress.scale())]}),
        );
        let mut notes: Vec<Value> = p.note.iter().map(|n| json!({"text": n})).collect();
        notes.extend(self.notes(id));
        put_list(&mut o, "note", notes);
        Value::Object(o)
    }

    fn outcome(&self, id: &ItemId, out: &Outcome) -> Value {
        let mut o = self.start("Observation", id.as_str());
        put_list(&mut o, "extension", archived(&out.meta));
        o.insert("status".into(), json!("final"));
        o.insert("code".into(), observation_code("goal-outcome"));
        o.insert("subject".into(), self.patient_ref());
        o.insert(
            "focus".into(),
            json!([reference(format!("Goal/{}", out.goal))]),
        );
        o.insert("effectiveDateTime".into(), json!(out.date.to_string()));
        o.insert(
            "valueCodeableConcept".into(),
            json!({"coding": [t::coding(cs::OUTCOME_STATUS, &out.status)]}),
        );
        let mut notes = vec![json!({"text": out.description})];
        notes.extend(self.notes(id));
        o.insert("note".into(), Value::Array(notes));
        Value::Object(o)
    }

    /// CSP-12: a decision-specific mental capacity assessment (MCA 2005 s2-3): the decision in
    /// the `mca-decision` extension, the outcome as the value, who assessed it as `performer`
    /// (display), when as `effectiveDateTime`, the reasoning as the first note.
    fn capacity_assessment(&self, id: &ItemId, a: &CapacityAssessment) -> Value {
        let mut o = self.start("Observation", id.as_str());
        let mut exts = vec![extension(ext::MCA_DECISION, json!(a.decision))];
        exts.extend(archived(&a.meta));
        o.insert("extension".into(), Value::Array(exts));
        o.insert("status".into(), json!("final"));
        o.insert("code".into(), observation_code("capacity-assessment"));
        o.insert("subject".into(), self.patient_ref());
        o.insert("effectiveDateTime".into(), json!(a.assessed_on.to_string()));
        o.insert("performer".into(), json!([{"display": a.assessed_by}]));
        o.insert(
            "valueCodeableConcept".into(),
            json!({"coding": [t::coding(cs::CAPACITY_OUTCOME, &a.outcome)]}),
        );
        let mut notes: Vec<Value> = a.reasoning.iter().map(|r| json!({"text": r})).collect();
        notes.extend(self.notes(id));
        put_list(&mut o, "note", notes);
        Value::Object(o)
    }

    /// CSP-12: a best-interest decision (MCA 2005 s4): the decision in the `mca-decision`
    /// extension, each person consulted in a `best-interest-consulted` extension, the decision
    /// maker as `performer` (display), when as `effectiveDateTime`, the rationale as the value,
    /// and the capacity assessment it rests on in `derivedFrom`.
    fn best_interest(&self, id: &ItemId, d: &BestInterestDecision) -> Value {
        let mut o = self.start("Observation", id.as_str());
        let mut exts = vec![extension(ext::MCA_DECISION, json!(d.decision))];
        exts.extend(
            d.consulted
                .iter()
                .map(|who| extension(ext::BEST_INTEREST_CONSULTED, json!(who))),
        );
        exts.extend(archived(&d.meta));
        o.insert("extension".into(), Value::Array(exts));
        o.insert("status".into(), json!("final"));
        o.insert("code".into(), observation_code("best-interest-decision"));
        o.insert("subject".into(), self.patient_ref());
        o.insert("effectiveDateTime".into(), json!(d.decided_on.to_string()));
        o.insert("performer".into(), json!([{"display": d.decision_maker}]));
        o.insert("valueString".into(), json!(d.rationale));
        o.insert(
            "derivedFrom".into(),
            json!([reference(format!("Observation/{}", d.assessment))]),
        );
        put_list(&mut o, "note", self.notes(id));
        Value::Object(o)
    }

    /// CSP-2: the part of a DocumentReference that attachments and hyperlinks share: status,
    /// purpose, subject, when and by whom it was added, and what it is about (the plan or an
    /// item in `context.related`, a section or an item without a resource of its own as an
    /// extension).
    fn document_start(
        &self,
        id: &ItemId,
        meta: &ItemMeta,
        target: &Target,
        purpose: Purpose,
    ) -> Map<String, Value> {
        let mut o = self.start("DocumentReference", id.as_str());
        let mut exts = Vec::new();
        let mut related = None;
        match target {
            Target::Plan => related = Some(self.care_plan_ref()),
            Target::Section { section } => exts.push(extension(
                ext::DOCUMENT_SECTION,
                t::coding(cs::PLAN_SECTION, section),
            )),
            Target::Item { item } => match self.plan.kind_of(item).and_then(item_resource_type) {
                Some(kind) => related = Some(reference(format!("{kind}/{item}"))),
                None => exts.push(extension(ext::DOCUMENT_ON_ITEM, json!(item))),
            },
        }
        exts.extend(archived(meta));
        put_list(&mut o, "extension", exts);
        o.insert("status".into(), json!("current"));
        o.insert(
            "category".into(),
            json!([{"coding": [t::coding(cs::ATTACHMENT_PURPOSE, &purpose)]}]),
        );
        o.insert("subject".into(), self.patient_ref());
        o.insert("date".into(), json!(meta.added.at.to_string()));
        o.insert("author".into(), json!([{"display": meta.added.by.name}]));
        if let Some(r) = related {
            o.insert("context".into(), json!({"related": [r]}));
        }
        o
    }

    /// CSP-2: an attached file. Its bytes are served at [`attachment_content_path`] and
    /// identified by their SHA-256, carried as the `attachment-sha256` extension because R4's
    /// `Attachment.hash` is SHA-1. [`inline_files`] adds the bytes themselves as `data`.
    fn attachment(&self, id: &ItemId, a: &Attachment) -> Value {
        let mut o = self.document_start(id, &a.meta, &a.target, a.purpose);
        put(
            &mut o,
            "description",
            a.description.as_ref().map(|d| json!(d)),
        );
        let url = attachment_content_path(self.plan.details.person_id.as_str(), id.as_str());
        o.insert(
            "content".into(),
            json!([{"attachment": {
                "extension": [extension(ext::ATTACHMENT_SHA256, json!(a.sha256.as_str()))],
                "contentType": a.content_type,
                "url": url,
                "size": a.size_bytes,
                "title": a.title,
            }}]),
        );
        Value::Object(o)
    }

    /// CSP-2: a link to material held elsewhere.
    fn hyperlink(&self, id: &ItemId, h: &Hyperlink) -> Value {
        let mut o = self.document_start(id, &h.meta, &h.target, h.purpose);
        o.insert(
            "content".into(),
            json!([{"attachment": {"url": h.url.as_str(), "title": h.title}}]),
        );
        Value::Object(o)
    }

    fn consent_start(&self, id: &ItemId, scope: &str, status: &str) -> Map<String, Value> {
        let mut o = self.start("Consent", id.as_str());
        o.insert("status".into(), json!(status));
        o.insert(
            "scope".into(),
            json!({"coding": [{"system": CONSENT_SCOPE, "code": scope}]}),
        );
        o.insert(
            "category".into(),
            json!([{"coding": [{"system": LOINC, "code": "59284-0"}]}]),
        );
        o.insert("patient".into(), self.patient_ref());
        o.insert("policy".into(), json!([{"uri": PRSB_POLICY}]));
        o
    }

    /// CSP-12: an agreement (or why it could not be obtained) of one version of the plan.
    fn agreement(&self, id: &ItemId, a: &Agreement) -> Value {
        let status = if a.superseded_in.is_some() || !a.meta.is_active() {
            "inactive"
        } else {
            "active"
        };
        let mut o = self.consent_start(id, "treatment", status);
        let mut exts = Vec::new();
        if let AgreementOutcome::NotObtained { reason } = &a.outcome {
            exts.push(extension(ext::AGREEMENT_NOT_OBTAINED_REASON, json!(reason)));
        }
        exts.extend(archived(&a.meta));
        put_list(&mut o, "extension", exts);
        let mut provision = Map::new();
        if let AgreementOutcome::Agreed { by } = &a.outcome {
            provision.insert("type".into(), json!("permit"));
            let performer = match by {
                AgreedBy::Person => self.patient_ref(),
                AgreedBy::Representative {
                    name,
                    relationship,
                    legal_authority,
                    authority_reference,
                } => {
                    let mut exts = vec![extension(
                        ext::LEGAL_AUTHORITY,
                        t::coding(cs::LEGAL_AUTHORITY, legal_authority),
                    )];
                    if let Some(r) = authority_reference {
                        exts.push(extension(ext::LEGAL_AUTHORITY_REFERENCE, json!(r)));
                    }
                    let mut relationships = vec![json!({"text": relationship})];
                    let role = match legal_authority {
                        careplan_model::LegalAuthority::LastingPowerOfAttorneyHealthAndWelfare => {
                            Some(("POWATT", "power of attorney"))
                        }
                        careplan_model::LegalAuthority::CourtAppointedDeputy => {
                            Some(("GUARD", "guardian"))
                        }
                        careplan_model::LegalAuthority::Other => None,
                    };
                    if let Some((code, display)) = role {
                        relationships.push(json!({"coding": [{"system": V3_ROLE_CODE, "code": code, "display": display}]}));
                    }
                    o.insert(
                        "contained".into(),
                        json!([{
                            "resourceType": "RelatedPerson",
                            "id": "representative",
                            "extension": exts,
                            "patient": self.patient_ref(),
                            "relationship": relationships,
                            "name": [{"text": name}],
                        }]),
                    );
                    json!({"reference": "#representative", "display": name})
                }
            };
            o.insert("performer".into(), json!([performer]));
        }
        provision.insert(
            "data".into(),
            json!([{
                "meaning": "instance",
                "reference": reference(format!("CarePlan/{}/_history/{}", self.plan.id, a.agreed_version)),
            }]),
        );
        o.insert("provision".into(), Value::Object(provision));
        Value::Object(o)
    }

    /// CSP-1: an access preference: who may (or may not) see the plan or one section.
    fn preference(&self, id: &ItemId, p: &ConsentPreference) -> Value {
        let status = if p.meta.is_active() {
            "active"
        } else {
            "inactive"
        };
        let mut o = self.consent_start(id, "patient-privacy", status);
        put_list(&mut o, "extension", archived(&p.meta));
        let mut actor = Map::new();
        match &p.audience {
            Audience::Role(role) => {
                actor.insert(
                    "extension".into(),
                    json!([extension(ext::AUDIENCE_ROLE, t::coding(cs::ROLE, role))]),
                );
                actor.insert(
                    "role".into(),
                    json!({"coding": [{"system": V3_PARTICIPATION_TYPE, "code": "IRCP", "display": "information recipient"}]}),
                );
                actor.insert(
                    "reference".into(),
                    json!({"display": p.audience.describe()}),
                );
            }
            Audience::Organisation(org) => {
                actor.insert(
                    "role".into(),
                    json!({"coding": [{"system": V3_PARTICIPATION_TYPE, "code": "IRCP", "display": "information recipient"}]}),
                );
                actor.insert(
                    "reference".into(),
                    json!({"type": "Organization", "display": org}),
                );
            }
        }
        let mut provision = Map::new();
        provision.insert(
            "type".into(),
            json!(if p.visible { "permit" } else { "deny" }),
        );
        provision.insert("actor".into(), json!([actor]));
        if let ConsentScope::Section(section) = p.scope {
            provision.insert(
                "code".into(),
                json!([{"coding": [t::coding(cs::PLAN_SECTION, &section)]}]),
            );
        }
        o.insert("provision".into(), Value::Object(provision));
        Value::Object(o)
    }
}

fn extension_raw(url: &str, property: &str, value: Value) -> Value {
    let mut o = Map::new();
    o.insert("url".into(), json!(url));
    o.insert(property.into(), value);
    Value::Object(o)
}

fn observation_code(kind: &str) -> Value {
    let c = t::coding_fixed(cs::OBSERVATION_KIND, kind);
    let text = c["display"].clone();
    json!({"coding": [c], "text": text})
}

/// The resource type a named performer of this kind is (`Practitioner`), for `Reference.type`.
pub(crate) fn performer_resource_type(kind: PerformerKind) -> Option<&'static str> {
    match kind {
        PerformerKind::Person => Some("Patient"),
        PerformerKind::Carer | PerformerKind::Representative => Some("RelatedPerson"),
        PerformerKind::Practitioner => Some("Practitioner"),
        PerformerKind::Organisation | PerformerKind::Other => None,
    }
}

/// True when an identifier's system is a URI (it has a scheme); otherwise it is the name of
/// whoever assigned it.
pub(crate) fn is_uri(system: &str) -> bool {
    let Some((scheme, rest)) = system.split_once(':') else {
        return false;
    };
    !scheme.is_empty()
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
        && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && !rest.is_empty()
        && !system.chars().any(char::is_whitespace)
}

/// An Identifier: a URI system as `system`, a name as the assigner's display.
fn identifier(system: &str, value: &str) -> Value {
    if is_uri(system) {
        json!({"system": system, "value": value})
    } else {
        json!({"value": value, "assigner": {"display": system}})
    }
}
