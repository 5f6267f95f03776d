//! `careplan demo`: a fictional person's plan, built version by version through the same
//! commands that people and systems use, by the people who would make each change.
//!
//! Edith Marlowe does not exist. Her NHS number is in the 999 range, which is never issued to
//! real patients; every organisation and person named is invented.

use anyhow::Context;
use careplan_model::{Actor, Command, NhsNumber, Role, Text};
use careplan_store::{Store, StoreError};
use serde_json::{Value, json};

pub const DEMO_NHS_NUMBER: &str = "9997654323";

fn actor(id: &str, name: &str, role: Role) -> Actor {
    Actor {
        id: Text::new(id).expect("id"),
        name: Text::new(name).expect("name"),
        role,
    }
}

/// The demo's changes in order: who makes each, and the command as JSON.
fn script() -> Vec<(Actor, Value)> {
    let tom = actor(
        "demo:tom.okafor",
        "Tom Okafor, social worker",
        Role::Practitioner,
    );
    let priya = actor(
        "demo:priya.shah",
        "Priya Shah, district nurse",
        Role::Practitioner,
    );
    let helen = actor("demo:helen.ward", "Dr Helen Ward, GP", Role::Practitioner);
    let edith = actor("demo:edith.marlowe", "Edith Marlowe", Role::Person);
    let susan = actor(
        "demo:susan.marlowe",
        "Susan Marlowe (daughter, LPA)",
        Role::Representative,
    );
    let practice = "Kirkstall Lane Surgery (fictional)";
    let community = "Leeds Community Healthcare (fictional team)";
    vec![
        (
            tom.clone(),
            json!({"type": "set_funding_source", "source": "personal_budget",
            "details_held_at": "Adult social care record, support plan SP-20931"}),
        ),
        (
            tom.clone(),
            json!({"type": "add_care_team_member", "id": "team-tom", "name": "Tom Okafor",
            "role": "Social worker", "organisation": "Adult Social Care (fictional council)"}),
        ),
        (
            tom.clone(),
            json!({"type": "add_care_team_member", "id": "team-priya", "name": "Priya Shah",
            "role": "District nurse", "organisation": community}),
        ),
        (
            tom.clone(),
            json!({"type": "add_care_team_member", "id": "team-helen", "name": "Dr Helen Ward",
            "role": "GP", "organisation": practice}),
        ),
        (
            tom.clone(),
            json!({"type": "add_strength", "id": "strength-gardening",
            "description": "Loves gardening; has kept an allotment for thirty years", "importance": 9}),
        ),
        (
            tom.clone(),
            json!({"type": "add_strength", "id": "strength-choir",
            "description": "Sings alto in the St Aidan's church choir", "importance": 8}),
        ),
        (
            tom.clone(),
            json!({"type": "add_strength", "id": "strength-family",
            "description": "Close to her granddaughter Amy, who visits every Saturday", "importance": 7}),
        ),
        (
            tom.clone(),
            json!({"type": "add_strength", "id": "strength-tablet",
            "description": "Confident using her tablet for video calls"}),
        ),
        (
            tom.clone(),
            json!({"type": "add_need", "id": "need-dressing",
            "description": "To dress myself in the morning without waiting for help",
            "identified_by": "person", "importance": 7}),
        ),
        (
            priya.clone(),
            json!({"type": "add_need", "id": "need-inhalers",
            "description": "To understand what each of my inhalers is for",
            "identified_by": "professional", "importance": 6}),
        ),
        (
            tom.clone(),
            json!({"type": "add_concern", "id": "concern-stairs",
            "description": "Worried about managing the stairs since the fall in August",
            "raised_by": "person", "domain": "psychological", "importance": 8}),
        ),
        (
            helen.clone(),
            json!({"type": "add_concern", "id": "concern-blood-pressure",
            "description": "Blood pressure above target at the last three checks",
            "raised_by": "professional", "domain": "biological", "importance": 6}),
        ),
        (
            helen.clone(),
            json!({"type": "add_problem", "id": "problem-copd",
            "description": "Chronic obstructive pulmonary disease (COPD)",
            "code": {"code": "13645005", "display": "Chronic obstructive lung disease"},
            "external_reference": {"system": practice, "value": "problem list entry PL-0032"}}),
        ),
        (
            helen.clone(),
            json!({"type": "add_problem", "id": "problem-knee",
            "description": "Osteoarthritis of the right knee",
            "code": {"code": "239873007", "display": "Osteoarthritis of knee"}}),
        ),
        (
            tom.clone(),
            json!({"type": "add_goal", "id": "goal-allotment", "label": "hope",
            "description": "Get back to my allotment twice a week by the spring",
            "why_it_matters": "It is where I feel most like myself, and where I see my friends",
            "priority": 9, "target_date": "2027-04-01",
            "addresses": ["problem-knee", "concern-stairs"],
            "strengths": ["strength-gardening", "strength-family"]}),
        ),
        (
            priya.clone(),
            json!({"type": "add_goal", "id": "goal-singing",
            "description": "Have enough breath to sing through the Sunday service",
            "why_it_matters": "The choir has been part of my week since 1979",
            "priority": 8, "addresses": ["problem-copd", "need-inhalers"], "strengths": ["strength-choir"]}),
        ),
        (
            tom.clone(),
            json!({"type": "add_goal", "id": "goal-dressing",
            "description": "Dress myself each morning",
            "why_it_matters": "I do not want to wait in my dressing gown until the carer comes",
            "priority": 7, "addresses": ["need-dressing"]}),
        ),
        (
            tom.clone(),
            json!({"type": "add_goal", "id": "goal-shop",
            "description": "Walk to the corner shop on my own", "priority": 5,
            "addresses": ["problem-knee"]}),
        ),
        (
            edith.clone(),
            json!({"type": "add_action", "id": "action-exercises", "goal": "goal-allotment",
            "description": "Knee-strengthening exercises from the physiotherapist's sheet",
            "performer": {"kind": "person"}, "timing": "Every morning, 15 minutes",
            "status": "in_progress", "confidence": 6}),
        ),
        (
            tom.clone(),
            json!({"type": "add_action", "id": "action-lifts", "goal": "goal-allotment",
            "description": "Drive Edith to the allotment and help with the heavy digging",
            "performer": {"kind": "carer", "name": "Amy Marlowe (granddaughter)"},
            "timing": "Saturdays", "confidence": 9}),
        ),
        (
            priya.clone(),
            json!({"type": "add_action", "id": "action-inhaler-review", "goal": "goal-singing",
            "description": "Check inhaler technique and explain what each inhaler is for",
            "performer": {"kind": "practitioner", "name": "Priya Shah", "organisation": community},
            "timing": "At the next home visit", "confidence": 8}),
        ),
        (
            helen.clone(),
            json!({"type": "add_action", "id": "action-rehab", "goal": "goal-singing",
            "description": "Refer to the pulmonary rehabilitation programme",
            "performer": {"kind": "practitioner", "name": "Dr Helen Ward", "organisation": practice},
            "timing": "By 15 December"}),
        ),
        (
            tom.clone(),
            json!({"type": "add_action", "id": "action-ot", "goal": "goal-dressing",
            "description": "Occupational therapy assessment for dressing aids",
            "performer": {"kind": "organisation", "name": "Occupational therapy service",
                          "organisation": "Adult Social Care (fictional council)"},
            "timing": "Within four weeks", "confidence": 7}),
        ),
        (
            edith.clone(),
            json!({"type": "add_action", "id": "action-walk", "goal": "goal-shop",
            "description": "Walk to the end of the road and back with my stick",
            "performer": {"kind": "person"}, "timing": "Every afternoon when dry", "confidence": 4}),
        ),
        (
            tom.clone(),
            json!({"type": "set_weekly_schedule", "schedule": {"slots": [
                {"start": "08:00", "end": "09:00", "label": "Getting up",
                 "days": {"monday": {"what": "Help to wash and dress", "who": "Home care (fictional agency)"},
                          "wednesday": {"what": "Help to wash and dress", "who": "Home care (fictional agency)"},
                          "friday": {"what": "Help to wash and dress", "who": "Home care (fictional agency)"}}},
                {"start": "09:30", "end": "09:45", "label": "Exercises",
                 "days": {"monday": {"what": "Knee exercises"}, "tuesday": {"what": "Knee exercises"},
                          "wednesday": {"what": "Knee exercises"}, "thursday": {"what": "Knee exercises"},
                          "friday": {"what": "Knee exercises"}, "saturday": {"what": "Knee exercises"},
                          "sunday": {"what": "Knee exercises"}}},
                {"start": "10:00", "end": "13:00", "label": "Allotment",
                 "days": {"saturday": {"what": "Allotment, with the heavy digging done for her", "who": "Amy Marlowe (granddaughter)"}}},
                {"start": "14:00", "end": "15:00", "label": "Choir",
                 "days": {"thursday": {"what": "Community choir at the church hall", "who": "Susan Marlowe (daughter), who drives her there"}}}
            ]}}),
        ),
        (
            priya.clone(),
            json!({"type": "complete_action", "id": "action-inhaler-review"}),
        ),
        (
            priya.clone(),
            json!({"type": "record_progress", "id": "progress-singing-1", "goal": "goal-singing",
            "date": "2026-11-22", "progress": {"scale": "goal_attainment", "value": 0},
            "note": "Sang two hymns without stopping for breath"}),
        ),
        (
            edith.clone(),
            json!({"type": "add_comment", "id": "comment-exercises",
            "target": {"on": "item", "item": "action-exercises"},
            "text": "The exercises hurt less after the first week."}),
        ),
        (
            tom.clone(),
            json!({"type": "add_comment", "id": "comment-visit", "target": {"on": "plan"},
            "text": "Plan discussed with Edith and Susan at home on 18 November."}),
        ),
        (
            tom.clone(),
            json!({"type": "archive_goal", "id": "goal-shop",
            "move_actions": [{"action": "action-walk", "to_goal": "goal-allotment"}],
            "reason": "Edith would rather put her energy into the allotment; the walking practice helps with that too"}),
        ),
        (
            tom.clone(),
            json!({"type": "edit_need", "id": "need-dressing", "importance": 9}),
        ),
        (
            tom.clone(),
            json!({"type": "review_goal", "id": "goal-dressing"}),
        ),
        (
            tom.clone(),
            json!({"type": "complete_action", "id": "action-ot"}),
        ),
        (
            priya.clone(),
            json!({"type": "record_outcome", "id": "outcome-dressing", "goal": "goal-dressing",
            "description": "Uses a long-handled shoehorn and a dressing stick; dresses herself most mornings",
            "status": "partly_achieved", "date": "2026-11-20"}),
        ),
        (
            tom.clone(),
            json!({"type": "archive", "id": "action-ot", "reason": "Completed: aids delivered"}),
        ),
        (
            tom.clone(),
            json!({"type": "add_hyperlink", "id": "link-copd", "target": {"on": "item", "item": "problem-copd"},
            "title": "Living with COPD (NHS website)", "url": "https://www.nhs.uk/conditions/chronic-obstructive-pulmonary-disease-copd/",
            "purpose": "learning_material"}),
        ),
        (
            tom.clone(),
            json!({"type": "set_capacity_support",
            "steps_to_maximise_capacity": "Information given in large print and talked through in the morning, when Edith is most alert, with her daughter present.",
            "rights_promotion": "Edith chooses her own daily routine; she has been told how to complain and how to ask for an advocate."}),
        ),
        (
            tom.clone(),
            json!({"type": "record_capacity_assessment", "id": "capacity-agree-plan",
            "decision": "Whether to agree this care and support plan",
            "outcome": "lacks_capacity", "assessed_by": "Tom Okafor, social worker", "assessed_on": "2026-11-18",
            "reasoning": "During a chest infection with delirium Edith could not retain the information long enough to weigh it; to be reassessed once she has recovered."}),
        ),
        (
            edith.clone(),
            json!({"type": "set_consent_preference", "scope": {"section": "concerns"},
            "audience": {"role": "carer"}, "visible": false}),
        ),
        (
            tom.clone(),
            json!({"type": "set_plan_status", "status": "active"}),
        ),
        (
            susan.clone(),
            json!({"type": "record_agreement", "id": "agreement-1", "outcome": {"result": "agreed",
            "by": {"who": "representative", "name": "Susan Marlowe", "relationship": "Daughter",
                   "legal_authority": "lasting_power_of_attorney_health_and_welfare",
                   "authority_reference": "Office of the Public Guardian registration 7000-0000-0000 (fictional)"}}}),
        ),
        (
            tom.clone(),
            json!({"type": "set_review_date", "review_date": "2027-02-24"}),
        ),
        (
            edith.clone(),
            json!({"type": "record_progress", "id": "progress-allotment-1", "goal": "goal-allotment",
            "date": "2026-11-24", "progress": {"scale": "goal_attainment", "value": -1},
            "note": "Went to the allotment once with Amy; the knee was sore afterwards"}),
        ),
    ]
}

