//! Export, import, export again: the plan survives FHIR (CSP-9, CSP-12, CSP-14, CSP-10).
//!
//! The second export equals the first except for what a new history necessarily changes, which
//! `normalise` removes and these tests check separately:
//! - `meta.versionId` / `meta.lastUpdated` and the Bundle's `timestamp` (the import's versions);
//! - Provenance entries (the import's history, not the source's);
//! - `Annotation.time` / `authorString`, `DocumentReference.date` / `author` and the `archived`
//!   extension's time (stamped by the import's versions);
//! - the version number in an agreement's `provision.data` reference (checked below: the
//!   current agreement is for the imported plan's version that recorded it);
//! - the ids of access-preference Consents, which the model derives from the version that
//!   created them (compared as a set without ids).
//!
//! Item ids, the plan id and the person id survive unchanged.

mod common;

use careplan_fhir::{
    ResourceKind, care_plan_for_performer, commands_from_bundle, plan_bundle, resource, resources,
};
use careplan_model::{GoalStatus, PersonId, PlanId};
use common::{BASE, PERSON_ID, PLAN_ID, build, entries, find, rich_plan};
use serde_json::Value;

fn import_and_export(bundle: &Value) -> (careplan_model::Plan, Value) {
    let import = commands_from_bundle(bundle).unwrap_or_else(|issues| {
        panic!(
            "import refused: {}",
            issues
                .iter()
                .map(|i| i.to_string())
                .collect::<Vec<_>>()
                .join("\n")
        )
    });
    assert_eq!(import.plan_id, Some(PlanId::parse(PLAN_ID).unwrap()));
    assert_eq!(import.person_id, Some(PersonId::parse(PERSON_ID).unwrap()));
    let (plan, versions) = build(
        PLAN_ID,
        PERSON_ID,
        &import.create_command(),
        &import.commands,
        1_000,
    );
    let again = plan_bundle(&plan, &versions, BASE);
    (plan, again)
}

fn strip_meta(v: &mut Value) {
    match v {
        Value::Object(o) => {
            o.remove("meta");
            o.remove("time");
            o.remove("authorString");
            if o.get("resourceType").and_then(Value::as_str) == Some("DocumentReference") {
                o.remove("date");
                o.remove("author");
            }
            if o.get("url").and_then(Value::as_str)
                == Some("https://careplan.example/fhir/StructureDefinition/archived")
            {
                o.insert("valueDateTime".into(), Value::from("(the import's time)"));
            }
            if let Some(r) = o.get_mut("reference")
                && let Some(s) = r.as_str()
                && let Some((before, _)) = s.split_once("/_history/")
            {
                *r = Value::from(format!("{before}/_history/(n)"));
            }
            for value in o.values_mut() {
                strip_meta(value);
            }
        }
        Value::Array(a) => a.iter_mut().for_each(strip_meta),
        _ => {}
    }
}

/// The Bundle without what a new history changes (see the module docs): the resources in order,
/// and the access preferences as a sorted set without ids.
fn normalise(bundle: &Value) -> (Vec<Value>, Vec<String>) {
    let mut kept = Vec::new();
    let mut preferences = Vec::new();
    for r in entries(bundle) {
        let mut r = r.clone();
        if r["resourceType"] == "Provenance" {
            continue;
        }
        strip_meta(&mut r);
        if r["resourceType"] == "Consent" && r["scope"]["coding"][0]["code"] == "patient-privacy" {
            r.as_object_mut().unwrap().remove("id");
            preferences.push(r.to_string());
        } else {
            kept.push(r);
        }
    }
    preferences.sort();
    (kept, preferences)
}

