//! CSP-1 access decisions: membership, consent preferences, data-controller releases, and the
//! redaction of withheld sections (with the comments and links attached to them).

use careplan_model::{
    Access, Actor, Applied, Command, Denial, ItemId, PersonId, Plan, PlanId, Release, Requester,
    Role, Section, Stamp, Text, Timestamp, VersionNumber, apply, decide, redact, start,
};
use serde_json::{Value, json};

fn stamp(v: u64) -> Stamp {
    Stamp {
        version: VersionNumber::new(v).unwrap(),
        at: Timestamp::parse("2026-11-01T09:00:00Z").unwrap(),
        by: Actor {
            id: Text::new("t").unwrap(),
            name: Text::new("Tester").unwrap(),
            role: Role::Practitioner,
        },
    }
}

/// A plan for person `person-1` with nurse `acct-nurse` on the care team, a concern with a
/// comment and a link on it, and a goal.
fn plan(extra: &[Value]) -> Plan {
    let create: Command = serde_json::from_value(json!({"type": "create_plan", "person":
        {"given_name": "A", "family_name": "B", "date_of_birth": "1950-01-01"}}))
    .unwrap();
    let Applied { mut plan, .. } = start(
        PlanId::parse("p").unwrap(),
        PersonId::parse("person-1").unwrap(),
        &create,
        &stamp(1),
    )
    .unwrap();
    let mut steps = vec![
        json!({"type": "add_care_team_member", "id": "m1", "name": "Nurse", "role": "Nurse", "account": "acct-nurse"}),
        json!({"type": "add_concern", "id": "c1", "description": "Housing", "raised_by": "person", "domain": "social"}),
        json!({"type": "add_comment", "id": "cm1", "target": {"on": "item", "item": "c1"}, "text": "About the concern"}),
        json!({"type": "add_hyperlink", "id": "l1", "target": {"on": "section", "section": "concerns"},
               "title": "Housing help", "url": "https://example.org/housing", "purpose": "guidance"}),
        json!({"type": "add_goal", "id": "g1", "description": "Move home", "addresses": ["c1"]}),
        json!({"type": "add_comment", "id": "cm2", "target": {"on": "plan"}, "text": "On the plan"}),
    ];
    steps.extend(extra.iter().cloned());
    for step in steps {
        let c: Command = serde_json::from_value(step).unwrap();
        plan = apply(&plan, &c, &stamp(plan.version.get() + 1))
            .unwrap()
            .plan;
    }
    plan
}

fn who(account: &str, role: Role, person: Option<&str>, org: Option<&str>) -> Requester {
    Requester {
        account: account.into(),
        role,
        person: person.map(|p| PersonId::parse(p).unwrap()),
        organisation: org.map(str::to_owned),
    }
}

fn now() -> Timestamp {
    Timestamp::parse("2026-11-10T00:00:00Z").unwrap()
}

fn hide(section: &str, audience: Value) -> Value {
    json!({"type": "set_consent_preference", "scope": {"section": section}, "audience": audience, "visible": false})
}

fn withheld(access: &Access) -> Vec<Section> {
    match access {
        Access::Granted { withheld, .. } => withheld.sections.iter().copied().collect(),
        Access::Denied(d) => panic!("denied: {d:?}"),
    }
}

#[test]
fn csp1_membership_decides_who_may_open_a_plan() {
    let p = plan(&[]);
    let cases = [
        (who("acct-nurse", Role::Practitioner, None, None), None),
        (
            who("acct-other", Role::Practitioner, None, None),
            Some(Denial::NotOnCareTeam),
        ),
        (who("me", Role::Person, Some("person-1"), None), None),
        (
            who("me", Role::Person, Some("person-2"), None),
            Some(Denial::NotLinkedToPerson),
        ),
        (
            who("rep", Role::Representative, Some("person-1"), None),
            None,
        ),
        (
            who("carer", Role::Carer, None, None),
            Some(Denial::NotLinkedToPerson),
        ),
        (
            who("admin", Role::Administrator, None, None),
            Some(Denial::RoleHasNoAccess),
        ),
        (who("dc", Role::DataController, None, None), None),
        (who("cli", Role::System, None, None), None),
    ];
    for (requester, expected) in cases {
        let got = match decide(&p, &requester, &[], now()) {
            Access::Denied(d) => Some(d),
            Access::Granted { .. } => None,
        };
        assert_eq!(got, expected, "{requester:?}");
    }
}

