//! Import: plain R4 transaction Bundles, references between entries, and refusals that name
//! what the plan cannot hold (never a silent drop).

mod common;

use std::collections::HashMap;

use careplan_fhir::{
    FhirIssue, IssueType, commands_from_bundle, inline_files, operation_outcome, plan_bundle,
};
use careplan_model::{Command, ItemId};
use common::{BASE, build, rich_plan};
use serde_json::{Value, json};

fn issues(bundle: &Value) -> Vec<FhirIssue> {
    match commands_from_bundle(bundle) {
        Ok(plan) => panic!("the Bundle was accepted: {:?}", plan.commands),
        Err(issues) => issues,
    }
}

fn has(issues: &[FhirIssue], expression: &str, words: &str) -> bool {
    issues
        .iter()
        .any(|i| i.expression == expression && i.message.contains(words))
}

fn patient() -> Value {
    json!({"resourceType": "Patient",
           "name": [{"family": "Lovelace", "given": ["Ada", "Augusta"]}],
           "birthDate": "1950-12-10",
           "identifier": [{"system": "https://fhir.nhs.uk/Id/nhs-number", "value": "9434765919"}]})
}

fn transaction(resources: Vec<(&str, Value)>) -> Value {
    let entry: Vec<Value> = resources
        .into_iter()
        .map(|(uuid, r)| {
            let kind = r["resourceType"].as_str().unwrap().to_owned();
            json!({"fullUrl": format!("urn:uuid:{uuid}"), "resource": r,
                   "request": {"method": "POST", "url": kind}})
        })
        .collect();
    json!({"resourceType": "Bundle", "type": "transaction", "entry": entry})
}

const P: &str = "11111111-1111-4111-8111-111111111111";
const C: &str = "22222222-2222-4222-8222-222222222222";
const G: &str = "33333333-3333-4333-8333-333333333333";
const T: &str = "44444444-4444-4444-8444-444444444444";
const CP: &str = "55555555-5555-4555-8555-555555555555";

#[test]
fn csp9_plain_r4_transaction_with_urn_uuids_keeps_its_links() {
    let bundle = transaction(vec![
        (P, patient()),
        (
            C,
            json!({"resourceType": "Condition",
                   "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}]},
                   "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-category", "code": "problem-list-item"}]}],
                   "code": {"coding": [{"system": "http://snomed.info/sct", "code": "13645005", "display": "Chronic obstructive lung disease"}]},
                   "subject": {"reference": format!("urn:uuid:{P}")}}),
        ),
        (
            G,
            json!({"resourceType": "Goal", "lifecycleStatus": "active",
                   "description": {"text": "Walk to the shop"},
                   "subject": {"reference": format!("urn:uuid:{P}")},
                   "addresses": [{"reference": format!("urn:uuid:{C}")}],
                   "extension": [{"url": "https://careplan.example/fhir/StructureDefinition/priority", "valueInteger": 8}]}),
        ),
        (
            T,
            json!({"resourceType": "Task", "status": "requested", "intent": "plan",
                   "description": "Walk with the physio",
                   "for": {"reference": format!("urn:uuid:{P}")},
                   "owner": {"type": "Practitioner", "display": "Pat Physio"},
                   "extension": [{"url": "http://hl7.org/fhir/StructureDefinition/resource-pertainsToGoal", "valueReference": {"reference": format!("urn:uuid:{G}")}}]}),
        ),
        (
            CP,
            json!({"resourceType": "CarePlan", "status": "active", "intent": "plan",
            "subject": {"reference": format!("urn:uuid:{P}")},
            "goal": [{"reference": format!("urn:uuid:{G}")}],
            "activity": [
                {"reference": {"reference": format!("urn:uuid:{T}")}},
                {"detail": {"status": "scheduled", "description": "Buy walking boots",
                            "goal": [{"reference": format!("urn:uuid:{G}")}],
                            "performer": [{"type": "RelatedPerson", "display": "Sam"}],
                            "scheduledString": "before May"}}
            ]}),
        ),
    ]);
    let import = commands_from_bundle(&bundle).unwrap_or_else(|i| panic!("{i:#?}"));
    assert_eq!(import.person.given_name.as_str(), "Ada Augusta");
    assert_eq!(
        import.person.nhs_number.as_ref().unwrap().as_str(),
        "9434765919"
    );
    assert_eq!(
        import.plan_id, None,
        "a urn:uuid CarePlan has no id to keep"
    );
    let (plan, _) = build(
        "plan-x",
        "person-x",
        &import.create_command(),
        &import.commands,
        0,
    );
    let goal_id = ItemId::parse(&format!("goal-{G}")).unwrap();
    let goal = &plan.goals[&goal_id];
    assert_eq!(
        goal.addresses,
        [ItemId::parse(&format!("condition-{C}")).unwrap()]
    );
    assert_eq!(goal.priority.unwrap().get(), 8);
    let problem = &plan.problems[&goal.addresses[0]];
    assert_eq!(problem.code.as_ref().unwrap().code.as_str(), "13645005");
    assert_eq!(
        problem.description.as_str(),
        "Chronic obstructive lung disease"
    );
    let task = &plan.actions[&ItemId::parse(&format!("action-{T}")).unwrap()];
    assert_eq!(task.goal, goal_id);
    assert_eq!(task.performer.name.as_ref().unwrap().as_str(), "Pat Physio");
    let detail = &plan.actions[&ItemId::parse("action-activity-1").unwrap()];
    assert_eq!(
        detail.goal, goal_id,
        "R4 activity.detail is accepted as an action"
    );
    assert_eq!(detail.timing.as_ref().unwrap().as_str(), "before May");
    assert_eq!(plan.details.status, careplan_model::PlanStatus::Active);
}