#[test]
fn csp9_goal_links_survive_fhir_round_trip() {
    let (plan, versions) = rich_plan();
    let first = plan_bundle(&plan, &versions, BASE);
    let (imported, second) = import_and_export(&first);

    let (a, a_prefs) = normalise(&first);
    let (b, b_prefs) = normalise(&second);
    assert_eq!(a.len(), b.len(), "same number of resources");
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(
            x, y,
            "{}/{} differs after the round trip",
            x["resourceType"], x["id"]
        );
    }
    assert_eq!(a_prefs, b_prefs, "access preferences");

    // The links themselves, in the model.
    for (id, a) in plan.attachments.iter() {
        let b = &imported.attachments[id];
        assert_eq!(
            (
                &a.target,
                &a.title,
                a.purpose,
                &a.content_type,
                a.size_bytes,
                &a.sha256,
                &a.description
            ),
            (
                &b.target,
                &b.title,
                b.purpose,
                &b.content_type,
                b.size_bytes,
                &b.sha256,
                &b.description
            ),
            "attachment {id}"
        );
        assert_eq!(
            a.meta.is_active(),
            b.meta.is_active(),
            "archive state of {id}"
        );
    }
    for (id, h) in plan.hyperlinks.iter() {
        let other = &imported.hyperlinks[id];
        assert_eq!(
            (&h.target, &h.title, &h.url, h.purpose),
            (&other.target, &other.title, &other.url, other.purpose),
            "hyperlink {id}"
        );
        assert_eq!(
            h.meta.is_active(),
            other.meta.is_active(),
            "archive state of {id}"
        );
    }
    assert_eq!(plan.attachments.len(), imported.attachments.len());
    assert_eq!(plan.hyperlinks.len(), imported.hyperlinks.len());
    for (id, goal) in plan.goals.iter() {
        let other = &imported.goals[id];
        assert_eq!(goal.addresses, other.addresses, "addresses of {id}");
        assert_eq!(goal.strengths, other.strengths, "strengths of {id}");
        assert_eq!(goal.priority, other.priority, "priority of {id}");
        assert_eq!(goal.label, other.label);
        assert_eq!(goal.why_it_matters, other.why_it_matters);
        assert_eq!(
            goal.meta.is_active(),
            other.meta.is_active(),
            "archive state of {id}"
        );
    }
    for (id, action) in plan.actions.iter() {
        let other = &imported.actions[id];
        assert_eq!(action.goal, other.goal, "goal of {id}");
        assert_eq!(action.confidence, other.confidence, "confidence of {id}");
        assert_eq!(action.performer, other.performer, "performer of {id}");
        assert_eq!(action.status, other.status, "status of {id}");
        assert_eq!(action.meta.is_active(), other.meta.is_active());
    }
    assert_eq!(plan.person.person, imported.person.person);
    assert_eq!(
        plan.funding.as_ref().map(|f| f.source),
        imported.funding.as_ref().map(|f| f.source)
    );
    let order = |p: &careplan_model::Plan| -> Vec<String> {
        p.goals_in_order()
            .iter()
            .map(|(id, _)| id.to_string())
            .collect()
    };
    assert_eq!(
        order(&plan),
        order(&imported),
        "the person's order of goals"
    );
    assert_eq!(
        imported.goals[&careplan_model::ItemId::parse("goal-tablet").unwrap()].status,
        GoalStatus::Proposed
    );
}

#[test]
fn csp12_agreement_survives_and_stays_for_an_earlier_version() {
    let (plan, versions) = rich_plan();
    let first = plan_bundle(&plan, &versions, BASE);
    let (imported, second) = import_and_export(&first);
    let id = |s: &str| careplan_model::ItemId::parse(s).unwrap();

    // The earlier agreement (by the person) is for an earlier version in both plans.
    let before = &plan.agreements[&id("agreement-first")];
    let after = &imported.agreements[&id("agreement-first")];
    assert!(before.superseded_in.is_some());
    assert!(
        after.superseded_in.is_some(),
        "still for an earlier version"
    );
    assert_eq!(before.outcome, after.outcome);
    assert_eq!(
        find(&second, "Consent", "agreement-first")["status"],
        "inactive"
    );

    // The representative's agreement is current, for the version that recorded it: the last.
    let (current_id, current) = imported.current_agreement().unwrap();
    assert_eq!(current_id.as_str(), "agreement-susan");
    assert_eq!(current.superseded_in, None);
    assert_eq!(current.agreed_version, imported.version);
    assert_eq!(
        current.outcome,
        plan.agreements[&id("agreement-susan")].outcome
    );
    let consent = find(&second, "Consent", "agreement-susan");
    assert_eq!(consent["status"], "active");
    assert_eq!(
        consent["provision"]["data"][0]["reference"]["reference"],
        format!("CarePlan/{PLAN_ID}/_history/{}", imported.version)
    );
    assert_eq!(consent["contained"][0]["resourceType"], "RelatedPerson");
    assert_eq!(consent["performer"][0]["reference"], "#representative");
}

