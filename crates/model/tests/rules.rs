//! Unit tests of the plan's rules, one area per section, each test named after the requirement
//! (CSP-n in PRODUCT.md) it proves. Commands are written as JSON, as they arrive from the edges.

use std::collections::BTreeSet;

use careplan_model::{
    Actor, Applied, ChangeKind, Command, GoalStatus, Issue, IssueCode, ItemId, ItemKey, PersonId,
    Plan, PlanId, Role, Section, Stamp, Text, Timestamp, VersionNumber, Viewer, apply, diff,
    invariants, start, withheld_from,
};
use serde_json::{Value, json};

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// Version `v` happens `v` minutes after 09:00 on 1 March 2026, by a practitioner.
fn stamp(v: u64) -> Stamp {
    let start = time::macros::datetime!(2026-03-01 09:00 UTC);
    Stamp {
        version: VersionNumber::new(v).unwrap(),
        at: Timestamp::from_datetime(start + time::Duration::minutes(v as i64)),
        by: Actor {
            id: Text::new("user:nurse-1").unwrap(),
            name: Text::new("Nia Nurse").unwrap(),
            role: Role::Practitioner,
        },
    }
}

fn command(json: Value) -> Command {
    serde_json::from_value(json.clone()).unwrap_or_else(|e| panic!("{json}: {e}"))
}

/// The error serde gives for a command that cannot be read at all.
fn unreadable(json: Value) -> String {
    match serde_json::from_value::<Command>(json.clone()) {
        Ok(c) => panic!("{json} was read as {c:?}"),
        Err(e) => e.to_string(),
    }
}

fn person() -> Value {
    json!({"given_name": "Ada", "family_name": "Lovelace", "date_of_birth": "1950-12-10"})
}

fn key(k: &ItemKey) -> String {
    format!("{}/{}", k.kind.as_str(), k.id)
}

fn keys(changed: &[ItemKey]) -> BTreeSet<String> {
    changed.iter().map(key).collect()
}

fn id(s: &str) -> ItemId {
    ItemId::parse(s).unwrap()
}

fn codes(issues: &[Issue]) -> Vec<IssueCode> {
    issues.iter().map(|i| i.code).collect()
}

/// A plan and every version it went through.
struct Story {
    plan: Plan,
    history: Vec<Plan>,
}

impl Story {
    fn new() -> Story {
        let create = command(json!({"type": "create_plan", "person": person()}));
        let Applied { plan, .. } = start(
            PlanId::parse("plan-1").unwrap(),
            PersonId::parse("person-1").unwrap(),
            &create,
            &stamp(1),
        )
        .unwrap();
        Story {
            history: vec![plan.clone()],
            plan,
        }
    }

    fn next(&self) -> Stamp {
        stamp(self.plan.version.get() + 1)
    }

    /// Applies `json` as the next version, filling a missing id as the store would.
    fn attempt(&self, json: Value) -> Result<Applied, Vec<Issue>> {
        let stamp = self.next();
        let mut c = command(json);
        c.fill_missing_id(|kind| {
            id(&format!("{}-{}", kind.as_str(), stamp.version).replace('_', "-"))
        });
        apply(&self.plan, &c, &stamp)
    }

    /// Applies `json`, which must be accepted; returns the changed keys as `kind/id`.
    fn ok(&mut self, json: Value) -> BTreeSet<String> {
        match self.attempt(json.clone()) {
            Ok(Applied { plan, changed }) => {
                self.history.push(plan.clone());
                self.plan = plan;
                keys(&changed)
            }
            Err(issues) => panic!("{json} was refused: {issues:#?}"),
        }
    }

    /// Applies `json`, which must be refused; returns the issues.
    fn refused(&self, json: Value) -> Vec<Issue> {
        match self.attempt(json.clone()) {
            Ok(a) => panic!("{json} was accepted, changing {:?}", keys(&a.changed)),
            Err(issues) => {
                assert!(!issues.is_empty(), "{json}: refused with no issue");
                issues
            }
        }
    }

    fn version(&self, v: u64) -> &Plan {
        &self.history[v as usize - 1]
    }
}