#[test]
fn csp1_archived_care_team_members_lose_access() {
    let p = plan(&[json!({"type": "archive", "id": "m1"})]);
    let nurse = who("acct-nurse", Role::Practitioner, None, None);
    assert_eq!(
        decide(&p, &nurse, &[], now()),
        Access::Denied(Denial::NotOnCareTeam)
    );
}

#[test]
fn csp1_withheld_sections_are_removed_with_their_comments_and_links() {
    let p = plan(&[hide("concerns", json!({"role": "practitioner"}))]);
    let nurse = who("acct-nurse", Role::Practitioner, None, None);
    let access = decide(&p, &nurse, &[], now());
    assert_eq!(withheld(&access), vec![Section::Concerns]);
    let Access::Granted {
        withheld,
        releases_used,
    } = access
    else {
        unreachable!()
    };
    assert!(releases_used.is_empty());
    let seen = redact(&p, &withheld);
    let id = |s: &str| ItemId::parse(s).unwrap();
    assert!(
        !seen.concerns.contains_key(&id("c1")),
        "the concern is withheld"
    );
    assert!(
        !seen.comments.contains_key(&id("cm1")),
        "a comment on it goes with it"
    );
    assert!(
        !seen.hyperlinks.contains_key(&id("l1")),
        "a link on the section goes with it"
    );
    assert!(
        seen.comments.contains_key(&id("cm2")),
        "a comment on the plan stays"
    );
    assert!(seen.goals.contains_key(&id("g1")), "other sections stay");
    // The person sees everything.
    let me = who("me", Role::Person, Some("person-1"), None);
    assert_eq!(withheld_sections(&p, &me), Vec::<Section>::new());
}

fn withheld_sections(p: &Plan, r: &Requester) -> Vec<Section> {
    withheld(&decide(p, r, &[], now()))
}

#[test]
fn csp1_whole_plan_withheld_denies_opening_it_but_not_to_the_data_controller() {
    let p = plan(&[
        json!({"type": "set_consent_preference", "scope": "whole_plan",
                           "audience": {"organisation": "Elm Surgery"}, "visible": false}),
    ]);
    let elm = who("acct-nurse", Role::Practitioner, None, Some("elm surgery"));
    assert_eq!(
        decide(&p, &elm, &[], now()),
        Access::Denied(Denial::WithheldByConsent)
    );
    let other_org = who("acct-nurse", Role::Practitioner, None, Some("Oak Practice"));
    assert_eq!(withheld_sections(&p, &other_org), Vec::<Section>::new());
    let dc = who("dc", Role::DataController, None, Some("Elm Surgery"));
    assert_eq!(withheld_sections(&p, &dc).len(), Section::ALL.len());
}

#[test]
fn csp1_a_release_lifts_withholding_for_its_audience_until_it_expires() {
    let p = plan(&[
        hide("concerns", json!({"role": "practitioner"})),
        hide("goals", json!({"role": "practitioner"})),
    ]);
    let nurse = who("acct-nurse", Role::Practitioner, None, None);
    let release = Release {
        id: "rel-1".into(),
        scope: careplan_model::ConsentScope::Section(Section::Concerns),
        audience: careplan_model::Audience::Role(Role::Practitioner),
        reason: Text::new("The person is unconscious; housing risk needs to be known").unwrap(),
        granted_by: Text::new("IG lead").unwrap(),
        granted_at: Timestamp::parse("2026-11-09T00:00:00Z").unwrap(),
        expires_at: Timestamp::parse("2026-11-11T00:00:00Z").unwrap(),
    };
    match decide(&p, &nurse, std::slice::from_ref(&release), now()) {
        Access::Granted {
            withheld,
            releases_used,
        } => {
            assert_eq!(
                withheld.sections.into_iter().collect::<Vec<_>>(),
                vec![Section::Goals]
            );
            assert_eq!(releases_used, vec!["rel-1".to_owned()]);
        }
        other => panic!("{other:?}"),
    }
    // After expiry it no longer applies, and it never applies to another audience.
    let later = Timestamp::parse("2026-11-12T00:00:00Z").unwrap();
    assert!(
        matches!(decide(&p, &nurse, std::slice::from_ref(&release), later),
        Access::Granted { ref releases_used, .. } if releases_used.is_empty())
    );
    let carer_release = Release {
        audience: careplan_model::Audience::Role(Role::Carer),
        ..release
    };
    assert!(matches!(decide(&p, &nurse, &[carer_release], now()),
        Access::Granted { ref releases_used, .. } if releases_used.is_empty()));
}