#[test]
fn csp9_a_goal_that_addresses_no_need_is_refused_with_the_reason() {
    let bundle = transaction(vec![
        (P, patient()),
        (
            G,
            json!({"resourceType": "Goal", "lifecycleStatus": "active",
                   "description": {"text": "Walk to the shop"},
                   "subject": {"reference": format!("urn:uuid:{P}")}}),
        ),
    ]);
    let found = issues(&bundle);
    assert!(
        has(
            &found,
            "Bundle.entry[1].resource",
            "at least one need, concern or problem"
        ),
        "{found:#?}"
    );
    assert_eq!(found[0].code, IssueType::BusinessRule);
    let oo = operation_outcome(&found);
    assert_eq!(oo["issue"][0]["expression"][0], "Bundle.entry[1].resource");
    assert_eq!(oo["issue"][0]["code"], "business-rule");
}

#[test]
fn elements_and_extensions_the_plan_cannot_hold_are_refused_by_name() {
    let (plan, versions) = rich_plan();
    let mut bundle = plan_bundle(&plan, &versions, BASE);
    let entries = bundle["entry"].as_array_mut().unwrap();
    let at = |entries: &Vec<Value>, kind: &str, id: &str| {
        entries
            .iter()
            .position(|e| e["resource"]["resourceType"] == kind && e["resource"]["id"] == id)
            .unwrap()
    };
    let patient = at(entries, "Patient", common::PERSON_ID);
    entries[patient]["resource"]["gender"] = json!("female");
    let goal = at(entries, "Goal", "goal-dress");
    entries[goal]["resource"]["extension"]
        .as_array_mut()
        .unwrap()
        .push(json!({"url": "https://other.example/favourite-colour", "valueString": "blue"}));
    let condition = at(entries, "Condition", "need-dress");
    entries[condition]["resource"]["onsetDateTime"] = json!("2020-01-01");
    let task = at(entries, "Task", "action-buttons");
    entries[task]["resource"]["extension"][1]["valueInteger"] = json!(11);
    let found = issues(&bundle);
    assert!(
        has(
            &found,
            &format!("Bundle.entry[{patient}].resource.gender"),
            "cannot hold"
        ),
        "{found:#?}"
    );
    assert!(
        has(
            &found,
            &format!("Bundle.entry[{goal}].resource.extension[2]"),
            "favourite-colour"
        ),
        "{found:#?}"
    );
    assert!(
        has(
            &found,
            &format!("Bundle.entry[{condition}].resource.onsetDateTime"),
            "cannot hold"
        ),
        "{found:#?}"
    );
    assert!(
        has(
            &found,
            &format!("Bundle.entry[{task}].resource.extension[1].valueInteger"),
            "from 1 to 10"
        ),
        "{found:#?}"
    );
    assert_eq!(found.len(), 4, "{found:#?}");
}

