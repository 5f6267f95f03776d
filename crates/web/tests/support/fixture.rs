//! A small, fictional plan and the accounts that use it, built through the same commands and
//! handles as everything else. Shared by the tests and `examples/serve.rs`.
//!
//! Edith Marlowe does not exist; her NHS number is in the 999 range, never issued to a person.

#![allow(dead_code)]

use careplan_model::{Command, Person, Role};
use careplan_store::Store;
use careplan_store::accounts::{Account, NewAccount};
use serde_json::json;

pub const NHS_NUMBER: &str = "9997654323";
pub const PASSWORD: &str = "a-long-password-for-tests";

/// The people who sign in, by username.
pub const NURSE: &str = "priya";
pub const OTHER_NURSE: &str = "gary";
pub const PERSON: &str = "edith";
pub const REPRESENTATIVE: &str = "susan";
pub const CONTROLLER: &str = "dana";

#[derive(Debug, Clone)]
pub struct Fixture {
    pub person_id: String,
    pub plan_id: String,
    pub nurse: Account,
}

async fn account(
    store: &Store,
    username: &str,
    name: &str,
    role: Role,
    person: Option<careplan_model::PersonId>,
    organisation: Option<&str>,
) -> Account {
    store
        .create_account(NewAccount {
            username: username.into(),
            display_name: Some(name.into()),
            role,
            person_id: person,
            organisation: organisation.map(str::to_owned),
            password: Some(PASSWORD.into()),
        })
        .await
        .expect("account")
}

fn commands() -> Vec<Command> {
    let list = json!([
        {"type": "set_funding_source", "source": "personal_budget",
         "details_held_at": "Adult social care record SP-20931"},
        {"type": "set_review_date", "review_date": "2027-01-15"},
        {"type": "add_care_team_member", "id": "team-tom", "name": "Tom Okafor",
         "role": "Social worker", "organisation": "Adult Social Care (fictional)"},
        {"type": "add_strength", "id": "strength-gardening",
         "description": "Loves gardening; has kept an allotment for thirty years", "importance": 9},
        {"type": "add_strength", "id": "strength-choir",
         "description": "Sings alto in the church choir", "importance": 8},
        {"type": "add_need", "id": "need-mobility",
         "description": "To walk safely outdoors after the fall", "identified_by": "person", "importance": 9},
        {"type": "add_need", "id": "need-company",
         "description": "To see friends more often", "identified_by": "person", "importance": 7},
        {"type": "add_concern", "id": "concern-falls",
         "description": "Worried about falling again on the way to the allotment",
         "raised_by": "person", "domain": "psychological", "importance": 8},
        {"type": "add_problem", "id": "problem-knee",
         "description": "Osteoarthritis of the right knee",
         "code": {"code": "239873007", "display": "Osteoarthritis of knee"}, "importance": 6},
        {"type": "add_goal", "id": "goal-allotment", "label": "goal",
         "description": "Get back to the allotment twice a week",
         "why_it_matters": "It is where I feel most like myself", "priority": 9,
         "target_date": "2027-04-01",
         "addresses": ["need-mobility", "concern-falls"], "strengths": ["strength-gardening"]},
        {"type": "add_goal", "id": "goal-choir", "label": "hope",
         "description": "Sing with the choir at the Christmas concert",
         "why_it_matters": "Singing keeps me going", "priority": 7,
         "addresses": ["need-company"], "strengths": ["strength-choir"]},
        {"type": "add_action", "id": "action-physio", "goal": "goal-allotment",
         "description": "Strength and balance exercises with the physiotherapist",
         "performer": {"kind": "practitioner", "name": "Sam Reid", "organisation": "Community physiotherapy"},
         "timing": "Tuesdays at 10am", "status": "in_progress", "confidence": 7},
        {"type": "add_action", "id": "action-lift", "goal": "goal-allotment",
         "description": "Amy drives Edith to the allotment",
         "performer": {"kind": "carer", "name": "Amy Marlowe"},
         "timing": "Saturday mornings", "status": "not_started", "confidence": 8},
        {"type": "add_action", "id": "action-transport", "goal": "goal-choir",
         "description": "Book community transport to rehearsals",
         "performer": {"kind": "person"}, "timing": "Every Thursday", "confidence": 5},
        {"type": "record_progress", "id": "progress-1", "goal": "goal-allotment",
         "date": "2026-10-01", "progress": {"scale": "goal_attainment", "value": -2},
         "note": "Could not get to the allotment"},
        {"type": "record_progress", "id": "progress-2", "goal": "goal-allotment",
         "date": "2026-11-01", "progress": {"scale": "goal_attainment", "value": -1},
         "note": "Went **once** with Amy"},
        {"type": "add_comment", "id": "comment-1", "target": {"on": "item", "item": "goal-choir"},
         "text": "Rehearsals start again in *January*."},
        {"type": "add_hyperlink", "id": "link-falls", "target": {"on": "plan"},
         "title": "Preventing falls (NHS guidance)", "url": "https://www.nhs.uk/conditions/falls/",
         "purpose": "guidance"}
    ]);
    serde_json::from_value(list).expect("fixture commands")
}

/// Adds the accounts and Edith's plan, made by the nurse (who joins her care team).
pub async fn build(store: &Store) -> Fixture {
    let nurse = account(
        store,
        NURSE,
        "Priya Shah",
        Role::Practitioner,
        None,
        Some("Community Nursing"),
    )
    .await;
    account(
        store,
        OTHER_NURSE,
        "Gary Lin",
        Role::Practitioner,
        None,
        Some("Hospital Discharge Team"),
    )
    .await;
    account(
        store,
        CONTROLLER,
        "Dana Okoro",
        Role::DataController,
        None,
        Some("Information Governance"),
    )
    .await;
    let person: Person = serde_json::from_value(json!({
        "given_name": "Edith", "family_name": "Marlowe", "preferred_name": "Edie",
        "date_of_birth": "1941-03-14", "nhs_number": NHS_NUMBER
    }))
    .expect("person");
    let done = store
        .handle(nurse.requester(), nurse.actor())
        .create_person_with(person, commands())
        .await
        .expect("fixture plan");
    let plan = &done.last().expect("versions").plan;
    let person_id = plan.details.person_id.clone();
    account(
        store,
        PERSON,
        "Edith Marlowe",
        Role::Person,
        Some(person_id.clone()),
        None,
    )
    .await;
    account(
        store,
        REPRESENTATIVE,
        "Susan Marlowe",
        Role::Representative,
        Some(person_id.clone()),
        None,
    )
    .await;
    Fixture {
        person_id: person_id.to_string(),
        plan_id: plan.id.to_string(),
        nurse,
    }
}