/// Loads the demo person and plan, unless they are already there.
pub async fn load(store: &Store) -> anyhow::Result<()> {
    let nhs = NhsNumber::parse(DEMO_NHS_NUMBER).expect("valid demo NHS number");
    match store.find_plan(nhs.as_str()).await {
        Ok(plan) => {
            println!(
                "The demo plan is already loaded (plan {plan}). Try: careplan plan show {}",
                nhs.as_str()
            );
            return Ok(());
        }
        Err(StoreError::NotFound(_)) => {}
        Err(other) => return Err(other.into()),
    }
    let person = serde_json::from_value(json!({
        "given_name": "Edith", "family_name": "Marlowe", "preferred_name": "Edie",
        "date_of_birth": "1941-03-14", "nhs_number": DEMO_NHS_NUMBER,
        "other_identifiers": [{"system": "Adult Social Care (fictional council) case number", "value": "ASC-448812"}]
    }))?;
    let tom = actor(
        "demo:tom.okafor",
        "Tom Okafor, social worker",
        Role::Practitioner,
    );
    let created = store
        .create_plan(
            &tom,
            person,
            Some(Text::new("Referral after a fall at home").expect("reason")),
        )
        .await?;
    let plan_id = created.plan.id.clone();
    let mut version = created.version();
    for (i, (who, value)) in script().into_iter().enumerate() {
        let command: Command = serde_json::from_value(value)
            .with_context(|| format!("demo step {} is malformed", i + 1))?;
        let committed = store
            .apply(&plan_id, version, &who, command, None)
            .await
            .with_context(|| format!("demo step {} was refused", i + 1))?;
        version = committed.version();
    }
    println!("Loaded the demo plan for Edith Marlowe (fictional): {version} versions.");
    let nhs = nhs.as_str();
    println!("Try: careplan plan show {nhs}");
    println!("     careplan plan history {nhs}");
    println!("     careplan plan diff {nhs} 1 {version}");
    Ok(())
}