#[test]
fn csp2_attachments_keep_their_sha256_and_refuse_what_they_cannot_hold() {
    let (plan, versions) = rich_plan();
    let mut bundle = plan_bundle(&plan, &versions, BASE);
    let entries = bundle["entry"].as_array_mut().unwrap();
    let at = |entries: &Vec<Value>, id: &str| {
        entries
            .iter()
            .position(|e| {
                e["resource"]["resourceType"] == "DocumentReference" && e["resource"]["id"] == id
            })
            .unwrap()
    };
    let file = at(entries, "attachment-buttons");
    let content = &mut entries[file]["resource"]["content"][0]["attachment"];
    content["hash"] = json!("2jmj7l5rSw0yVb/vlWAYkK/YBwk=");
    content["url"] = json!("https://elsewhere.example/leaflet.pdf");
    let link = at(entries, "link-copd");
    entries[link]["resource"]["status"] = json!("superseded");
    entries[link]["resource"]["content"][0]["attachment"]["url"] = json!("javascript:alert(1)");
    let found = issues(&bundle);
    let content_at = format!("Bundle.entry[{file}].resource.content[0].attachment");
    assert!(
        has(&found, &format!("{content_at}.hash"), "cannot hold"),
        "{found:#?}"
    );
    assert!(
        has(
            &found,
            &format!("{content_at}.url"),
            "/plan/attachments/attachment-buttons/content"
        ),
        "{found:#?}"
    );
    assert!(
        has(
            &found,
            &format!("Bundle.entry[{link}].resource.status"),
            "superseded"
        ),
        "{found:#?}"
    );
    assert!(
        has(
            &found,
            &format!("Bundle.entry[{link}].resource.content[0].attachment.url"),
            "web address"
        ),
        "{found:#?}"
    );
    assert_eq!(found.len(), 4, "{found:#?}");
}

/// The index of the entry whose resource has this id.
fn entry_at(entries: &[Value], id: &str) -> usize {
    entries
        .iter()
        .position(|e| e["resource"]["id"] == id)
        .unwrap_or_else(|| panic!("no entry {id}"))
}

/// The rich plan's attachment, made to describe the four bytes “test” (whose SHA-256 the
/// plan already records), and the Bundle's entry index of it.
fn bundle_with_a_four_byte_attachment() -> (Value, usize) {
    let (plan, versions) = rich_plan();
    let mut bundle = plan_bundle(&plan, &versions, BASE);
    let entries = bundle["entry"].as_array_mut().unwrap();
    let file = entry_at(entries, "attachment-buttons");
    entries[file]["resource"]["content"][0]["attachment"]["size"] = json!(4);
    (bundle, file)
}

#[test]
fn csp2_csp9_an_attachment_brings_its_file_inline_checked_against_its_record() {
    let (mut bundle, file) = bundle_with_a_four_byte_attachment();
    // Without the file: the record is imported, and a note says the file did not come.
    let without = commands_from_bundle(&bundle).expect("accepted");
    assert!(without.files.is_empty());
    assert!(
        without.notes.iter().any(|n| n
            .message
            .contains("1 attachment(s) came without their file")
            && n.message.contains("“Using a button hook”")),
        "{:#?}",
        without.notes
    );
    // With it: export puts the bytes in as base64, and import hands them back, checked.
    let files = HashMap::from([(
        "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08".to_owned(),
        b"test".to_vec(),
    )]);
    assert_eq!(inline_files(&mut bundle, &files), 1);
    assert_eq!(
        bundle["entry"][file]["resource"]["content"][0]["attachment"]["data"],
        "dGVzdA=="
    );
    let with = commands_from_bundle(&bundle).expect("accepted");
    assert_eq!(with.files.len(), 1);
    assert_eq!(with.files[0].attachment.as_str(), "attachment-buttons");
    assert_eq!(with.files[0].bytes, b"test");
    assert_eq!(with.files[0].content_type, "application/pdf");
    assert_eq!(with.files[0].title, "Using a button hook");
    assert_eq!(
        with.commands, without.commands,
        "the file changes no command"
    );
    assert!(
        !with
            .notes
            .iter()
            .any(|n| n.message.contains("without their file")),
        "{:#?}",
        with.notes
    );
}