#[test]
fn csp12_capacity_assessments_and_best_interest_decisions_survive_the_round_trip() {
    let (plan, versions) = rich_plan();
    let first = plan_bundle(&plan, &versions, BASE);
    let (imported, second) = import_and_export(&first);

    // In the model: every field of every record, and the steps to maximise capacity.
    assert_eq!(plan.capacity_assessments.len(), 2);
    for (id, a) in plan.capacity_assessments.iter() {
        let b = &imported.capacity_assessments[id];
        assert_eq!(
            (
                &a.decision,
                a.outcome,
                &a.assessed_by,
                a.assessed_on,
                &a.reasoning
            ),
            (
                &b.decision,
                b.outcome,
                &b.assessed_by,
                b.assessed_on,
                &b.reasoning
            ),
            "capacity assessment {id}"
        );
    }
    assert_eq!(plan.best_interest_decisions.len(), 1);
    for (id, a) in plan.best_interest_decisions.iter() {
        let b = &imported.best_interest_decisions[id];
        assert_eq!(
            (
                &a.decision,
                &a.assessment,
                &a.decision_maker,
                &a.consulted,
                &a.rationale,
                a.decided_on
            ),
            (
                &b.decision,
                &b.assessment,
                &b.decision_maker,
                &b.consulted,
                &b.rationale,
                b.decided_on
            ),
            "best-interest decision {id}"
        );
    }
    let support = |p: &careplan_model::Plan| {
        p.capacity_support.as_ref().map(|c| {
            (
                c.steps_to_maximise_capacity.clone(),
                c.rights_promotion.clone(),
            )
        })
    };
    assert!(support(&plan).is_some());
    assert_eq!(support(&plan), support(&imported));
    // The comment on an assessment travels in its note, after the reasoning.
    let comment = careplan_model::ItemId::parse("comment-capacity").unwrap();
    assert_eq!(
        imported.comments[&comment].target,
        plan.comments[&comment].target
    );

    // In FHIR: the decision, who, when, the outcome, and what the decision rests on.
    let assessment = find(&second, "Observation", "capacity-move");
    assert_eq!(
        assessment["code"]["coding"][0]["code"],
        "capacity-assessment"
    );
    assert_eq!(
        assessment["extension"][0]["valueString"],
        "Whether to move into residential care"
    );
    assert_eq!(
        assessment["performer"][0]["display"],
        "Tom Okafor, social worker"
    );
    assert_eq!(assessment["effectiveDateTime"], "2026-10-02");
    assert_eq!(
        assessment["valueCodeableConcept"]["coding"][0]["code"],
        "lacks-capacity"
    );
    assert_eq!(
        assessment["note"][0]["text"],
        "Could not retain the information long enough to weigh it"
    );
    assert_eq!(assessment["note"][1]["id"], "comment-capacity");
    let decision = find(&second, "Observation", "best-interest-move");
    assert_eq!(
        decision["derivedFrom"][0]["reference"],
        "Observation/capacity-move"
    );
    assert_eq!(decision["performer"][0]["display"], "Dr Priya Shah");
    let consulted: Vec<&Value> = decision["extension"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| {
            x["url"]
                .as_str()
                .unwrap()
                .ends_with("/best-interest-consulted")
        })
        .map(|x| &x["valueString"])
        .collect();
    assert_eq!(consulted, ["Susan Marlowe (daughter)", "Jo Bell (IMCA)"]);
    let care_plan = find(&second, "CarePlan", PLAN_ID);
    assert!(
        care_plan["extension"]
            .to_string()
            .contains("Talked through in the morning"),
        "{care_plan}"
    );
}

