//! A rich plan built through the model, shared by the FHIR tests.

#![allow(dead_code)]

use careplan_fhir::VersionMeta;
use careplan_model::{
    Actor, Command, PersonId, Plan, PlanId, Role, Stamp, Text, Timestamp, VersionNumber, apply,
    start,
};
use serde_json::{Value, json};

pub const BASE: &str = "https://careplan.example/fhir";
pub const PLAN_ID: &str = "6f1c2a9e-4b1d-4c55-9a0e-1d2b3c4d5e6f";
pub const PERSON_ID: &str = "0b7e1c3a-2f4d-4e6a-8b9c-0d1e2f3a4b5c";

/// Version `v` happens `v` minutes after `start` on 1 March 2026.
pub fn stamp(v: u64, minutes_from: i64, role: Role, name: &str) -> Stamp {
    let start = time::macros::datetime!(2026-03-01 09:00 UTC);
    Stamp {
        version: VersionNumber::new(v).unwrap(),
        at: Timestamp::from_datetime(start + time::Duration::minutes(minutes_from + v as i64)),
        by: Actor {
            id: Text::new(&format!("user:{}", name.to_lowercase().replace(' ', "-"))).unwrap(),
            name: Text::new(name).unwrap(),
            role,
        },
    }
}

pub fn command(value: Value) -> Command {
    serde_json::from_value(value.clone()).unwrap_or_else(|e| panic!("{value}: {e}"))
}

/// Applies commands one by one from version 1, returning the plan and each version's meta.
pub fn build(
    plan_id: &str,
    person_id: &str,
    create: &Command,
    commands: &[Command],
    minutes_from: i64,
) -> (Plan, Vec<VersionMeta>) {
    let who = |c: &Command| match c {
        Command::RecordAgreement { .. } | Command::SetConsentPreference { .. } => {
            (Role::Representative, "Susan Marlowe")
        }
        _ => (Role::Practitioner, "Nia Nurse"),
    };
    let (role, name) = who(create);
    let first = stamp(1, minutes_from, role, name);
    let mut plan = start(
        PlanId::parse(plan_id).unwrap(),
        PersonId::parse(person_id).unwrap(),
        create,
        &first,
    )
    .unwrap_or_else(|e| panic!("create: {e:?}"))
    .plan;
    let mut versions = vec![VersionMeta::from_stamp(&first, create.name())];
    for c in commands {
        let (role, name) = who(c);
        let s = stamp(plan.version.get() + 1, minutes_from, role, name);
        plan = apply(&plan, c, &s)
            .unwrap_or_else(|e| panic!("{}: {e:?}", c.name()))
            .plan;
        versions.push(VersionMeta::from_stamp(&s, c.name()));
    }
    (plan, versions)
}

pub fn person() -> Value {
    json!({
        "given_name": "Ada",
        "family_name": "Lovelace",
        "preferred_name": "Addie",
        "date_of_birth": "1950-12-10",
        "nhs_number": "943 476 5919",
        "other_identifiers": [
            {"system": "Leeds City Council", "value": "LCC-000123"},
            {"system": "https://hospital.example/mrn", "value": "MRN-42"}
        ]
    })
}