#[test]
fn csp2_an_inline_file_that_disagrees_with_its_record_is_refused() {
    let data_at = |file: usize| format!("Bundle.entry[{file}].resource.content[0].attachment.data");
    let cases = [
        // Other bytes than the record's digest.
        ("dGVzdQ==", "do not match"),
        // The right bytes and one more: not the record's size.
        ("dGVzdCE=", "5 bytes long, but its size says 4"),
        // Not base64 at all.
        ("not base64!", "not base64"),
    ];
    for (data, words) in cases {
        let (mut bundle, file) = bundle_with_a_four_byte_attachment();
        bundle["entry"][file]["resource"]["content"][0]["attachment"]["data"] = json!(data);
        let found = issues(&bundle);
        assert!(has(&found, &data_at(file), words), "{data}: {found:#?}");
        assert_eq!(found.len(), 1, "{data}: {found:#?}");
        assert_eq!(found[0].code, IssueType::Value);
    }
    // Wrapped base64 (whitespace between groups) is still base64.
    let (mut bundle, file) = bundle_with_a_four_byte_attachment();
    bundle["entry"][file]["resource"]["content"][0]["attachment"]["data"] = json!("dGVz\ndA==");
    assert_eq!(
        commands_from_bundle(&bundle).expect("accepted").files[0].bytes,
        b"test"
    );
}

#[test]
fn csp12_capacity_records_that_miss_what_the_act_asks_for_are_refused() {
    let (plan, versions) = rich_plan();
    let mut bundle = plan_bundle(&plan, &versions, BASE);
    let entries = bundle["entry"].as_array_mut().unwrap();
    let assessment = entry_at(entries, "capacity-move");
    let decision = entry_at(entries, "best-interest-move");
    // No decision named (capacity is assessed decision by decision), two assessors, an
    // outcome from no code system of ours.
    entries[assessment]["resource"]
        .as_object_mut()
        .unwrap()
        .remove("extension");
    entries[assessment]["resource"]["performer"] =
        json!([{"display": "Tom"}, {"display": "Priya"}]);
    entries[assessment]["resource"]["valueCodeableConcept"]["coding"][0]["code"] = json!("maybe");
    // A best-interest decision that rests on no assessment.
    entries[decision]["resource"]
        .as_object_mut()
        .unwrap()
        .remove("derivedFrom");
    let found = issues(&bundle);
    let a = format!("Bundle.entry[{assessment}].resource");
    let d = format!("Bundle.entry[{decision}].resource");
    assert!(
        has(&found, &format!("{a}.extension"), "mca-decision"),
        "{found:#?}"
    );
    assert!(
        has(&found, &format!("{a}.performer"), "who assessed"),
        "{found:#?}"
    );
    assert!(
        has(
            &found,
            &format!("{a}.valueCodeableConcept.coding[0].code"),
            "maybe"
        ),
        "{found:#?}"
    );
    assert!(
        has(
            &found,
            &format!("{d}.derivedFrom"),
            "exactly one capacity assessment"
        ),
        "{found:#?}"
    );
    assert_eq!(found.len(), 4, "{found:#?}");
}

#[test]
fn csp8_a_suggestion_that_proposes_nothing_or_nonsense_is_refused() {
    let (plan, versions) = rich_plan();
    let mut bundle = plan_bundle(&plan, &versions, BASE);
    let entries = bundle["entry"].as_array_mut().unwrap();
    let open = entry_at(entries, "suggestion-hips");
    let declined = entry_at(entries, "suggestion-ola");
    // A status no action has, a confidence of 12, and a reason on an open suggestion.
    let inputs = entries[open]["resource"]["input"].as_array_mut().unwrap();
    inputs[2]["valueCode"] = json!("started");
    inputs[3]["valueInteger"] = json!(12);
    entries[open]["resource"]["statusReason"] = json!({"text": "Why not"});
    // A suggestion with no change at all.
    entries[declined]["resource"]
        .as_object_mut()
        .unwrap()
        .remove("input");
    let found = issues(&bundle);
    let o = format!("Bundle.entry[{open}].resource");
    assert!(
        has(&found, &format!("{o}.input[2].valueCode"), "“started”"),
        "{found:#?}"
    );
    assert!(
        has(&found, &format!("{o}.input[3].valueInteger"), "10"),
        "{found:#?}"
    );
    assert!(
        has(&found, &format!("{o}.statusReason"), "declined"),
        "{found:#?}"
    );
    assert!(
        has(
            &found,
            &format!("Bundle.entry[{declined}].resource.input"),
            "at least one change"
        ),
        "{found:#?}"
    );
    assert_eq!(found.len(), 4, "{found:#?}");
}