#[test]
fn csp8_suggested_changes_to_actions_survive_as_proposal_tasks() {
    let (plan, versions) = rich_plan();
    let first = plan_bundle(&plan, &versions, BASE);
    let (imported, second) = import_and_export(&first);
    let id = |s: &str| careplan_model::ItemId::parse(s).unwrap();

    // Open, accepted and declined, with what each proposed and the suggester's note.
    assert_eq!(plan.suggestions.len(), 3);
    for (sid, a) in plan.suggestions.iter() {
        let b = &imported.suggestions[sid];
        assert_eq!(
            (&a.action, &a.changes, &a.note, a.status.label()),
            (&b.action, &b.changes, &b.note, b.status.label()),
            "suggestion {sid}"
        );
    }
    assert_eq!(
        imported.suggestions[&id("suggestion-ola")].status,
        careplan_model::SuggestionStatus::Declined {
            reason: Some(careplan_model::Text::new("Olu is back from leave").unwrap())
        }
    );
    // The accepted suggestion set Saturdays; the action was changed again to Sundays, and the
    // import keeps the later state, not the suggestion's.
    let drive = &imported.actions[&id("action-drive")];
    assert_eq!(drive.timing.as_ref().unwrap().as_str(), "Sunday mornings");
    assert_eq!(drive.confidence, None, "cleared by the accepted suggestion");
    // The open suggestion changed nothing yet.
    let physio = &imported.actions[&id("action-physio")];
    assert_eq!(physio.description.as_str(), "Knee exercises");

    let task = find(&second, "Task", "suggestion-hips");
    assert_eq!(task["intent"], "proposal");
    assert_eq!(task["status"], "requested");
    assert_eq!(task["focus"]["reference"], "Task/action-physio");
    let inputs: Vec<(String, String)> = task["input"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            let value = i
                .as_object()
                .unwrap()
                .iter()
                .find(|(k, _)| k.starts_with("value"))
                .map(|(_, v)| v.to_string())
                .unwrap();
            (
                i["type"]["coding"][0]["code"].as_str().unwrap().to_owned(),
                value,
            )
        })
        .collect();
    assert_eq!(
        inputs,
        [
            ("goal", r#"{"reference":"Goal/goal-dress"}"#),
            ("description", r#""Knee and hip exercises""#),
            ("status", r#""in-progress""#),
            ("confidence", "5"),
        ]
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
    );
    assert_eq!(task["note"][0]["id"], "comment-suggestion");
    let declined = find(&second, "Task", "suggestion-ola");
    assert_eq!(declined["status"], "rejected");
    assert_eq!(declined["statusReason"]["text"], "Olu is back from leave");
    let accepted = find(&second, "Task", "suggestion-saturdays");
    assert_eq!(accepted["status"], "completed");
    assert_eq!(accepted["note"][0]["text"], "Sam works weekdays now");
    assert!(
        accepted["input"].to_string().contains("confidence-removed"),
        "{accepted}"
    );
}

#[test]
fn csp12_csp15_the_plan_as_agreed_is_a_document_attested_by_who_agreed_it() {
    let (plan, _) = rich_plan();
    let doc = careplan_fhir::document(&plan, "Tom Okafor", BASE);
    assert_eq!(doc["type"], "document");
    assert!(
        doc["identifier"]["value"]
            .as_str()
            .unwrap()
            .ends_with(&format!("v{}", plan.version))
    );
    let entries = doc["entry"].as_array().unwrap();
    let composition = &entries[0]["resource"];
    assert_eq!(composition["resourceType"], "Composition");
    assert_eq!(composition["author"][0]["display"], "Tom Okafor");
    // The last change recorded Susan's agreement: she attests this version, as its legal party.
    assert_eq!(composition["attester"][0]["mode"], "legal");
    assert_eq!(
        composition["attester"][0]["party"]["display"],
        "Susan Marlowe (daughter)"
    );
    // Every section's entry is in the Bundle; nothing archived is.
    let urls: Vec<&str> = entries
        .iter()
        .map(|e| e["fullUrl"].as_str().unwrap())
        .collect();
    let titles: Vec<&str> = composition["section"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles[0], "The plan");
    assert!(titles.contains(&"Mental capacity"), "{titles:?}");
    for section in composition["section"].as_array().unwrap() {
        for e in section["entry"].as_array().unwrap() {
            let r = e["reference"].as_str().unwrap();
            assert!(
                urls.contains(&format!("{BASE}/{r}").as_str()),
                "{r} is in the Bundle"
            );
        }
    }
    // Archived items come last, in their own section, and in no other.
    let sections = composition["section"].as_array().unwrap();
    let last = sections.last().unwrap();
    assert!(last["title"].as_str().unwrap().contains("archived"));
    assert!(last["entry"].to_string().contains("Condition/need-old"));
    let others: String = sections[..sections.len() - 1]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert!(!others.contains("need-old"), "{others}");
    assert!(others.contains("need-dress"));
    assert!(
        !doc.to_string().contains("\"Provenance\""),
        "no history in a document"
    );

    // Another version than an agreed one has no attester.
    let (earlier, _) = build(
        PLAN_ID,
        PERSON_ID,
        &careplan_model::Command::CreatePlan {
            person: plan.person.person.clone(),
        },
        &[],
        0,
    );
    let doc = careplan_fhir::document(&earlier, "Tom Okafor", BASE);
    assert!(doc["entry"][0]["resource"].get("attester").is_none());
}

#[test]
fn csp14_every_resource_carries_the_plan_version_and_last_update() {
    let (plan, versions) = rich_plan();
    let bundle = plan_bundle(&plan, &versions, BASE);
    let version = plan.version.to_string();
    let updated = plan.last_updated.to_string();
    let mut provenance = 0;
    for r in entries(&bundle) {
        if r["resourceType"] == "Provenance" {
            provenance += 1;
            assert_eq!(r["meta"]["versionId"], "1");
            continue;
        }
        assert_eq!(r["meta"]["versionId"], version.as_str(), "{}", r["id"]);
        assert_eq!(r["meta"]["lastUpdated"], updated.as_str(), "{}", r["id"]);
    }
    assert_eq!(provenance, versions.len(), "one Provenance per version");
    let last = find(
        &bundle,
        "Provenance",
        &format!("{PLAN_ID}-v{}", plan.version),
    );
    assert_eq!(
        last["target"][0]["reference"],
        format!("CarePlan/{PLAN_ID}/_history/{}", plan.version)
    );
    assert_eq!(last["activity"]["text"], "record_agreement");
    assert_eq!(last["agent"][0]["who"]["display"], "Susan Marlowe");
    for e in bundle["entry"].as_array().unwrap() {
        let r = &e["resource"];
        assert_eq!(
            e["fullUrl"],
            format!(
                "{BASE}/{}/{}",
                r["resourceType"].as_str().unwrap(),
                r["id"].as_str().unwrap()
            )
        );
    }
}

#[test]
fn single_resources_are_found_by_type_and_id() {
    let (plan, _) = rich_plan();
    let goal = resource(&plan, ResourceKind::Goal, "goal-dress").unwrap();
    assert_eq!(goal["description"]["text"], "Dress myself each morning");
    assert_eq!(goal["priority"]["coding"][0]["code"], "high-priority");
    assert_eq!(goal["addresses"][0]["reference"], "Condition/need-dress");
    assert!(
        resource(&plan, ResourceKind::Goal, "need-dress").is_none(),
        "wrong type"
    );
    assert!(resource(&plan, ResourceKind::Condition, "nothing").is_none());
    let patient = resource(&plan, ResourceKind::Patient, PERSON_ID).unwrap();
    assert_eq!(
        patient["identifier"][0]["system"],
        "https://fhir.nhs.uk/Id/nhs-number"
    );
    assert_eq!(patient["identifier"][0]["value"], "9434765919");
    assert!(resource(&plan, ResourceKind::CarePlan, PLAN_ID).is_some());
    let problem = resource(&plan, ResourceKind::Condition, "problem-copd").unwrap();
    assert_eq!(
        problem["code"]["coding"][0]["system"],
        "http://snomed.info/sct"
    );
    assert_eq!(problem["code"]["coding"][0]["code"], "13645005");
    assert_eq!(
        problem["category"][0]["coding"][0]["code"],
        "problem-list-item"
    );
    let concern = resource(&plan, ResourceKind::Condition, "concern-falls").unwrap();
    assert_eq!(
        concern["category"][0]["coding"][0]["code"],
        "health-concern"
    );
    let archived = resource(&plan, ResourceKind::Condition, "need-old").unwrap();
    assert_eq!(archived["clinicalStatus"]["coding"][0]["code"], "inactive");
    // CSP-2: attachments and hyperlinks as DocumentReferences.
    let attachment =
        resource(&plan, ResourceKind::DocumentReference, "attachment-buttons").unwrap();
    assert_eq!(attachment["status"], "current");
    assert_eq!(
        attachment["context"]["related"][0]["reference"],
        "Goal/goal-dress"
    );
    assert_eq!(attachment["category"][0]["coding"][0]["code"], "guidance");
    assert_eq!(attachment["author"][0]["display"], "Nia Nurse");
    let content = &attachment["content"][0]["attachment"];
    assert_eq!(content["contentType"], "application/pdf");
    assert_eq!(content["size"], 48213);
    assert_eq!(
        content["url"],
        format!("/api/v1/people/{PERSON_ID}/plan/attachments/attachment-buttons/content")
    );
    assert!(
        content.get("hash").is_none(),
        "FHIR's hash is SHA-1, not ours"
    );
    assert_eq!(
        content["extension"][0]["url"],
        "https://careplan.example/fhir/StructureDefinition/attachment-sha256"
    );
    let link = resource(&plan, ResourceKind::DocumentReference, "link-copd").unwrap();
    assert_eq!(
        link["content"][0]["attachment"]["url"],
        "https://www.nhs.uk/conditions/chronic-obstructive-pulmonary-disease-copd/"
    );
    assert_eq!(link["extension"][0]["valueCoding"]["code"], "goals");
    let old = resource(&plan, ResourceKind::DocumentReference, "link-old").unwrap();
    assert_eq!(old["status"], "current");
    assert_eq!(
        old["extension"][0]["url"],
        "https://careplan.example/fhir/StructureDefinition/archived"
    );
    let care_plan = resource(&plan, ResourceKind::CarePlan, PLAN_ID).unwrap();
    let supporting = care_plan["supportingInfo"].to_string();
    assert!(
        supporting.contains("DocumentReference/link-copd"),
        "{supporting}"
    );
    assert!(
        !supporting.contains("link-old"),
        "archived links are not listed: {supporting}"
    );
    assert!(resource(&plan, ResourceKind::DocumentReference, "goal-dress").is_none());
    // Every resource of the plan can be read alone, and reads the same as in the Bundle.
    for r in resources(&plan) {
        let kind = ResourceKind::parse(r["resourceType"].as_str().unwrap()).unwrap();
        assert_eq!(
            resource(&plan, kind, r["id"].as_str().unwrap()).as_ref(),
            Some(&r)
        );
    }
}

#[test]
fn csp10_care_plan_for_performer_holds_only_their_goals_and_actions() {
    let (plan, _) = rich_plan();
    let view = care_plan_for_performer(&plan, "  olu therapist ");
    let refs = |key: &str| -> Vec<String> {
        view[key]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|r| {
                        r.get("reference")
                            .and_then(|x| x.get("reference").or(Some(x)))
                            .and_then(Value::as_str)
                            .unwrap()
                            .to_owned()
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    // Olu does the buttons (goal-dress) and the knee exercises (goal-knee), in the person's order.
    assert_eq!(refs("goal"), ["Goal/goal-dress", "Goal/goal-knee"]);
    assert_eq!(
        refs("activity"),
        ["Task/action-buttons", "Task/action-physio"]
    );
    assert_eq!(
        refs("addresses"),
        [
            "Condition/need-dress",
            "Condition/problem-copd",
            "Condition/problem-knee"
        ]
    );
    assert_eq!(refs("supportingInfo"), ["Observation/strength-garden"]);
    assert_eq!(view["meta"]["tag"][0]["code"], "SUBSETTED");
    assert!(
        view.get("note").is_none(),
        "the plan's comments are not part of the view"
    );
    // By organisation.
    let age_uk = care_plan_for_performer(&plan, "Age UK Leeds");
    assert!(age_uk.get("goal").is_none(), "its only goal is archived");
    let ot = care_plan_for_performer(&plan, "leeds ot service");
    assert_eq!(ot["activity"].as_array().unwrap().len(), 1);
    let full = careplan_fhir::plan_bundle(&plan, &[], BASE);
    assert_eq!(
        find(&full, "CarePlan", PLAN_ID)["goal"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
}

#[test]
#[ignore = "prints the rich plan's Bundle for a person to read"]
fn print_bundle() {
    let (plan, versions) = rich_plan();
    println!(
        "{}",
        serde_json::to_string_pretty(&plan_bundle(&plan, &versions, BASE)).unwrap()
    );
}