/// Every kind of item the FHIR view carries: strengths, needs, concerns, a coded problem,
/// goals and a hope with priorities and links, actions with confidence and every kind of
/// performer, a completed action, an archived goal (with its action), an archived need and
/// strength, progress, an outcome, comments on the plan, a section, items and an agreement,
/// funding, access preferences (one archived), an attachment on a goal (with a comment on it), a
/// link on a section and an archived link on the plan, an agreement by the person for an earlier version
/// and a current one by a representative, a care team, a review date.
pub fn rich_commands() -> Vec<Command> {
    [
        json!({"type": "set_plan_status", "status": "active"}),
        json!({"type": "set_review_date", "review_date": "2026-09-01"}),
        json!({"type": "add_care_team_member", "id": "member-nia", "name": "Nia Nurse", "role": "district nurse", "organisation": "Leeds Community Healthcare"}),
        json!({"type": "add_care_team_member", "id": "member-olu", "name": "Olu Therapist", "role": "occupational therapist"}),
        json!({"type": "add_strength", "id": "strength-garden", "description": "Loves gardening", "importance": 7}),
        json!({"type": "add_strength", "id": "strength-names", "description": "Good memory for names"}),
        json!({"type": "add_need", "id": "need-dress", "description": "To dress myself", "identified_by": "person", "importance": 8}),
        json!({"type": "add_need", "id": "need-out", "description": "To get out of the house"}),
        json!({"type": "add_need", "id": "need-old", "description": "To walk to the post box"}),
        json!({"type": "add_concern", "id": "concern-falls", "description": "Falls at night", "raised_by": "carer", "domain": "biological", "importance": 6}),
        json!({"type": "add_problem", "id": "problem-copd", "description": "COPD", "code": {"code": "13645005", "display": "Chronic obstructive lung disease"}, "external_reference": {"system": "https://gp.example/problem-list", "value": "PL-77"}, "importance": 9}),
        json!({"type": "add_problem", "id": "problem-knee", "description": "Painful left knee", "external_reference": {"system": "Leeds GP practice", "value": "K-9"}}),
        json!({"type": "add_goal", "id": "goal-dress", "description": "Dress myself each morning", "why_it_matters": "I want to be independent", "priority": 9, "target_date": "2026-06-30", "addresses": ["need-dress", "problem-copd"], "strengths": ["strength-garden"]}),
        json!({"type": "add_goal", "id": "goal-garden", "label": "hope", "description": "Visit the garden centre", "priority": 5, "addresses": ["need-out", "concern-falls", "need-old"], "strengths": ["strength-garden", "strength-names"]}),
        json!({"type": "add_goal", "id": "goal-tablet", "description": "Learn to use a tablet", "priority": 2, "status": "proposed", "addresses": ["need-out"]}),
        json!({"type": "add_goal", "id": "goal-knee", "description": "Walk without pain", "priority": 3, "status": "on_hold", "addresses": ["problem-knee"]}),
        json!({"type": "rank_goals", "order": ["goal-garden", "goal-dress", "goal-knee", "goal-tablet"]}),
        json!({"type": "add_action", "id": "action-buttons", "goal": "goal-dress", "description": "Practise buttons with the occupational therapist", "performer": {"kind": "practitioner", "name": "Olu Therapist", "organisation": "Leeds OT Service"}, "timing": "every Tuesday morning", "confidence": 6}),
        json!({"type": "add_action", "id": "action-drive", "goal": "goal-garden", "description": "Drive Ada to the garden centre", "performer": {"kind": "carer", "name": "Sam"}, "confidence": 8}),
        json!({"type": "add_action", "id": "action-clothes", "goal": "goal-dress", "description": "Lay out clothes the night before", "performer": {"kind": "person"}, "status": "in_progress", "confidence": 9}),
        json!({"type": "add_action", "id": "action-lessons", "goal": "goal-tablet", "description": "Tablet lessons at the library", "performer": {"kind": "organisation", "organisation": "Age UK Leeds"}}),
        json!({"type": "add_action", "id": "action-physio", "goal": "goal-knee", "description": "Knee exercises", "performer": {"kind": "practitioner", "name": "Olu Therapist"}, "status": "on_hold"}),
        json!({"type": "complete_action", "id": "action-clothes"}),
        json!({"type": "suggest_action_change", "id": "suggestion-saturdays", "action": "action-drive", "changes": {"timing": "Saturday mornings", "confidence": null}, "note": "Sam works weekdays now"}),
        json!({"type": "accept_suggestion", "id": "suggestion-saturdays"}),
        json!({"type": "edit_action", "id": "action-drive", "timing": "Sunday mornings"}),
        json!({"type": "suggest_action_change", "id": "suggestion-ola", "action": "action-buttons", "changes": {"performer": {"kind": "practitioner", "name": "Ola Therapist", "organisation": "Leeds OT Service"}, "status": "on_hold"}}),
        json!({"type": "decline_suggestion", "id": "suggestion-ola", "reason": "Olu is back from leave"}),
        json!({"type": "suggest_action_change", "id": "suggestion-hips", "action": "action-physio", "changes": {"description": "Knee and hip exercises", "goal": "goal-dress", "status": "in_progress", "confidence": 5}}),
        json!({"type": "add_comment", "id": "comment-suggestion", "target": {"on": "item", "item": "suggestion-hips"}, "text": "Ask the GP first"}),
        json!({"type": "record_progress", "id": "progress-1", "goal": "goal-dress", "date": "2026-04-01", "progress": {"scale": "goal_attainment", "value": 1}, "note": "Managed the buttons twice"}),
        json!({"type": "record_progress", "id": "progress-2", "goal": "goal-garden", "date": "2026-04-02", "progress": {"scale": "zero_to_ten", "value": 4}}),
        json!({"type": "record_outcome", "id": "outcome-tablet", "goal": "goal-tablet", "description": "Decided not to pursue the tablet", "status": "not_achieved", "date": "2026-04-10"}),
        json!({"type": "record_agreement", "id": "agreement-first", "outcome": {"result": "agreed", "by": {"who": "person"}}}),
        json!({"type": "archive_goal", "id": "goal-tablet", "reason": "No longer wanted"}),
        json!({"type": "archive", "id": "need-old", "reason": "Walks to the post box again"}),
        json!({"type": "archive", "id": "strength-names"}),
        json!({"type": "add_comment", "id": "comment-plan", "target": {"on": "plan"}, "text": "Plan discussed at a home visit"}),
        json!({"type": "add_comment", "id": "comment-goal", "target": {"on": "item", "item": "goal-dress"}, "text": "Ada is keen to start"}),
        json!({"type": "add_comment", "id": "comment-section", "target": {"on": "section", "section": "goals"}, "text": "Goals reviewed with her daughter"}),
        json!({"type": "add_comment", "id": "comment-action", "target": {"on": "item", "item": "action-buttons"}, "text": "Bring the blue cardigan"}),
        json!({"type": "add_comment", "id": "comment-agreement", "target": {"on": "item", "item": "agreement-first"}, "text": "Ada signed the paper copy too"}),
        json!({"type": "add_comment", "id": "comment-old", "target": {"on": "item", "item": "need-dress"}, "text": "Wrong person"}),
        json!({"type": "archive", "id": "comment-old", "reason": "Written on the wrong plan"}),
        json!({"type": "set_funding_source", "source": "personal_budget", "details_held_at": "Support plan SP-2291, Leeds City Council"}),
        json!({"type": "set_consent_preference", "scope": {"section": "concerns"}, "audience": {"organisation": "Acme Care"}, "visible": false}),
        json!({"type": "set_consent_preference", "scope": "whole_plan", "audience": {"role": "carer"}, "visible": false}),
        json!({"type": "archive", "id": "consent-v48", "reason": "Ada changed her mind"}),
        json!({"type": "set_consent_preference", "scope": "whole_plan", "audience": {"role": "carer"}, "visible": true}),
        json!({"type": "add_attachment", "id": "attachment-buttons", "target": {"on": "item", "item": "goal-dress"}, "title": "Using a button hook", "purpose": "guidance", "content_type": "application/pdf", "size_bytes": 48213, "sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", "description": "A leaflet with drawings of each step"}),
        json!({"type": "add_hyperlink", "id": "link-copd", "target": {"on": "section", "section": "goals"}, "title": "NHS: living with COPD", "url": "https://www.nhs.uk/conditions/chronic-obstructive-pulmonary-disease-copd/", "purpose": "learning_material"}),
        json!({"type": "add_hyperlink", "id": "link-old", "target": {"on": "plan"}, "title": "Old day centre timetable", "url": "https://daycentre.example/timetable", "purpose": "other"}),
        json!({"type": "add_comment", "id": "comment-attachment", "target": {"on": "item", "item": "attachment-buttons"}, "text": "A printed copy is in the kitchen drawer"}),
        json!({"type": "archive", "id": "link-old", "reason": "The day centre closed"}),
        json!({"type": "set_capacity_support", "steps_to_maximise_capacity": "Talked through in the morning with Susan present", "rights_promotion": "Ada chooses her own routine"}),
        json!({"type": "record_capacity_assessment", "id": "capacity-move", "decision": "Whether to move into residential care", "outcome": "lacks_capacity", "assessed_by": "Tom Okafor, social worker", "assessed_on": "2026-10-02", "reasoning": "Could not retain the information long enough to weigh it"}),
        json!({"type": "record_capacity_assessment", "id": "capacity-meals", "decision": "What to eat each day", "outcome": "has_capacity", "assessed_by": "Tom Okafor, social worker", "assessed_on": "2026-10-02"}),
        json!({"type": "record_best_interest_decision", "id": "best-interest-move", "decision": "Whether to move into residential care", "assessment": "capacity-move", "decision_maker": "Dr Priya Shah", "consulted": ["Susan Marlowe (daughter)", "Jo Bell (IMCA)"], "rationale": "Ada wishes to stay near her garden; a move is not in her best interests while home care meets her needs", "decided_on": "2026-10-09"}),
        json!({"type": "add_comment", "id": "comment-capacity", "target": {"on": "item", "item": "capacity-move"}, "text": "To be reassessed after the infection clears"}),
        json!({"type": "record_agreement", "id": "agreement-susan", "outcome": {"result": "agreed", "by": {"who": "representative", "name": "Susan Marlowe", "relationship": "daughter", "legal_authority": "lasting_power_of_attorney_health_and_welfare", "authority_reference": "OPG 7000-1234-5678"}}}),
    ]
    .into_iter()
    .map(command)
    .collect()
}

pub fn rich_plan() -> (Plan, Vec<VersionMeta>) {
    let create = command(json!({"type": "create_plan", "person": person()}));
    build(PLAN_ID, PERSON_ID, &create, &rich_commands(), 0)
}

/// The resources of a Bundle.
pub fn entries(bundle: &Value) -> Vec<&Value> {
    bundle["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["resource"])
        .collect()
}

/// The one resource of this type and id in a Bundle.
pub fn find<'b>(bundle: &'b Value, kind: &str, id: &str) -> &'b Value {
    entries(bundle)
        .into_iter()
        .find(|r| r["resourceType"] == kind && r["id"] == id)
        .unwrap_or_else(|| panic!("{kind}/{id} is not in the bundle"))
}