/// The password of every demo sign-in. Published here and in the README, so `serve --demo`
/// refuses to listen anywhere but this machine.
pub const DEMO_PASSWORD: &str = "care-plan-demo";

/// Sign-ins for trying the demo plan in the web interface or the API: the district nurse (on
/// Edith's care team), Edith herself, Susan (her daughter and attorney) and an
/// information-governance lead. Made only if missing; existing accounts are left alone.
pub async fn accounts(store: &Store) -> anyhow::Result<()> {
    use careplan_store::accounts::NewAccount;
    let nhs = NhsNumber::parse(DEMO_NHS_NUMBER).expect("valid demo NHS number");
    let plan_id = store.find_plan(nhs.as_str()).await?;
    let plan = store.current(&plan_id).await?;
    let person = plan.details.person_id.clone();
    let community = "Leeds Community Healthcare (fictional team)";
    // (username, name, role, the person they are linked to, organisation)
    type DemoUser<'a> = (
        &'a str,
        &'a str,
        Role,
        Option<careplan_model::PersonId>,
        Option<&'a str>,
    );
    let people: [DemoUser<'_>; 4] = [
        (
            "priya",
            "Priya Shah",
            Role::Practitioner,
            None,
            Some(community),
        ),
        (
            "edith",
            "Edith Marlowe",
            Role::Person,
            Some(person.clone()),
            None,
        ),
        (
            "susan",
            "Susan Marlowe",
            Role::Representative,
            Some(person),
            None,
        ),
        (
            "dana",
            "Dana Whitfield",
            Role::DataController,
            None,
            Some("Information governance (fictional)"),
        ),
    ];
    for (username, name, role, person_id, organisation) in people {
        if store.account(username).await?.is_some() {
            continue;
        }
        store
            .create_account(NewAccount {
                username: username.into(),
                display_name: Some(name.into()),
                role,
                person_id,
                organisation: organisation.map(str::to_owned),
                password: Some(DEMO_PASSWORD.into()),
            })
            .await?;
    }
    // Priya may open the plan as a member of the care team, signed in as herself.
    let priya = store
        .account("priya")
        .await?
        .context("the demo nurse's account was just made")?;
    let signed_in = plan
        .care_team
        .values()
        .any(|m| m.meta.is_active() && m.account.as_ref().is_some_and(|a| a.as_str() == priya.id));
    if !signed_in {
        let tom = actor(
            "demo:tom.okafor",
            "Tom Okafor, social worker",
            Role::Practitioner,
        );
        // The demo's Priya had no sign-in: her entry is replaced by one linked to her account.
        let mut version = plan.version;
        let steps = [
            json!({"type": "archive", "id": "team-priya", "reason": "Replaced by her entry with a sign-in"}),
            json!({"type": "add_care_team_member", "id": "team-priya-account", "name": "Priya Shah",
                   "role": "District nurse", "organisation": community, "account": "priya"}),
        ];
        for step in steps {
            let old_entry_active = plan
                .care_team
                .iter()
                .any(|(id, m)| id.as_str() == "team-priya" && m.meta.is_active());
            if step["type"] == "archive" && !old_entry_active {
                continue;
            }
            let command: Command = serde_json::from_value(step)?;
            // Through a handle, which turns the account's username into its id.
            version = store
                .system(tom.clone())
                .apply(&plan_id, version, vec![command], None)
                .await
                .context("the demo nurse could not join the care team")?
                .last()
                .map_or(version, |c| c.version());
        }
    }
    println!(
        "Demo sign-ins (password “{DEMO_PASSWORD}”): priya (district nurse), edith (the person), \
         susan (her representative), dana (data controller)."
    );
    Ok(())
}