/// The data-driven check of an area: each command is tried on the same plan and must give
/// exactly the issue codes listed (none: accepted).
fn check(story: &Story, cases: &[(Value, &[IssueCode])]) {
    let mut failures = Vec::new();
    for (json, expected) in cases {
        let got = match story.attempt(json.clone()) {
            Ok(_) => Vec::new(),
            Err(issues) => codes(&issues),
        };
        if got != *expected {
            failures.push(format!(
                "{json}\n   expected {expected:?}\n   got      {got:?}"
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

/// Each command is tried on the same plan, must be accepted, and must change exactly the items
/// listed (as `kind/id`).
fn check_changed(story: &Story, cases: &[(Value, &[&str])]) {
    let mut failures = Vec::new();
    for (json, expected) in cases {
        let expected: BTreeSet<String> = expected.iter().map(|s| s.to_string()).collect();
        match story.attempt(json.clone()) {
            Ok(Applied { changed, .. }) if keys(&changed) == expected => {}
            Ok(Applied { changed, .. }) => failures.push(format!(
                "{json}\n   expected {expected:?}\n   changed  {:?}",
                keys(&changed)
            )),
            Err(issues) => failures.push(format!("{json}\n   refused: {issues:?}")),
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

/// A plan with a strength, two needs, a concern, a problem, goals g1 (for n1, drawing on s1) and
/// g2 (for n1 and n2), actions a1 and a2 on g1 and a3 on g2. Version 11.
fn fixture() -> Story {
    let mut s = Story::new();
    s.ok(json!({"type": "add_strength", "id": "s1", "description": "Loves gardening", "importance": 6}));
    s.ok(json!({"type": "add_need", "id": "n1", "description": "To get out of the house", "importance": 8}));
    s.ok(json!({"type": "add_need", "id": "n2", "description": "To manage breathlessness"}));
    s.ok(
        json!({"type": "add_concern", "id": "c1", "description": "Falls at night",
                "raised_by": "carer", "domain": "biological"}),
    );
    s.ok(
        json!({"type": "add_problem", "id": "p1", "description": "COPD",
                "code": {"code": "13645005", "display": "Chronic obstructive lung disease"}}),
    );
    s.ok(
        json!({"type": "add_goal", "id": "g1", "description": "Go to the allotment weekly",
                "addresses": ["n1"], "strengths": ["s1"]}),
    );
    s.ok(
        json!({"type": "add_goal", "id": "g2", "description": "Walk to the shop",
                "addresses": ["n1", "n2"]}),
    );
    s.ok(action("a1", "g1"));
    s.ok(action("a2", "g1"));
    s.ok(action("a3", "g2"));
    assert_eq!(s.plan.version.get(), 11);
    s
}

fn action(id: &str, goal: &str) -> Value {
    json!({"type": "add_action", "id": id, "goal": goal, "description": format!("Action {id}"),
           "performer": {"kind": "carer", "name": "Sam"}})
}

fn goal(story: &Story, g: &str) -> careplan_model::Goal {
    story.plan.goals[&id(g)].clone()
}

fn active(story: &Story, key: (&str, &str)) -> bool {
    let (kind, item) = key;
    let key = ItemKey::new(careplan_model::ItemKind::parse(kind).unwrap(), id(item));
    story.plan.get(&key).unwrap().item_meta().is_active()
}

// ---------------------------------------------------------------------------------------------
// Commands in general: all issues at once, no-op edits, ids, versions, `changed`
// ---------------------------------------------------------------------------------------------

#[test]
fn rejected_commands_report_all_issues_at_once() {
    let s = fixture();
    let issues = s.refused(json!({"type": "add_goal", "description": "x",
                                  "addresses": ["nowhere", "s1"]}));
    let found: Vec<(IssueCode, &str)> = issues.iter().map(|i| (i.code, i.path.as_str())).collect();
    assert_eq!(
        found,
        [
            (IssueCode::BrokenLink, "/addresses/0"),
            (IssueCode::WrongKind, "/addresses/1")
        ]
    );
    assert!(issues.iter().all(|i| !i.message.is_empty()));

    // Links, strengths and the id are all checked before anything is refused.
    let issues = s.refused(json!({"type": "add_goal", "id": "n1", "description": "x",
                                  "addresses": ["nowhere", "s1"], "strengths": ["n2"]}));
    let found: Vec<(IssueCode, &str)> = issues.iter().map(|i| (i.code, i.path.as_str())).collect();
    assert_eq!(
        found,
        [
            (IssueCode::BrokenLink, "/addresses/0"),
            (IssueCode::WrongKind, "/addresses/1"),
            (IssueCode::WrongKind, "/strengths/0"),
            (IssueCode::DuplicateId, "/id"),
        ]
    );
}

#[test]
fn edits_that_change_nothing_are_refused_with_no_change() {
    let mut s = fixture();
    s.ok(json!({"type": "complete_action", "id": "a3"}));
    use IssueCode::NoChange;
    check(
        &s,
        &[
            (
                json!({"type": "edit_need", "id": "n1", "importance": 8}),
                &[NoChange],
            ),
            (
                json!({"type": "edit_need", "id": "n1", "description": "To get out of the house"}),
                &[NoChange],
            ),
            (
                json!({"type": "edit_need", "id": "n2", "importance": null}),
                &[NoChange],
            ),
            (json!({"type": "edit_strength", "id": "s1"}), &[NoChange]),
            (
                json!({"type": "edit_concern", "id": "c1", "domain": "biological"}),
                &[NoChange],
            ),
            (
                json!({"type": "edit_problem", "id": "p1", "external_reference": null}),
                &[NoChange],
            ),
            (json!({"type": "edit_goal", "id": "g1"}), &[NoChange]),
            // Repeated links are dropped, so this is the link list g2 already has.
            (
                json!({"type": "edit_goal", "id": "g2", "addresses": ["n1", "n2", "n2"]}),
                &[NoChange],
            ),
            (
                json!({"type": "edit_goal", "id": "g1", "status": "active"}),
                &[NoChange],
            ),
            (
                json!({"type": "edit_action", "id": "a1", "description": "Action a1"}),
                &[NoChange],
            ),
            (json!({"type": "complete_action", "id": "a3"}), &[NoChange]),
            (json!({"type": "review_goal", "id": "g1"}), &[NoChange]),
            (
                json!({"type": "rank_goals", "order": ["g1", "g2"]}),
                &[NoChange],
            ),
            (json!({"type": "restore", "id": "n1"}), &[NoChange]),
            (
                json!({"type": "set_plan_status", "status": "draft"}),
                &[NoChange],
            ),
            (
                json!({"type": "set_review_date", "review_date": null}),
                &[NoChange],
            ),
            (
                json!({"type": "update_person", "person": person()}),
                &[NoChange],
            ),
            // The same edits with a real change go through.
            (
                json!({"type": "edit_need", "id": "n1", "importance": 7}),
                &[],
            ),
            (
                json!({"type": "edit_goal", "id": "g2", "addresses": ["n2", "n1"]}),
                &[],
            ),
            (json!({"type": "rank_goals", "order": ["g2", "g1"]}), &[]),
            (json!({"type": "set_plan_status", "status": "active"}), &[]),
        ],
    );
}

#[test]
fn duplicate_ids_are_refused_across_every_kind() {
    let s = fixture();
    use IssueCode::DuplicateId;
    check(
        &s,
        &[
            (
                json!({"type": "add_need", "id": "n1", "description": "again"}),
                &[DuplicateId],
            ),
            (
                json!({"type": "add_need", "id": "g1", "description": "a goal's id"}),
                &[DuplicateId],
            ),
            (
                json!({"type": "add_strength", "id": "a3", "description": "an action's id"}),
                &[DuplicateId],
            ),
            (
                json!({"type": "add_goal", "id": "c1", "description": "x", "addresses": ["n1"]}),
                &[DuplicateId],
            ),
            // Plan-level ids are reserved even before the item exists.
            (
                json!({"type": "add_need", "id": "details", "description": "x"}),
                &[DuplicateId],
            ),
            (
                json!({"type": "add_need", "id": "funding", "description": "x"}),
                &[DuplicateId],
            ),
            (
                json!({"type": "add_comment", "id": "capacity-support", "target": {"on": "plan"}, "text": "x"}),
                &[DuplicateId],
            ),
            (
                json!({"type": "add_need", "id": "n9", "description": "a fresh id"}),
                &[],
            ),
        ],
    );
}

#[test]
fn add_commands_without_an_id_are_refused() {
    let s = fixture();
    let c = command(json!({"type": "add_need", "description": "x"}));
    let issues = apply(&s.plan, &c, &s.next()).unwrap_err();
    assert_eq!(codes(&issues), [IssueCode::MissingId]);
    assert_eq!(issues[0].path, "/id");
}

#[test]
fn csp15_versions_follow_one_another() {
    let s = fixture();
    let c = command(json!({"type": "add_need", "id": "n9", "description": "x"}));
    for v in [1, 11, 13] {
        let issues = apply(&s.plan, &c, &stamp(v)).unwrap_err();
        assert_eq!(codes(&issues), [IssueCode::Version], "version {v}");
    }
    assert!(apply(&s.plan, &c, &stamp(12)).is_ok());

    let create = command(json!({"type": "create_plan", "person": person()}));
    let (plan_id, person_id) = (PlanId::parse("p").unwrap(), PersonId::parse("q").unwrap());
    let issues = start(plan_id.clone(), person_id.clone(), &create, &stamp(2)).unwrap_err();
    assert_eq!(codes(&issues), [IssueCode::Version]);
    let issues = start(plan_id, person_id, &c, &stamp(1)).unwrap_err();
    assert_eq!(codes(&issues), [IssueCode::Invalid]);
    let issues = s.refused(json!({"type": "create_plan", "person": person()}));
    assert_eq!(codes(&issues), [IssueCode::AlreadyExists]);
}

#[test]
fn csp15_changed_lists_exactly_the_touched_items() {
    let s = fixture();
    check_changed(
        &s,
        &[
            (
                json!({"type": "add_need", "id": "n9", "description": "x"}),
                &["needs/n9"],
            ),
            (
                json!({"type": "edit_need", "id": "n2", "description": "Breathing"}),
                &["needs/n2"],
            ),
            // A change of importance flags the goals linked to it.
            (
                json!({"type": "edit_need", "id": "n1", "importance": 3}),
                &["needs/n1", "goals/g1", "goals/g2"],
            ),
            (
                json!({"type": "edit_need", "id": "n2", "importance": 3}),
                &["needs/n2", "goals/g2"],
            ),
            (
                json!({"type": "edit_strength", "id": "s1", "importance": 9}),
                &["strengths/s1", "goals/g1"],
            ),
            (
                json!({"type": "edit_goal", "id": "g1", "priority": 4}),
                &["goals/g1"],
            ),
            (
                json!({"type": "archive_goal", "id": "g1"}),
                &["goals/g1", "actions/a1", "actions/a2"],
            ),
            (
                json!({"type": "archive_goal", "id": "g1", "move_actions": [{"action": "a2", "to_goal": "g2"}]}),
                &["goals/g1", "actions/a1", "actions/a2"],
            ),
            (
                json!({"type": "archive", "id": "g2"}),
                &["goals/g2", "actions/a3"],
            ),
            (json!({"type": "archive", "id": "a3"}), &["actions/a3"]),
            (json!({"type": "archive", "id": "n2"}), &["needs/n2"]),
            (
                json!({"type": "rank_goals", "order": ["g2", "g1"]}),
                &["goals/g1", "goals/g2"],
            ),
            (
                json!({"type": "complete_action", "id": "a1"}),
                &["actions/a1"],
            ),
            (
                json!({"type": "edit_action", "id": "a1", "goal": "g2"}),
                &["actions/a1"],
            ),
            (
                json!({"type": "set_review_date", "review_date": "2026-06-01"}),
                &["details/details"],
            ),
            (
                json!({"type": "set_plan_status", "status": "active"}),
                &["details/details"],
            ),
            (
                json!({"type": "update_person", "person": {"given_name": "Ada", "family_name": "King",
                                                        "date_of_birth": "1950-12-10"}}),
                &["person/person"],
            ),
            (
                json!({"type": "set_funding_source", "source": "direct_payment"}),
                &["funding/funding"],
            ),
            (
                json!({"type": "set_capacity_support", "rights_promotion": "Advocate present"}),
                &["capacity_support/capacity-support"],
            ),
            (
                json!({"type": "set_consent_preference", "scope": "whole_plan",
                    "audience": {"role": "carer"}, "visible": false}),
                &["consent/consent-v12"],
            ),
            (
                json!({"type": "record_agreement", "id": "ag1",
                    "outcome": {"result": "agreed", "by": {"who": "person"}}}),
                &["agreements/ag1"],
            ),
            (
                json!({"type": "add_comment", "id": "k1", "target": {"on": "item", "item": "g1"}, "text": "Good"}),
                &["comments/k1"],
            ),
            (
                json!({"type": "record_progress", "goal": "g1", "date": "2026-03-02",
                    "progress": {"scale": "goal_attainment", "value": 1}}),
                &["progress/progress-12"],
            ),
        ],
    );
}

#[test]
fn csp15_archived_and_missing_items_cannot_be_changed() {
    let mut s = fixture();
    s.ok(json!({"type": "archive", "id": "c1"}));
    check(
        &s,
        &[
            (
                json!({"type": "edit_concern", "id": "c1", "domain": "social"}),
                &[IssueCode::Archived],
            ),
            (
                json!({"type": "archive", "id": "c1"}),
                &[IssueCode::Archived],
            ),
            (
                json!({"type": "edit_need", "id": "zz", "importance": 3}),
                &[IssueCode::NotFound],
            ),
            (
                json!({"type": "edit_need", "id": "g1", "importance": 3}),
                &[IssueCode::NotFound],
            ),
            (
                json!({"type": "archive", "id": "zz"}),
                &[IssueCode::NotFound],
            ),
            (
                json!({"type": "restore", "id": "zz"}),
                &[IssueCode::NotFound],
            ),
            (
                json!({"type": "archive", "id": "details"}),
                &[IssueCode::WrongKind],
            ),
            (
                json!({"type": "archive", "id": "person"}),
                &[IssueCode::WrongKind],
            ),
            (
                json!({"type": "add_goal", "description": "x", "addresses": ["c1"]}),
                &[IssueCode::Archived],
            ),
            (json!({"type": "restore", "id": "c1"}), &[]),
        ],
    );
}

// ---------------------------------------------------------------------------------------------
// CSP-1 consent preferences
// ---------------------------------------------------------------------------------------------

fn viewer(role: Role, organisation: Option<&str>) -> Viewer {
    Viewer {
        role,
        organisation: organisation.map(str::to_owned),
    }
}

fn prefer(s: &mut Story, scope: Value, audience: Value, visible: bool) -> BTreeSet<String> {
    s.ok(
        json!({"type": "set_consent_preference", "scope": scope, "audience": audience,
                "visible": visible}),
    )
}

#[test]
fn csp1_consent_preferences_hide_sections_by_role_and_organisation() {
    let mut s = fixture();
    let hidden = |s: &Story, v: &Viewer| withheld_from(&s.plan, v).sections;
    let nurse = viewer(Role::Practitioner, None);
    assert!(
        withheld_from(&s.plan, &nurse).is_nothing(),
        "no preference: all visible"
    );

    // Concerns are hidden from practitioners.
    prefer(
        &mut s,
        json!({"section": "concerns"}),
        json!({"role": "practitioner"}),
        false,
    );
    assert_eq!(hidden(&s, &nurse), BTreeSet::from([Section::Concerns]));
    assert!(
        hidden(&s, &viewer(Role::Carer, None)).is_empty(),
        "other roles unaffected"
    );

    // An organisation's preference beats the role's: Leeds practitioners see concerns.
    prefer(
        &mut s,
        json!({"section": "concerns"}),
        json!({"organisation": "Leeds City Council"}),
        true,
    );
    assert!(hidden(&s, &viewer(Role::Practitioner, Some("leeds city council"))).is_empty());
    assert_eq!(
        hidden(&s, &viewer(Role::Practitioner, Some("Acme Care"))),
        BTreeSet::from([Section::Concerns])
    );

    // ...even a whole-plan preference for the organisation beats a section one for the role.
    prefer(
        &mut s,
        json!({"section": "goals"}),
        json!({"role": "practitioner"}),
        true,
    );
    prefer(
        &mut s,
        json!("whole_plan"),
        json!({"organisation": "Acme Care"}),
        false,
    );
    assert!(withheld_from(&s.plan, &viewer(Role::Practitioner, Some("Acme Care"))).whole_plan());

    // Within one audience, a section preference beats a whole-plan one.
    prefer(&mut s, json!("whole_plan"), json!({"role": "carer"}), false);
    prefer(
        &mut s,
        json!({"section": "goals"}),
        json!({"role": "carer"}),
        true,
    );
    let carer = hidden(&s, &viewer(Role::Carer, None));
    let all_but_goals: BTreeSet<Section> = Section::ALL
        .into_iter()
        .filter(|s| *s != Section::Goals)
        .collect();
    assert_eq!(carer, all_but_goals);

    // The person, their representative and the system see everything, whatever is set.
    prefer(
        &mut s,
        json!("whole_plan"),
        json!({"role": "person"}),
        false,
    );
    for role in [Role::Person, Role::Representative, Role::System] {
        assert!(
            hidden(&s, &viewer(role, Some("Acme Care"))).is_empty(),
            "{role:?}"
        );
    }

    // An archived preference no longer applies.
    let pref = s
        .plan
        .consent
        .iter()
        .find(|(_, p)| {
            p.audience == careplan_model::Audience::Role(Role::Practitioner)
                && p.scope == careplan_model::ConsentScope::Section(Section::Concerns)
        })
        .map(|(id, _)| id.clone())
        .unwrap();
    s.ok(json!({"type": "archive", "id": pref.as_str()}));
    assert!(hidden(&s, &nurse).is_empty());
}

#[test]
fn csp1_a_preference_is_one_item_changed_in_place() {
    let mut s = fixture();
    let first = prefer(
        &mut s,
        json!({"section": "needs"}),
        json!({"role": "carer"}),
        false,
    );
    assert_eq!(first, BTreeSet::from(["consent/consent-v12".to_owned()]));
    let again = s.refused(
        json!({"type": "set_consent_preference", "scope": {"section": "needs"},
                                 "audience": {"role": "carer"}, "visible": false}),
    );
    assert_eq!(codes(&again), [IssueCode::NoChange]);
    let flipped = prefer(
        &mut s,
        json!({"section": "needs"}),
        json!({"role": "carer"}),
        true,
    );
    assert_eq!(flipped, first, "the same preference is updated");
    assert_eq!(s.plan.consent.len(), 1);
}

// ---------------------------------------------------------------------------------------------
// CSP-2, CSP-3 attachments, links, comments and progress
// ---------------------------------------------------------------------------------------------

#[test]
fn csp2_attachments_and_links_record_when_and_by_whom_they_were_added() {
    let mut s = fixture();
    s.ok(
        json!({"type": "add_attachment", "id": "f1", "target": {"on": "item", "item": "g1"},
                "title": "Allotment map", "purpose": "diagram", "content_type": "image/png",
                "size_bytes": 2048, "sha256": "ab".repeat(32),
                "description": "A map of the allotment"}),
    );
    let f1 = &s.plan.attachments[&id("f1")];
    assert_eq!(f1.meta.added, stamp(12));
    s.ok(json!({"type": "add_hyperlink", "id": "h1", "target": {"on": "section", "section": "needs"},
                "title": "COPD", "url": "https://www.nhs.uk/conditions/copd/", "purpose": "guidance"}));
    assert_eq!(
        s.plan.hyperlinks[&id("h1")].meta.added.by.name.as_str(),
        "Nia Nurse"
    );
    assert_eq!(s.plan.hyperlinks[&id("h1")].meta.added.at, stamp(13).at);

    let err = unreadable(
        json!({"type": "add_hyperlink", "target": {"on": "plan"}, "title": "x",
                                "url": "javascript:alert(1)", "purpose": "guidance"}),
    );
    assert!(err.contains("web address"), "{err}");
    check(
        &s,
        &[
            (
                json!({"type": "add_comment", "target": {"on": "item", "item": "zz"}, "text": "x"}),
                &[IssueCode::BrokenLink],
            ),
            (
                json!({"type": "add_comment", "target": {"on": "item", "item": "a1"}, "text": "x"}),
                &[],
            ),
            (
                json!({"type": "add_comment", "target": {"on": "section", "section": "actions"}, "text": "x"}),
                &[],
            ),
        ],
    );
}

#[test]
fn csp3_progress_is_recorded_on_a_scale_against_an_active_goal() {
    let mut s = fixture();
    s.ok(json!({"type": "archive_goal", "id": "g1"}));
    let progress = |goal: &str, scale: &str, value: i64| {
        json!({"type": "record_progress", "goal": goal, "date": "2026-03-02",
               "progress": {"scale": scale, "value": value}, "note": "Went twice"})
    };
    check(
        &s,
        &[
            (progress("g2", "goal_attainment", -2), &[]),
            (progress("g2", "zero_to_ten", 10), &[]),
            (progress("g1", "goal_attainment", 1), &[IssueCode::Archived]),
            (
                progress("n1", "goal_attainment", 1),
                &[IssueCode::WrongKind],
            ),
            (
                progress("zz", "goal_attainment", 1),
                &[IssueCode::BrokenLink],
            ),
            // An outcome may still be recorded for an archived (e.g. achieved) goal.
            (
                json!({"type": "record_outcome", "goal": "g1", "description": "Goes weekly",
                    "status": "achieved", "date": "2026-03-02"}),
                &[],
            ),
        ],
    );
    let err = unreadable(progress("g2", "goal_attainment", 3));
    assert!(err.contains("from -2 to 2"), "{err}");
}

// ---------------------------------------------------------------------------------------------
// CSP-4, CSP-5 strengths, needs, concerns, problems
// ---------------------------------------------------------------------------------------------

#[test]
fn csp5_concern_records_whose_and_domain() {
    let mut s = fixture();
    let c1 = &s.plan.concerns[&id("c1")];
    assert_eq!(c1.raised_by, careplan_model::RaisedBy::Carer);
    assert_eq!(c1.domain, careplan_model::ConcernDomain::Biological);

    for (whose, domain) in [("person", "psychological"), ("professional", "social")] {
        s.ok(
            json!({"type": "add_concern", "description": "Lonely", "raised_by": whose,
                    "domain": domain}),
        );
    }
    s.ok(json!({"type": "edit_concern", "id": "c1", "raised_by": "person", "domain": "social"}));
    let c1 = &s.plan.concerns[&id("c1")];
    assert_eq!(
        (c1.raised_by, c1.domain),
        (
            careplan_model::RaisedBy::Person,
            careplan_model::ConcernDomain::Social
        )
    );

    // Both are required, and only the standard's values are accepted.
    let err = unreadable(json!({"type": "add_concern", "description": "x", "domain": "social"}));
    assert!(err.contains("raised_by"), "{err}");
    let err = unreadable(json!({"type": "add_concern", "description": "x", "raised_by": "carer"}));
    assert!(err.contains("domain"), "{err}");
    let err = unreadable(
        json!({"type": "add_concern", "description": "x", "raised_by": "carer",
                                "domain": "spiritual"}),
    );
    assert!(err.contains("spiritual"), "{err}");
}

#[test]
fn csp5_needs_concerns_and_problems_are_separate_kinds() {
    let s = fixture();
    assert!(s.plan.needs.contains_key(&id("n1")) && !s.plan.concerns.contains_key(&id("n1")));
    assert!(s.plan.concerns.contains_key(&id("c1")) && !s.plan.needs.contains_key(&id("c1")));
    assert!(s.plan.problems.contains_key(&id("p1")));
    // A goal may address any of the three.
    check(
        &s,
        &[(
            json!({"type": "add_goal", "description": "x", "addresses": ["n2", "c1", "p1"]}),
            &[],
        )],
    );
}

#[test]
fn csp5_problem_may_carry_a_snomed_code_and_a_problem_list_reference() {
    let mut s = fixture();
    assert_eq!(
        s.plan.problems[&id("p1")]
            .code
            .as_ref()
            .unwrap()
            .code
            .as_str(),
        "13645005"
    );
    s.ok(json!({"type": "edit_problem", "id": "p1",
                "external_reference": {"system": "https://gp.example/problems", "value": "PL-12"}}));
    let p1 = &s.plan.problems[&id("p1")];
    assert_eq!(
        p1.external_reference.as_ref().unwrap().value.as_str(),
        "PL-12"
    );
    s.ok(json!({"type": "edit_problem", "id": "p1", "code": null}));
    assert!(s.plan.problems[&id("p1")].code.is_none());

    let err = unreadable(json!({"type": "add_problem", "description": "x",
                                "code": {"code": "13645006", "display": "typo"}}));
    assert!(err.contains("check digit"), "{err}");
}

#[test]
fn csp4_a_goals_strengths_can_be_changed_on_their_own() {
    let mut s = fixture();
    s.ok(json!({"type": "add_strength", "id": "s2", "description": "Good with people"}));
    let changed = s.ok(json!({"type": "edit_goal", "id": "g2", "strengths": ["s2", "s1"]}));
    assert_eq!(changed, BTreeSet::from(["goals/g2".to_owned()]));
    let g2 = goal(&s, "g2");
    assert_eq!(g2.strengths, [id("s2"), id("s1")]);
    assert_eq!(g2.addresses, [id("n1"), id("n2")], "needs untouched");
    check(
        &s,
        &[
            (
                json!({"type": "edit_goal", "id": "g2", "strengths": ["n1"]}),
                &[IssueCode::WrongKind],
            ),
            (
                json!({"type": "edit_goal", "id": "g2", "strengths": []}),
                &[],
            ),
        ],
    );
}

// ---------------------------------------------------------------------------------------------
// CSP-6 goals, CSP-8 actions, CSP-9 links
// ---------------------------------------------------------------------------------------------

#[test]
fn csp6_priority_out_of_range_is_refused_when_read() {
    for bad in [json!(0), json!(11), json!(-1), json!(3.5), json!("high")] {
        for c in [
            json!({"type": "add_goal", "description": "x", "addresses": ["n1"], "priority": bad}),
            json!({"type": "edit_goal", "id": "g1", "priority": bad}),
            json!({"type": "add_need", "description": "x", "importance": bad}),
            json!({"type": "edit_strength", "id": "s1", "importance": bad}),
        ] {
            unreadable(c);
        }
    }
    let err = unreadable(
        json!({"type": "add_goal", "description": "x", "addresses": ["n1"],
                                "priority": 11}),
    );
    assert!(err.contains("from 1 to 10"), "{err}");
    for good in [1, 10] {
        command(
            json!({"type": "add_goal", "description": "x", "addresses": ["n1"],
                       "priority": good}),
        );
    }
}

#[test]
fn csp6_goal_records_what_why_priority_status_and_target_date() {
    let mut s = fixture();
    s.ok(
        json!({"type": "add_goal", "id": "h1", "label": "hope", "description": "See my grandson",
                "why_it_matters": "He is my world", "priority": 9, "status": "proposed",
                "target_date": "2026-08-01", "addresses": ["c1"]}),
    );
    let h1 = goal(&s, "h1");
    assert_eq!(h1.label, careplan_model::GoalLabel::Hope);
    assert_eq!(h1.why_it_matters.unwrap().as_str(), "He is my world");
    assert_eq!(h1.priority.unwrap().get(), 9);
    assert_eq!(h1.status, GoalStatus::Proposed);
    assert_eq!(h1.target_date.unwrap().to_string(), "2026-08-01");
    assert_eq!(h1.rank, Some(3), "new goals go last in the person's order");

    s.ok(
        json!({"type": "edit_goal", "id": "h1", "why_it_matters": null, "target_date": null,
                "status": "active"}),
    );
    let h1 = goal(&s, "h1");
    assert!(h1.why_it_matters.is_none() && h1.target_date.is_none());
    assert_eq!(h1.status, GoalStatus::Active);
}

#[test]
fn csp6_goals_are_ranked_in_the_persons_order() {
    let mut s = fixture();
    s.ok(json!({"type": "add_goal", "id": "g3", "description": "x", "addresses": ["p1"]}));
    s.ok(json!({"type": "archive_goal", "id": "g1"}));
    use IssueCode::Ranking;
    check(
        &s,
        &[
            (json!({"type": "rank_goals", "order": ["g3"]}), &[Ranking]),
            (
                json!({"type": "rank_goals", "order": ["g3", "g2", "g3"]}),
                &[Ranking],
            ),
            (
                json!({"type": "rank_goals", "order": ["g3", "g2", "g1"]}),
                &[Ranking],
            ),
            (
                json!({"type": "rank_goals", "order": ["g3", "g2", "zz"]}),
                &[Ranking],
            ),
            (
                json!({"type": "rank_goals", "order": ["g3", "g3"]}),
                &[Ranking, Ranking],
            ),
            (json!({"type": "rank_goals", "order": ["g3", "g2"]}), &[]),
        ],
    );
    s.ok(json!({"type": "rank_goals", "order": ["g3", "g2"]}));
    let order: Vec<&str> = s
        .plan
        .goals_in_order()
        .iter()
        .map(|(id, _)| id.as_str())
        .collect();
    assert_eq!(order, ["g3", "g2"]);
}

#[test]
fn csp8_confidence_out_of_range_is_refused_when_read() {
    for bad in [0, 11, -5] {
        let mut a = action("a9", "g1");
        a["confidence"] = json!(bad);
        let err = unreadable(a);
        assert!(err.contains("from 1 to 10"), "{err}");
        unreadable(json!({"type": "edit_action", "id": "a1", "confidence": bad}));
    }
}

#[test]
fn csp8_confidence_and_the_rest_of_an_action_are_recorded() {
    let mut s = fixture();
    s.ok(
        json!({"type": "add_action", "id": "a9", "goal": "g2", "description": "Walk to the corner",
                "performer": {"kind": "person"}, "timing": "every morning",
                "status": "in_progress", "confidence": 4}),
    );
    let a9 = &s.plan.actions[&id("a9")];
    assert_eq!(a9.confidence.unwrap().get(), 4);
    assert_eq!(a9.timing.as_ref().unwrap().as_str(), "every morning");
    assert_eq!(a9.status, careplan_model::ActionStatus::InProgress);
    assert_eq!(a9.performer.display(), "the person");
    s.ok(json!({"type": "edit_action", "id": "a9", "confidence": 10}));
    assert_eq!(s.plan.actions[&id("a9")].confidence.unwrap().get(), 10);
    s.ok(json!({"type": "edit_action", "id": "a9", "confidence": null}));
    assert!(s.plan.actions[&id("a9")].confidence.is_none());
}

#[test]
fn csp8_actions_belong_to_an_active_goal() {
    let mut s = fixture();
    s.ok(json!({"type": "archive_goal", "id": "g1"}));
    check(
        &s,
        &[
            (action("a9", "g1"), &[IssueCode::Archived]),
            (action("a9", "n1"), &[IssueCode::WrongKind]),
            (action("a9", "zz"), &[IssueCode::BrokenLink]),
            (
                action("a3", "zz"),
                &[IssueCode::BrokenLink, IssueCode::DuplicateId],
            ),
            (action("a9", "g2"), &[]),
            (
                json!({"type": "edit_action", "id": "a3", "goal": "g1"}),
                &[IssueCode::Archived],
            ),
            (
                json!({"type": "edit_action", "id": "a1", "description": "x"}),
                &[IssueCode::Archived],
            ),
            (
                json!({"type": "restore", "id": "a1"}),
                &[IssueCode::ActionWithoutGoal],
            ),
        ],
    );
}

#[test]
fn csp9_goal_without_a_need_is_rejected() {
    let mut s = fixture();
    s.ok(json!({"type": "archive", "id": "n2"}));
    use IssueCode::*;
    check(
        &s,
        &[
            (
                json!({"type": "add_goal", "description": "x", "addresses": []}),
                &[GoalWithoutNeed],
            ),
            (
                json!({"type": "add_goal", "description": "x", "addresses": [], "strengths": ["s1"]}),
                &[GoalWithoutNeed],
            ),
            (
                json!({"type": "add_goal", "description": "x", "addresses": ["n2"]}),
                &[Archived],
            ),
            (
                json!({"type": "add_goal", "description": "x", "addresses": ["s1"]}),
                &[WrongKind],
            ),
            (
                json!({"type": "add_goal", "description": "x", "addresses": ["a1"]}),
                &[WrongKind],
            ),
            (
                json!({"type": "add_goal", "description": "x", "addresses": ["zz"]}),
                &[BrokenLink],
            ),
            (
                json!({"type": "edit_goal", "id": "g1", "addresses": []}),
                &[GoalWithoutNeed],
            ),
            (
                json!({"type": "edit_goal", "id": "g1", "addresses": ["n2"]}),
                &[Archived],
            ),
            (
                json!({"type": "add_goal", "description": "x", "addresses": ["n1"]}),
                &[],
            ),
            (
                json!({"type": "add_goal", "description": "x", "addresses": ["c1"]}),
                &[],
            ),
            (
                json!({"type": "add_goal", "description": "x", "addresses": ["p1"]}),
                &[],
            ),
            (
                json!({"type": "edit_goal", "id": "g1", "addresses": ["c1"]}),
                &[],
            ),
        ],
    );
    let err = unreadable(json!({"type": "add_goal", "description": "x"}));
    assert!(err.contains("addresses"), "{err}");
}

// ---------------------------------------------------------------------------------------------
// CSP-11 updates and archive
// ---------------------------------------------------------------------------------------------

#[test]
fn csp11_archiving_a_goal_archives_its_actions() {
    let mut s = fixture();
    s.ok(json!({"type": "archive", "id": "a2"}));
    let changed = s.ok(json!({"type": "archive_goal", "id": "g1", "reason": "Achieved"}));
    // a2 was archived before: it keeps its own archive record.
    assert_eq!(
        changed,
        BTreeSet::from(["goals/g1".to_owned(), "actions/a1".to_owned()])
    );
    assert!(!active(&s, ("goals", "g1")) && !active(&s, ("actions", "a1")));
    let a1 = &s.plan.actions[&id("a1")].meta.archived;
    assert_eq!(a1.as_ref().unwrap().stamp.version.get(), 13);
    assert_eq!(
        a1.as_ref().unwrap().reason.as_ref().unwrap().as_str(),
        "Achieved"
    );
    assert_eq!(
        s.plan.actions[&id("a2")]
            .meta
            .archived
            .as_ref()
            .unwrap()
            .stamp
            .version
            .get(),
        12
    );
    assert!(
        active(&s, ("actions", "a3")),
        "another goal's action is untouched"
    );
}

#[test]
fn csp11_archiving_a_goal_can_move_chosen_actions_to_another_goal() {
    let mut s = fixture();
    s.ok(json!({"type": "archive_goal", "id": "g1",
                "move_actions": [{"action": "a2", "to_goal": "g2"}]}));
    assert!(!active(&s, ("goals", "g1")));
    assert!(!active(&s, ("actions", "a1")));
    let a2 = &s.plan.actions[&id("a2")];
    assert!(a2.meta.is_active());
    assert_eq!(a2.goal, id("g2"));
}

#[test]
fn csp11_moves_of_actions_are_checked() {
    let mut s = fixture();
    s.ok(json!({"type": "add_goal", "id": "g3", "description": "x", "addresses": ["c1"]}));
    s.ok(json!({"type": "archive_goal", "id": "g3"}));
    let archive_g1 =
        |moves: Value| json!({"type": "archive_goal", "id": "g1", "move_actions": moves});
    use IssueCode::*;
    check(
        &s,
        &[
            (
                archive_g1(json!([{"action": "a3", "to_goal": "g2"}])),
                &[BrokenLink],
            ),
            (
                archive_g1(json!([{"action": "zz", "to_goal": "g2"}])),
                &[BrokenLink],
            ),
            (
                archive_g1(json!([{"action": "a1", "to_goal": "g1"}])),
                &[Invalid],
            ),
            (
                archive_g1(json!([{"action": "a1", "to_goal": "g3"}])),
                &[Archived],
            ),
            (
                archive_g1(json!([{"action": "a1", "to_goal": "n1"}])),
                &[WrongKind],
            ),
            (
                archive_g1(json!([{"action": "a1", "to_goal": "zz"}])),
                &[BrokenLink],
            ),
            (
                archive_g1(
                    json!([{"action": "a1", "to_goal": "g2"}, {"action": "a1", "to_goal": "g2"}]),
                ),
                &[Invalid],
            ),
            (
                archive_g1(
                    json!([{"action": "a3", "to_goal": "g2"}, {"action": "a1", "to_goal": "g1"}]),
                ),
                &[BrokenLink, Invalid],
            ),
            (
                archive_g1(
                    json!([{"action": "a1", "to_goal": "g2"}, {"action": "a2", "to_goal": "g2"}]),
                ),
                &[],
            ),
            (json!({"type": "archive_goal", "id": "g3"}), &[Archived]),
            (json!({"type": "archive_goal", "id": "a1"}), &[NotFound]),
        ],
    );
}

#[test]
fn csp11_change_of_need_importance_flags_linked_goals_for_review() {
    let mut s = fixture();
    s.ok(json!({"type": "add_goal", "id": "g3", "description": "x", "addresses": ["n2"]}));
    s.ok(json!({"type": "archive_goal", "id": "g3"}));
    let changed = s.ok(json!({"type": "edit_need", "id": "n2", "importance": 9}));
    assert_eq!(
        changed,
        BTreeSet::from(["needs/n2".to_owned(), "goals/g2".to_owned()])
    );
    let flag = goal(&s, "g2").review.expect("g2 addresses n2");
    assert_eq!((flag.raised_in.get(), flag.because_of.as_str()), (14, "n2"));
    assert!(goal(&s, "g1").review.is_none(), "g1 does not address n2");
    assert!(
        goal(&s, "g3").review.is_none(),
        "archived goals are not flagged"
    );

    // A description edit is not a change of importance.
    s.ok(json!({"type": "edit_need", "id": "n1", "description": "Get out more"}));
    assert!(goal(&s, "g1").review.is_none());

    // The same holds for concerns, problems and strengths.
    s.ok(json!({"type": "edit_goal", "id": "g1", "addresses": ["n1", "c1", "p1"]}));
    for (cmd, item) in [
        ("edit_concern", "c1"),
        ("edit_problem", "p1"),
        ("edit_strength", "s1"),
    ] {
        s.ok(json!({"type": cmd, "id": item, "importance": 2}));
        assert_eq!(
            goal(&s, "g1").review.unwrap().because_of.as_str(),
            item,
            "{cmd}"
        );
        s.ok(json!({"type": "review_goal", "id": "g1"}));
    }

    // Reviewing clears the flag and changes nothing else; so does editing the goal.
    let before = goal(&s, "g2");
    s.ok(json!({"type": "review_goal", "id": "g2", "note": "Still right"}));
    let after = goal(&s, "g2");
    assert!(after.review.is_none());
    assert_eq!(
        (&after.description, &after.addresses),
        (&before.description, &before.addresses)
    );
    s.ok(json!({"type": "edit_need", "id": "n2", "importance": null}));
    s.ok(json!({"type": "edit_goal", "id": "g2", "priority": 5}));
    assert!(goal(&s, "g2").review.is_none());
}

#[test]
fn csp11_archived_items_leave_the_current_view_but_stay_in_the_plan() {
    let mut s = fixture();
    s.ok(json!({"type": "complete_action", "id": "a3"}));
    s.ok(json!({"type": "archive", "id": "a3", "reason": "Done"}));
    s.ok(json!({"type": "edit_goal", "id": "g1", "status": "achieved"}));
    s.ok(json!({"type": "archive", "id": "g1"}));
    let v = s.plan.version.get();

    let current: Vec<&str> = s
        .plan
        .goals_in_order()
        .iter()
        .map(|(id, _)| id.as_str())
        .collect();
    assert_eq!(current, ["g2"]);
    assert!(s.plan.goals.contains_key(&id("g1")) && s.plan.actions.contains_key(&id("a3")));
    let g1 = goal(&s, "g1");
    assert_eq!(g1.status, GoalStatus::Achieved);
    assert_eq!(g1.meta.archived.unwrap().stamp.version.get(), v);

    // The version before shows them as they were.
    let earlier = s.version(v - 1);
    assert!(earlier.goals[&id("g1")].meta.is_active());
    assert_eq!(earlier.goals_in_order().len(), 2);
    let a3_before = &s.version(12).actions[&id("a3")];
    assert!(a3_before.meta.is_active());
    assert_eq!(a3_before.status, careplan_model::ActionStatus::Completed);

    // And it can be brought back.
    s.ok(json!({"type": "restore", "id": "g1"}));
    assert!(active(&s, ("goals", "g1")));
    assert!(
        !active(&s, ("actions", "a1")),
        "its actions stay archived until restored"
    );
    s.ok(json!({"type": "restore", "id": "a1"}));
    assert!(active(&s, ("actions", "a1")));
}

#[test]
fn csp11_archiving_the_last_active_need_of_a_goal_is_refused() {
    let mut s = fixture();
    // g2 also addresses n1, so archiving n2 leaves it linked, and the link is kept.
    s.ok(json!({"type": "archive", "id": "n2"}));
    assert_eq!(goal(&s, "g2").addresses, [id("n1"), id("n2")]);

    // n1 is now the only active need of g1 and g2.
    let issues = s.refused(json!({"type": "archive", "id": "n1"}));
    let found: Vec<(IssueCode, &str)> = issues.iter().map(|i| (i.code, i.path.as_str())).collect();
    assert_eq!(
        found,
        [
            (IssueCode::GoalWithoutNeed, "/goals/g1/addresses"),
            (IssueCode::GoalWithoutNeed, "/goals/g2/addresses")
        ]
    );

    // Once g1 addresses a concern too and g2 is archived, n1 may go.
    s.ok(json!({"type": "edit_goal", "id": "g1", "addresses": ["n1", "c1"]}));
    assert_eq!(
        codes(&s.refused(json!({"type": "archive", "id": "n1"}))),
        [IssueCode::GoalWithoutNeed]
    );
    s.ok(json!({"type": "archive_goal", "id": "g2"}));
    s.ok(json!({"type": "archive", "id": "n1"}));
    assert_eq!(
        codes(&s.refused(json!({"type": "archive", "id": "c1"}))),
        [IssueCode::GoalWithoutNeed]
    );

    // Restoring a goal all of whose needs are archived is refused the same way.
    assert_eq!(
        codes(&s.refused(json!({"type": "restore", "id": "g2"}))),
        [IssueCode::GoalWithoutNeed]
    );
    s.ok(json!({"type": "restore", "id": "n2"}));
    s.ok(json!({"type": "restore", "id": "g2"}));
}

#[test]
fn csp11_restored_goal_rejoins_the_persons_order() {
    let mut s = fixture();
    s.ok(json!({"type": "archive_goal", "id": "g2"}));
    // g3 takes the place g2 left.
    s.ok(json!({"type": "add_goal", "id": "g3", "description": "x", "addresses": ["c1"]}));
    assert_eq!(goal(&s, "g3").rank, Some(2));
    s.ok(json!({"type": "restore", "id": "g2"}));
    assert_eq!(
        goal(&s, "g2").rank,
        Some(3),
        "g2 goes after the goals ranked since"
    );

    // A goal whose place is still free gets it back.
    s.ok(json!({"type": "archive_goal", "id": "g1"}));
    s.ok(json!({"type": "restore", "id": "g1"}));
    assert_eq!(goal(&s, "g1").rank, Some(1));
    let order: Vec<&str> = s
        .plan
        .goals_in_order()
        .iter()
        .map(|(id, _)| id.as_str())
        .collect();
    assert_eq!(order, ["g1", "g3", "g2"]);
}

// ---------------------------------------------------------------------------------------------
// CSP-12 agreement and capacity
// ---------------------------------------------------------------------------------------------

fn agreed_by_person(agreement: &str) -> Value {
    json!({"type": "record_agreement", "id": agreement,
           "outcome": {"result": "agreed", "by": {"who": "person"}}})
}

#[test]
fn csp12_any_change_after_agreement_marks_it_for_an_earlier_version() {
    let mut s = fixture();
    s.ok(agreed_by_person("ag1"));
    let ag1 = |s: &Story| s.plan.agreements[&id("ag1")].clone();
    assert_eq!(ag1(&s).agreed_version.get(), 12);
    assert_eq!(ag1(&s).superseded_in, None);

    // Who may see the plan is not what the plan says.
    prefer(
        &mut s,
        json!({"section": "funding"}),
        json!({"role": "carer"}),
        false,
    );
    assert_eq!(ag1(&s).superseded_in, None);

    // Any other change, even a comment, does.
    let changed = s.ok(
        json!({"type": "add_comment", "id": "k1", "target": {"on": "plan"},
                              "text": "Agreed at the review meeting"}),
    );
    assert_eq!(
        changed,
        BTreeSet::from(["comments/k1".to_owned(), "agreements/ag1".to_owned()])
    );
    assert_eq!(ag1(&s).superseded_in.map(|v| v.get()), Some(14));
    let words = careplan_model::describe(
        s.plan
            .get(&ItemKey::new(
                careplan_model::ItemKind::Agreement,
                id("ag1"),
            ))
            .unwrap(),
    );
    assert!(
        words
            .fields
            .iter()
            .any(|(_, v)| v.contains("earlier version")),
        "{words:?}"
    );

    // Later changes leave it as it is: it names the first version that changed the plan.
    let changed = s.ok(json!({"type": "edit_goal", "id": "g1", "priority": 3}));
    assert_eq!(changed, BTreeSet::from(["goals/g1".to_owned()]));
    assert_eq!(ag1(&s).superseded_in.map(|v| v.get()), Some(14));
    // The version it agreed is still there as it was.
    assert!(s.version(12).agreements[&id("ag1")].superseded_in.is_none());
}

#[test]
fn csp12_every_earlier_agreement_is_marked_when_the_plan_changes() {
    let mut s = fixture();
    s.ok(agreed_by_person("ag1"));
    s.ok(json!({"type": "record_agreement", "id": "ag2",
                "outcome": {"result": "not_obtained", "reason": "Too unwell today"}}));
    let changed = s.ok(json!({"type": "edit_goal", "id": "g1", "priority": 3}));
    assert!(
        changed.contains("agreements/ag1") && changed.contains("agreements/ag2"),
        "{changed:?}"
    );
    for a in ["ag1", "ag2"] {
        assert_eq!(
            s.plan.agreements[&id(a)].superseded_in.map(|v| v.get()),
            Some(14),
            "{a}"
        );
    }
}

#[test]
fn csp12_a_representative_or_a_reason_is_recorded() {
    let mut s = fixture();
    s.ok(
        json!({"type": "record_agreement", "id": "ag1", "outcome": {"result": "agreed", "by": {
        "who": "representative", "name": "Grace Hopper", "relationship": "daughter",
        "legal_authority": "lasting_power_of_attorney_health_and_welfare",
        "authority_reference": "OPG 7000-1234-5678"}}}),
    );
    match &s.plan.agreements[&id("ag1")].outcome {
        careplan_model::AgreementOutcome::Agreed {
            by:
                careplan_model::AgreedBy::Representative {
                    relationship,
                    legal_authority,
                    ..
                },
        } => {
            assert_eq!(relationship.as_str(), "daughter");
            assert_eq!(
                *legal_authority,
                careplan_model::LegalAuthority::LastingPowerOfAttorneyHealthAndWelfare
            );
        }
        other => panic!("{other:?}"),
    }
    // A representative must say who they are and under what authority.
    let err = unreadable(
        json!({"type": "record_agreement", "outcome": {"result": "agreed",
                                "by": {"who": "representative", "name": "Grace Hopper"}}}),
    );
    assert!(err.contains("relationship"), "{err}");
    let err =
        unreadable(json!({"type": "record_agreement", "outcome": {"result": "not_obtained"}}));
    assert!(err.contains("reason"), "{err}");
}

#[test]
fn csp12_best_interest_decision_requires_lack_of_capacity() {
    let mut s = fixture();
    let assess = |id: &str, outcome: &str| {
        json!({"type": "record_capacity_assessment", "id": id, "decision": "Where to live",
               "outcome": outcome, "assessed_by": "Dr Patel", "assessed_on": "2026-02-20"})
    };
    s.ok(assess("ca-lacks", "lacks_capacity"));
    s.ok(assess("ca-has", "has_capacity"));
    s.ok(assess("ca-old", "lacks_capacity"));
    s.ok(json!({"type": "archive", "id": "ca-old"}));
    let decide = |assessment: &str, consulted: Value| {
        json!({"type": "record_best_interest_decision", "decision": "Move to extra-care housing",
               "assessment": assessment, "decision_maker": "Social worker J. Smith",
               "consulted": consulted, "rationale": "Safer, near family", "decided_on": "2026-02-27"})
    };
    use IssueCode::*;
    check(
        &s,
        &[
            (decide("ca-lacks", json!(["Daughter", "IMCA"])), &[]),
            (decide("ca-has", json!(["Daughter"])), &[Capacity]),
            (decide("ca-old", json!(["Daughter"])), &[Archived]),
            (decide("zz", json!(["Daughter"])), &[BrokenLink]),
            (decide("n1", json!(["Daughter"])), &[WrongKind]),
            (decide("ca-lacks", json!([])), &[Invalid]),
            (decide("ca-has", json!([])), &[Capacity, Invalid]),
        ],
    );
}

#[test]
fn csp12_steps_to_maximise_capacity_are_recorded_and_stay_in_view() {
    let mut s = fixture();
    let support = |steps: &str| {
        json!({"type": "set_capacity_support",
        "steps_to_maximise_capacity": steps, "rights_promotion": "Advocate at every review"})
    };
    s.ok(support("Easy-read plan, mornings only"));
    assert_eq!(
        codes(&s.refused(support("Easy-read plan, mornings only"))),
        [IssueCode::NoChange]
    );
    s.ok(json!({"type": "archive", "id": "capacity-support"}));
    // Setting it again brings it back into the current view, as for the funding source.
    s.ok(support("Easy-read plan, afternoons"));
    let c = s.plan.capacity_support.as_ref().unwrap();
    assert!(c.meta.is_active());
    assert_eq!(c.meta.added.version.get(), 12, "still the same item");
    assert_eq!(
        c.steps_to_maximise_capacity.as_ref().unwrap().as_str(),
        "Easy-read plan, afternoons"
    );
}

// ---------------------------------------------------------------------------------------------
// CSP-13 funding source
// ---------------------------------------------------------------------------------------------

#[test]
fn csp13_funding_source_refuses_amounts() {
    let mut s = fixture();
    let fund = |details: Value| {
        json!({"type": "set_funding_source", "source": "personal_budget",
                                       "details_held_at": details})
    };
    use IssueCode::FundingDetail;
    check(
        &s,
        &[
            (fund(json!(null)), &[]),
            (
                fund(json!("Support plan document SP-2291, Leeds City Council")),
                &[],
            ),
            (fund(json!("case 12345 on the council's system")), &[]),
            (fund(json!("£240 a week")), &[FundingDetail]),
            (fund(json!("1,200.00 GBP per month")), &[FundingDetail]),
            (fund(json!("45 pounds, see folder")), &[FundingDetail]),
            (fund(json!("$300")), &[FundingDetail]),
        ],
    );
    // There is nowhere to put an amount, and only the UK's real sources are accepted.
    let err = unreadable(
        json!({"type": "set_funding_source", "source": "direct_payment", "amount": 240}),
    );
    assert!(err.contains("amount"), "{err}");
    let err = unreadable(json!({"type": "set_funding_source", "source": "lottery"}));
    assert!(err.contains("lottery"), "{err}");

    s.ok(fund(json!("SP-2291")));
    assert_eq!(
        codes(&s.refused(fund(json!("SP-2291")))),
        [IssueCode::NoChange]
    );
    s.ok(json!({"type": "set_funding_source", "source": "nhs_continuing_healthcare"}));
    let f = s.plan.funding.as_ref().unwrap();
    assert_eq!(
        f.source,
        careplan_model::FundingSourceKind::NhsContinuingHealthcare
    );
    assert!(f.details_held_at.is_none());
}

// ---------------------------------------------------------------------------------------------
// CSP-14 last updated, CSP-15 versions and diff
// ---------------------------------------------------------------------------------------------

#[test]
fn csp14_last_updated_is_the_latest_version_time() {
    let mut s = fixture();
    assert_eq!(s.plan.last_updated, stamp(11).at);
    // A change deep in the plan (an action) moves the plan's date, not only the item's.
    s.ok(json!({"type": "edit_action", "id": "a3", "timing": "Tuesdays"}));
    assert_eq!(s.plan.last_updated, stamp(12).at);
    assert_eq!(s.plan.actions[&id("a3")].meta.changed, stamp(12));
    assert_eq!(
        s.plan.details.meta.changed,
        stamp(1),
        "the details item itself did not change"
    );
    // A refused change leaves it alone.
    s.refused(json!({"type": "edit_action", "id": "a3", "timing": "Tuesdays"}));
    assert_eq!(s.plan.last_updated, stamp(12).at);
    // There is no command that sets it: it is not a field any command names.
    let err = unreadable(json!({"type": "set_review_date", "review_date": null,
                                "last_updated": "2020-01-01T00:00:00Z"}));
    assert!(err.contains("last_updated"), "{err}");
}

#[test]
fn csp15_diff_reports_added_changed_archived_items() {
    let mut s = fixture();
    s.ok(
        json!({"type": "add_need", "id": "n3", "description": "To sleep through", "importance": 4}),
    );
    s.ok(json!({"type": "edit_goal", "id": "g2", "priority": 7}));
    s.ok(json!({"type": "archive", "id": "a1", "reason": "No longer needed"}));
    let d = diff(s.version(11), &s.plan);
    assert_eq!((d.from.get(), d.to.get()), (11, 14));
    let found: Vec<(String, ChangeKind)> =
        d.changes.iter().map(|c| (key(&c.key), c.change)).collect();
    assert_eq!(
        found,
        [
            ("needs/n3".to_owned(), ChangeKind::Added),
            ("goals/g2".to_owned(), ChangeKind::Changed),
            ("actions/a1".to_owned(), ChangeKind::Archived),
        ]
    );
    let field = |i: usize, name: &str| {
        let f = d.changes[i]
            .fields
            .iter()
            .find(|f| f.field == name)
            .unwrap();
        (f.before.as_str(), f.after.as_str())
    };
    assert_eq!(field(0, "importance"), ("", "4/10"));
    assert_eq!(d.changes[1].fields.len(), 1, "{:?}", d.changes[1].fields);
    assert_eq!(field(1, "priority"), ("", "7/10"));
    assert!(field(2, "archived").1.contains("No longer needed"));

    // Restoring shows as such, and a version compared with itself has no changes.
    s.ok(json!({"type": "restore", "id": "a1"}));
    let d = diff(s.version(14), &s.plan);
    assert_eq!(d.changes.len(), 1);
    assert_eq!(d.changes[0].change, ChangeKind::Restored);
    assert!(diff(&s.plan, &s.plan).changes.is_empty());
}

#[test]
fn csp9_csp12_csp15_every_version_of_a_story_is_sound() {
    let mut s = fixture();
    s.ok(agreed_by_person("ag1"));
    s.ok(json!({"type": "archive_goal", "id": "g1", "move_actions": [{"action": "a1", "to_goal": "g2"}]}));
    for (i, plan) in s.history.iter().enumerate() {
        assert_eq!(plan.version.get(), i as u64 + 1);
        assert!(invariants::check(plan).is_empty(), "version {}", i + 1);
    }
}

/// What a faulty command could leave behind, written straight into the plan: `check_change`
/// must find the same broken rules as a check of the whole plan, even where the broken item is
/// not one the change wrote (an action under a goal that was archived, say).
#[test]
fn csp9_csp11_csp12_a_change_is_checked_wherever_it_can_break_a_rule() {
    let mut s = fixture();
    s.ok(json!({"type": "record_capacity_assessment", "id": "ca1", "decision": "Where to live",
                "outcome": "lacks_capacity", "assessed_by": "Dr Patel", "assessed_on": "2026-02-20"}));
    s.ok(json!({"type": "record_best_interest_decision", "id": "bi1",
                "decision": "Move to extra-care housing", "assessment": "ca1",
                "decision_maker": "Social worker J. Smith", "consulted": ["Daughter"],
                "rationale": "Safer, near family", "decided_on": "2026-02-27"}));
    let before = &s.plan;
    assert!(invariants::check(before).is_empty());
    let next = s.next();
    let archive = |plan: &mut Plan, kind: careplan_model::ItemKind, item: &str| {
        plan.meta_mut(&ItemKey::new(kind, id(item)))
            .unwrap()
            .archived = Some(careplan_model::meta::Archived {
            stamp: next.clone(),
            reason: None,
        });
    };
    use IssueCode::*;
    use careplan_model::ItemKind as K;
    // What happened, the plan after it, the items it wrote, the broken rules expected.
    type Case = (
        &'static str,
        Plan,
        Vec<(K, &'static str)>,
        &'static [IssueCode],
    );
    let cases: Vec<Case> = vec![
        (
            "goal archived, its actions left active",
            {
                let mut p = before.clone();
                archive(&mut p, K::Goal, "g1");
                p
            },
            vec![(K::Goal, "g1")],
            &[ActionWithoutGoal, ActionWithoutGoal],
        ),
        (
            "need archived under a goal that has no other",
            {
                let mut p = before.clone();
                archive(&mut p, K::Need, "n1");
                p
            },
            vec![(K::Need, "n1")],
            &[GoalWithoutNeed],
        ),
        (
            "assessment changed to has capacity under a decision",
            {
                let mut p = before.clone();
                let mut ca = p.capacity_assessments.get_mut(&id("ca1")).unwrap();
                ca.outcome = careplan_model::CapacityOutcome::HasCapacity;
                p
            },
            vec![(K::CapacityAssessment, "ca1")],
            &[Capacity],
        ),
        (
            "an unrelated need edited",
            {
                let mut p = before.clone();
                archive(&mut p, K::Need, "n2");
                p
            },
            vec![(K::Need, "n2")],
            &[],
        ),
    ];
    for (what, mut after, changed, expected) in cases {
        after.version = next.version;
        let changed: BTreeSet<ItemKey> = changed
            .into_iter()
            .map(|(k, i)| ItemKey::new(k, id(i)))
            .collect();
        let found = invariants::check_change(before, &after, &changed);
        assert_eq!(codes(&found), expected, "{what}");
        assert_eq!(found, invariants::check(&after), "{what}");
    }
}

// ---------------------------------------------------------------------------------------------
// CSP-1 and CSP-12 edge cases, CSP-10 focus
// ---------------------------------------------------------------------------------------------

#[test]
fn csp1_restoring_a_preference_that_another_replaced_is_refused() {
    let mut s = fixture();
    prefer(
        &mut s,
        json!({"section": "needs"}),
        json!({"role": "carer"}),
        false,
    );
    s.ok(json!({"type": "archive", "id": "consent-v12"}));
    prefer(
        &mut s,
        json!({"section": "needs"}),
        json!({"role": "carer"}),
        true,
    );
    let issues = s.refused(json!({"type": "restore", "id": "consent-v12"}));
    assert_eq!(codes(&issues), [IssueCode::DuplicateId]);
    assert!(
        issues[0].message.contains("same part of the plan"),
        "{issues:?}"
    );
}

#[test]
fn csp12_access_preferences_do_not_make_an_agreement_out_of_date() {
    let mut s = fixture();
    s.ok(json!({"type": "record_agreement", "id": "ag", "outcome": {"result": "agreed", "by": {"who": "person"}}}));
    prefer(
        &mut s,
        json!("whole_plan"),
        json!({"organisation": "Elm Surgery"}),
        false,
    );
    s.ok(json!({"type": "archive", "id": "consent-v13"}));
    assert_eq!(s.plan.agreements[&id("ag")].superseded_in, None);
    let v = s.plan.version.get() + 1;
    s.ok(json!({"type": "add_comment", "target": {"on": "plan"}, "text": "Reviewed"}));
    assert_eq!(
        s.plan.agreements[&id("ag")].superseded_in.map(|v| v.get()),
        Some(v)
    );
}

#[test]
fn csp10_focus_of_a_performer_is_their_actions_and_those_goals() {
    let mut s = fixture();
    s.ok(json!({"type": "add_action", "id": "a4", "goal": "g2", "description": "Inhaler review",
                "performer": {"kind": "practitioner", "name": "Priya Shah", "organisation": "Community Nursing"}}));
    let nursing = careplan_model::focus_of(&s.plan, " community nursing ");
    assert_eq!(nursing.actions, vec![id("a4")]);
    assert_eq!(nursing.goals, vec![id("g2")]);
    let sam = careplan_model::focus_of(&s.plan, "Sam");
    assert_eq!(sam.actions, vec![id("a1"), id("a2"), id("a3")]);
    assert_eq!(sam.goals, vec![id("g1"), id("g2")]);
    s.ok(json!({"type": "archive", "id": "a3"}));
    assert_eq!(
        careplan_model::focus_of(&s.plan, "Sam").goals,
        vec![id("g1")]
    );
    assert_eq!(
        careplan_model::focus_of(&s.plan, "Nobody"),
        careplan_model::Focus::default()
    );
}

// ---------------------------------------------------------------------------------------------
// CSP-8: suggested changes to an action
// ---------------------------------------------------------------------------------------------

#[test]
fn csp8_a_suggested_change_waits_until_accepted_then_applies_in_the_accepting_version() {
    let mut s = fixture();
    let before = s.plan.actions[&id("a1")].clone();
    let changed = s.ok(
        json!({"type": "suggest_action_change", "id": "sg1", "action": "a1",
        "changes": {"timing": "Every Monday morning", "confidence": 7},
        "note": "Mondays suit Sam better"}),
    );
    // Proposing changes nothing but the suggestion itself.
    assert_eq!(changed, BTreeSet::from(["suggestions/sg1".to_owned()]));
    assert_eq!(s.plan.actions[&id("a1")], before);
    assert_eq!(s.plan.suggestions[&id("sg1")].status.label(), "open");

    let changed = s.ok(json!({"type": "accept_suggestion", "id": "sg1"}));
    assert_eq!(
        changed,
        BTreeSet::from(["actions/a1".to_owned(), "suggestions/sg1".to_owned()])
    );
    let a1 = &s.plan.actions[&id("a1")];
    assert_eq!(
        a1.timing.as_ref().map(|t| t.as_str()),
        Some("Every Monday morning")
    );
    assert_eq!(a1.confidence.map(|c| c.get()), Some(7));
    assert_eq!(a1.meta.changed.version, s.plan.version);
    assert_eq!(
        s.plan.suggestions[&id("sg1")].status,
        careplan_model::SuggestionStatus::Accepted {
            in_version: s.plan.version
        }
    );
    // An answered suggestion cannot be answered again.
    check(
        &s,
        &[
            (
                json!({"type": "accept_suggestion", "id": "sg1"}),
                &[IssueCode::NoChange],
            ),
            (
                json!({"type": "decline_suggestion", "id": "sg1"}),
                &[IssueCode::NoChange],
            ),
            (
                json!({"type": "accept_suggestion", "id": "sg9"}),
                &[IssueCode::NotFound],
            ),
        ],
    );
}

#[test]
fn csp8_a_declined_suggestion_keeps_its_reason_and_changes_nothing() {
    let mut s = fixture();
    s.ok(
        json!({"type": "suggest_action_change", "id": "sg1", "action": "a2",
        "changes": {"description": "Swim twice a week"}}),
    );
    let before = s.plan.actions.clone();
    let changed =
        s.ok(json!({"type": "decline_suggestion", "id": "sg1", "reason": "The pool is closed"}));
    assert_eq!(changed, BTreeSet::from(["suggestions/sg1".to_owned()]));
    assert_eq!(s.plan.actions, before);
    match &s.plan.suggestions[&id("sg1")].status {
        careplan_model::SuggestionStatus::Declined { reason } => {
            assert_eq!(
                reason.as_ref().map(|r| r.as_str()),
                Some("The pool is closed")
            )
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn csp8_suggestions_must_name_an_active_action_and_propose_something_valid() {
    let mut s = fixture();
    check(
        &s,
        &[
            (
                json!({"type": "suggest_action_change", "action": "a9", "changes": {"timing": "Daily"}}),
                &[IssueCode::BrokenLink],
            ),
            (
                json!({"type": "suggest_action_change", "action": "g1", "changes": {"timing": "Daily"}}),
                &[IssueCode::WrongKind],
            ),
            (
                json!({"type": "suggest_action_change", "action": "a1", "changes": {}}),
                &[IssueCode::NoChange],
            ),
            (
                json!({"type": "suggest_action_change", "action": "a1", "changes": {"goal": "g9"}}),
                &[IssueCode::BrokenLink],
            ),
        ],
    );
    assert!(
        unreadable(
            json!({"type": "suggest_action_change", "action": "a1", "changes": {"confidence": 11}})
        )
        .contains("1")
    );
    // Accepting checks the action again: an archived action cannot take the change.
    s.ok(json!({"type": "suggest_action_change", "id": "sg1", "action": "a3", "changes": {"timing": "Daily"}}));
    s.ok(json!({"type": "archive", "id": "a3"}));
    let issues = s.refused(json!({"type": "accept_suggestion", "id": "sg1"}));
    assert_eq!(codes(&issues), [IssueCode::Archived]);
    assert_eq!(s.plan.suggestions[&id("sg1")].status.label(), "open");
}

#[test]
fn csp12_a_suggestion_does_not_supersede_the_agreement_but_accepting_it_does() {
    let mut s = fixture();
    s.ok(agreed_by_person("ag1"));
    s.ok(json!({"type": "suggest_action_change", "id": "sg1", "action": "a1", "changes": {"timing": "Fridays"}}));
    assert_eq!(s.plan.agreements[&id("ag1")].superseded_in, None);
    s.ok(json!({"type": "accept_suggestion", "id": "sg1"}));
    assert_eq!(
        s.plan.agreements[&id("ag1")].superseded_in,
        Some(s.plan.version)
    );
}

#[test]
fn csp8_people_and_carers_suggest_practitioners_answer() {
    use careplan_model::may_command;
    let suggest = command(
        json!({"type": "suggest_action_change", "action": "a1", "changes": {"timing": "Daily"}}),
    );
    let accept = command(json!({"type": "accept_suggestion", "id": "sg1"}));
    let decline = command(json!({"type": "decline_suggestion", "id": "sg1"}));
    for role in [
        Role::Person,
        Role::Representative,
        Role::Carer,
        Role::Practitioner,
    ] {
        assert!(may_command(role, &suggest), "{role:?} may suggest");
    }
    for role in [
        Role::Person,
        Role::Representative,
        Role::Carer,
        Role::DataController,
    ] {
        assert!(
            !may_command(role, &accept) && !may_command(role, &decline),
            "{role:?} may not answer"
        );
    }
    assert!(may_command(Role::Practitioner, &accept) && may_command(Role::Practitioner, &decline));
}

// ---------------------------------------------------------------------------------------------
// CSP-7 weekly schedule
// ---------------------------------------------------------------------------------------------

#[test]
fn csp7_a_weekly_schedule_is_one_item_of_the_actions_section_replaced_whole() {
    let mut s = fixture();
    let week = |what: &str| {
        json!({"type": "set_weekly_schedule", "schedule": {"slots": [
            {"start": "08:00", "end": "09:00", "label": "Getting up",
             "days": {"monday": {"what": what, "who": "Home care"}}},
            {"start": "14:00", "days": {"thursday": {"what": "Choir"}}}
        ]}})
    };
    assert_eq!(
        s.ok(week("Help to wash and dress")),
        BTreeSet::from(["schedule/schedule".to_owned()])
    );
    let schedule = s.plan.schedule.as_ref().unwrap();
    assert_eq!(schedule.week.slots().len(), 2);
    assert_eq!(
        s.plan.section_of(&ItemKey::new(
            careplan_model::ItemKind::Schedule,
            id("schedule")
        )),
        Some(careplan_model::Section::Actions)
    );
    assert_eq!(
        codes(&s.refused(week("Help to wash and dress"))),
        [IssueCode::NoChange]
    );
    let added = schedule.meta.added.version;
    s.ok(week("Help to wash, dress and make breakfast"));
    let schedule = s.plan.schedule.as_ref().unwrap();
    assert_eq!(schedule.meta.added.version, added, "still the same item");
    assert!(
        schedule
            .week
            .summary()
            .contains("Monday: Help to wash, dress and make breakfast, with Home care")
    );
    // The earlier week is still there in the version before.
    let before = s.version(s.plan.version.get() - 1);
    assert!(
        before
            .schedule
            .as_ref()
            .unwrap()
            .week
            .summary()
            .contains("Help to wash and dress,")
    );
    s.ok(json!({"type": "archive", "id": "schedule"}));
    assert!(!s.plan.schedule.as_ref().unwrap().meta.is_active());
    // A week that breaks its own rules cannot even be read as a command.
    let overlapping = unreadable(
        json!({"type": "set_weekly_schedule", "schedule": {"slots": [
            {"start": "08:00", "end": "10:00", "days": {"monday": {"what": "A"}}},
            {"start": "09:00", "days": {"monday": {"what": "B"}}}
        ]}}),
    );
    assert!(overlapping.contains("overlaps"), "{overlapping}");
    let no_day = unreadable(
        json!({"type": "set_weekly_schedule", "schedule": {"slots": [
            {"start": "08:00", "days": {"someday": {"what": "A"}}}
        ]}}),
    );
    assert!(no_day.contains("not a day of the week"), "{no_day}");
}