#[test]
fn references_must_name_entries_of_the_bundle() {
    let bundle = transaction(vec![
        (P, patient()),
        (
            G,
            json!({"resourceType": "Goal", "lifecycleStatus": "active",
                   "description": {"text": "Walk"},
                   "subject": {"reference": format!("urn:uuid:{P}")},
                   "addresses": [{"reference": "Condition/missing"}]}),
        ),
    ]);
    let found = issues(&bundle);
    assert!(
        has(
            &found,
            "Bundle.entry[1].resource.addresses[0]",
            "Condition/missing is not in the Bundle"
        ),
        "{found:#?}"
    );
    assert_eq!(found[0].code, IssueType::NotFound);
}

#[test]
fn csp6_goal_priority_alone_is_refused_rather_than_guessed() {
    let bundle = transaction(vec![
        (P, patient()),
        (
            C,
            json!({"resourceType": "Condition",
                   "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}]},
                   "category": [{"coding": [{"system": "https://careplan.example/fhir/CodeSystem/condition-kind", "code": "assessed-need"}]}],
                   "code": {"text": "To walk"},
                   "subject": {"reference": format!("urn:uuid:{P}")}}),
        ),
        (
            G,
            json!({"resourceType": "Goal", "lifecycleStatus": "active",
                   "description": {"text": "Walk"},
                   "priority": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/goal-priority", "code": "high-priority"}]},
                   "subject": {"reference": format!("urn:uuid:{P}")},
                   "addresses": [{"reference": format!("urn:uuid:{C}")}]}),
        ),
    ]);
    let found = issues(&bundle);
    assert!(
        has(&found, "Bundle.entry[2].resource.priority", "1 to 10"),
        "{found:#?}"
    );
}

#[test]
fn what_is_not_a_plan_is_refused() {
    let found = issues(&json!({"resourceType": "Patient"}));
    assert_eq!(found[0].code, IssueType::Structure);
    let found = issues(
        &json!({"resourceType": "Bundle", "type": "collection", "entry": [
            {"fullUrl": "urn:uuid:1", "resource": patient()},
            {"fullUrl": "urn:uuid:2", "resource": {"resourceType": "Medication"}},
        ]}),
    );
    assert!(
        has(
            &found,
            "Bundle.entry[1].resource",
            "Medication cannot be imported"
        ),
        "{found:#?}"
    );
    let found = issues(
        &json!({"resourceType": "Bundle", "type": "collection", "entry": [
            {"fullUrl": "urn:uuid:2", "resource": {"resourceType": "Goal"}},
        ]}),
    );
    assert!(has(&found, "Bundle.entry", "no Patient"), "{found:#?}");
    let found = issues(
        &json!({"resourceType": "Bundle", "type": "transaction", "entry": [
            {"resource": patient(), "request": {"method": "DELETE", "url": "Patient/1"}},
        ]}),
    );
    assert!(
        has(&found, "Bundle.entry[0].request.method", "DELETE"),
        "{found:#?}"
    );
}

#[test]
fn an_export_imports_with_notes_on_what_is_not_carried() {
    let (plan, versions) = rich_plan();
    let import = commands_from_bundle(&plan_bundle(&plan, &versions, BASE)).unwrap();
    assert!(
        import
            .notes
            .iter()
            .any(|n| n.message.contains("Provenance"))
    );
    assert!(
        import
            .notes
            .iter()
            .all(|n| n.severity == careplan_fhir::Severity::Information)
    );
    // Order: needs before goals, goals before actions, archives after adds, agreement last.
    let position = |pred: &dyn Fn(&Command) -> bool| import.commands.iter().position(pred).unwrap();
    let last_need = import
        .commands
        .iter()
        .rposition(|c| matches!(c, Command::AddNeed { .. }))
        .unwrap();
    let first_goal = position(&|c| matches!(c, Command::AddGoal { .. }));
    let last_goal = import
        .commands
        .iter()
        .rposition(|c| matches!(c, Command::AddGoal { .. }))
        .unwrap();
    let first_action = position(&|c| matches!(c, Command::AddAction { .. }));
    let first_archive = position(&|c| matches!(c, Command::Archive { .. }));
    let last_add = import
        .commands
        .iter()
        .rposition(|c| c.name().starts_with("add_"))
        .unwrap();
    assert!(last_need < first_goal && last_goal < first_action && last_add < first_archive);
    assert!(matches!(
        import.commands.last(),
        Some(Command::RecordAgreement { .. })
    ));
}
