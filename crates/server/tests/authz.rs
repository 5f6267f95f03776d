//! CSP-1 authorisation matrix: every route × every role × consent on/off × a data-controller
//! override on/off. Each cell's status is checked against the policy written out below, reads
//! are checked for the withheld section, and every denied access to plan data must leave an
//! audit entry.

mod support;

use careplan_model::{PersonId, Role};
use careplan_store::audit::{AuditFilter, AuditOutcome};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use support::{App, spawn_app, spawn_app_postgres};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    Anonymous,
    Nurse,
    Outsider,
    Person,
    Representative,
    Carer,
    DataController,
    Administrator,
}

const EVERYONE: [Who; 8] = [
    Who::Anonymous,
    Who::Nurse,
    Who::Outsider,
    Who::Person,
    Who::Representative,
    Who::Carer,
    Who::DataController,
    Who::Administrator,
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    ListPeople,
    CreatePerson,
    ReadPlan,
    ReadConcerns,
    ReadConcern,
    ReadVersion,
    ReadHistory,
    ReadDiff,
    Comment,
    EditGoal,
    EditConcern,
    ListReleases,
    CreateRelease,
    AuditTrail,
    AttachFile,
    ReadConcernFile,
    GoalProgress,
}

const ROUTES: [Route; 17] = [
    Route::ListPeople,
    Route::CreatePerson,
    Route::ReadPlan,
    Route::ReadConcerns,
    Route::ReadConcern,
    Route::ReadVersion,
    Route::ReadHistory,
    Route::ReadDiff,
    Route::Comment,
    Route::EditGoal,
    Route::EditConcern,
    Route::AttachFile,
    Route::ReadConcernFile,
    Route::GoalProgress,
    Route::ListReleases,
    // Releases the whole plan to carers: routes after it see that.
    Route::CreateRelease,
    Route::AuditTrail,
];

/// The policy, written out: the status each requester should get, and for plan reads whether
/// the concerns section is visible.
fn expected(route: Route, who: Who, consent: bool, release: bool) -> (StatusCode, Option<bool>) {
    use Who::*;
    if who == Anonymous {
        return (StatusCode::UNAUTHORIZED, None);
    }
    let opens_plan = matches!(
        who,
        Nurse | Person | Representative | Carer | DataController
    );
    // Concerns are withheld from practitioners and carers when consent is on; the release
    // lifts that for practitioners only.
    let concerns_visible = match who {
        Nurse => !consent || release,
        Carer => !consent,
        _ => true,
    };
    let ok = StatusCode::OK;
    let no = StatusCode::FORBIDDEN;
    match route {
        Route::ListPeople => (if who == Administrator { no } else { ok }, None),
        Route::CreatePerson => (
            if matches!(who, Nurse | Outsider) {
                StatusCode::CREATED
            } else {
                no
            },
            None,
        ),
        Route::ReadPlan
        | Route::ReadConcerns
        | Route::ReadVersion
        | Route::ReadHistory
        | Route::ReadDiff => {
            if opens_plan {
                (ok, Some(concerns_visible))
            } else {
                (no, None)
            }
        }
        // A goal's progress: in the goals section, which stays shared.
        Route::GoalProgress => (if opens_plan { ok } else { no }, None),
        // One concern, or a file attached to it: absent (404) when its section is withheld
        // from the reader.
        Route::ReadConcern | Route::ReadConcernFile => match (opens_plan, concerns_visible) {
            (false, _) => (no, None),
            (true, true) => (ok, Some(true)),
            (true, false) => (StatusCode::NOT_FOUND, Some(false)),
        },
        Route::Comment => (
            if matches!(who, Nurse | Person | Representative | Carer) {
                ok
            } else {
                no
            },
            None,
        ),
        Route::EditGoal => (if who == Nurse { ok } else { no }, None),
        Route::AttachFile => (
            if who == Nurse {
                StatusCode::CREATED
            } else {
                no
            },
            None,
        ),
        Route::EditConcern => (
            if who == Nurse && concerns_visible {
                ok
            } else {
                no
            },
            None,
        ),
        Route::ListReleases => (
            if matches!(who, Person | Representative | DataController) {
                ok
            } else {
                no
            },
            None,
        ),
        Route::CreateRelease => (
            if who == DataController {
                StatusCode::CREATED
            } else {
                no
            },
            None,
        ),
        Route::AuditTrail => (
            if matches!(who, Person | Representative | DataController) {
                ok
            } else {
                no
            },
            None,
        ),
    }
}

struct World {
    app: App,
    person: String,
    tokens: Vec<(Who, String)>,
}

async fn world(app: App, consent: bool, release: bool) -> World {
    let nurse = app
        .account("nurse", Role::Practitioner, None, Some("Community Nursing"))
        .await;
    let (status, created) = app
        .post(&nurse, "/api/v1/people", None, json!({"person": {"given_name": "Ada", "family_name": "Lovelace", "date_of_birth": "1950-12-10"}}))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let person = created["person_id"].as_str().unwrap().to_owned();
    let pid = PersonId::parse(&person).unwrap();
    let v = created["version"].as_u64().unwrap();
    let (status, _) = app
        .post(&nurse, &format!("/api/v1/people/{person}/plan/commands"), Some(v), json!({"commands": [
            {"type": "add_need", "id": "need-1", "description": "To get out more"},
            {"type": "add_concern", "id": "concern-1", "description": "Damp flat", "raised_by": "person", "domain": "social"},
            {"type": "add_goal", "id": "goal-1", "description": "Library weekly", "addresses": ["need-1"]}
        ]}))
        .await;
    assert_eq!(status, StatusCode::OK);
    // A file on the concern, whose text names it (so a download shows whether it was seen).
    let r = app
        .http
        .post(format!(
            "{}/api/v1/people/{person}/plan/attachments?id=attachment-1&title=Photo&purpose=document&on=item&item=concern-1",
            app.base
        ))
        .bearer_auth(&nurse)
        .header("If-Match", format!("W/\"{}\"", v + 3))
        .header("Content-Type", "text/plain")
        .body("Notes on the Damp flat")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let me = app.account("ada", Role::Person, Some(&pid), None).await;
    let tokens = vec![
        (Who::Anonymous, String::new()),
        (Who::Nurse, nurse),
        (
            Who::Outsider,
            app.account("outsider", Role::Practitioner, None, None)
                .await,
        ),
        (Who::Person, me.clone()),
        (
            Who::Representative,
            app.account("rep", Role::Representative, Some(&pid), None)
                .await,
        ),
        (
            Who::Carer,
            app.account("carer", Role::Carer, Some(&pid), None).await,
        ),
        (
            Who::DataController,
            app.account("ig", Role::DataController, None, None).await,
        ),
        (
            Who::Administrator,
            app.account("admin", Role::Administrator, None, None).await,
        ),
    ];
    if consent {
        for role in ["practitioner", "carer"] {
            let (head, _) = app
                .store
                .head(&app.store.find_plan(&person).await.unwrap())
                .await
                .unwrap();
            let (status, body) = app
                .post(&me, &format!("/api/v1/people/{person}/plan/commands"), Some(head.get()), json!({"type": "set_consent_preference",
                    "scope": {"section": "concerns"}, "audience": {"role": role}, "visible": false}))
                .await;
            assert_eq!(status, StatusCode::OK, "{body}");
        }
    }
    if release {
        let dc = &tokens[6].1;
        let (status, body) = app
            .post(dc, &format!("/api/v1/people/{person}/releases"), None, json!({"scope": {"section": "concerns"},
                "audience": {"role": "practitioner"}, "reason": "Safeguarding", "expires_at": "2099-01-01T00:00:00Z"}))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    World {
        app,
        person,
        tokens,
    }
}

async fn call(w: &World, route: Route, token: &str) -> (StatusCode, String) {
    let p = &w.person;
    let plan_id = w.app.store.find_plan(p).await.unwrap();
    let head = w.app.store.head(&plan_id).await.unwrap().0.get();
    let command = |body: Value| {
        (
            Method::POST,
            format!("/api/v1/people/{p}/plan/commands"),
            Some(body),
            true,
        )
    };
    let (method, path, body, if_match) = match route {
        Route::ListPeople => (Method::GET, "/api/v1/people".to_owned(), None, false),
        Route::CreatePerson => (
            Method::POST,
            "/api/v1/people".to_owned(),
            Some(
                json!({"person": {"given_name": "New", "family_name": "Person", "date_of_birth": "1960-01-01"}}),
            ),
            false,
        ),
        Route::ReadPlan => (Method::GET, format!("/api/v1/people/{p}/plan"), None, false),
        Route::ReadConcerns => (
            Method::GET,
            format!("/api/v1/people/{p}/plan/items/concerns"),
            None,
            false,
        ),
        Route::ReadConcern => (
            Method::GET,
            format!("/api/v1/people/{p}/plan/items/concerns/concern-1"),
            None,
            false,
        ),
        Route::ReadVersion => (
            Method::GET,
            format!("/api/v1/people/{p}/plan/versions/5"),
            None,
            false,
        ),
        Route::ReadHistory => (
            Method::GET,
            format!("/api/v1/people/{p}/plan/versions"),
            None,
            false,
        ),
        Route::ReadDiff => (
            Method::GET,
            format!("/api/v1/people/{p}/plan/diff?from=1&to=5"),
            None,
            false,
        ),
        Route::Comment => {
            command(json!({"type": "add_comment", "target": {"on": "plan"}, "text": "A note"}))
        }
        Route::EditGoal => {
            command(json!({"type": "edit_goal", "id": "goal-1", "priority": 1 + (head % 9)}))
        }
        Route::EditConcern => command(
            json!({"type": "edit_concern", "id": "concern-1", "importance": 1 + (head % 9)}),
        ),
        Route::ListReleases => (
            Method::GET,
            format!("/api/v1/people/{p}/releases"),
            None,
            false,
        ),
        Route::CreateRelease => (
            Method::POST,
            format!("/api/v1/people/{p}/releases"),
            Some(
                json!({"scope": "whole_plan", "audience": {"role": "carer"}, "reason": "Test", "expires_at": "2099-01-01T00:00:00Z"}),
            ),
            false,
        ),
        Route::AuditTrail => (
            Method::GET,
            format!("/api/v1/audit?person={p}"),
            None,
            false,
        ),
        Route::AttachFile => (
            Method::POST,
            format!("/api/v1/people/{p}/plan/attachments?title=Leaflet&purpose=guidance"),
            None,
            true,
        ),
        Route::ReadConcernFile => (
            Method::GET,
            format!("/api/v1/people/{p}/plan/attachments/attachment-1/content"),
            None,
            false,
        ),
        Route::GoalProgress => (
            Method::GET,
            format!("/api/v1/people/{p}/plan/goals/goal-1/progress"),
            None,
            false,
        ),
    };
    let mut req = w.app.http.request(method, format!("{}{path}", w.app.base));
    if !token.is_empty() {
        req = req.bearer_auth(token);
    }
    if route == Route::AttachFile {
        req = req
            .header("Content-Type", "application/pdf")
            .body(&b"%PDF-1.4\nA leaflet\n%%EOF\n"[..]);
    } else if let Some(body) = body {
        req = req.json(&body);
    }
    if if_match {
        req = req.header("If-Match", format!("W/\"{head}\""));
    }
    let r = req.send().await.unwrap();
    let status = r.status();
    (status, r.text().await.unwrap())
}

async fn denied_entries(w: &World) -> usize {
    w.app
        .store
        .audit_records(AuditFilter {
            limit: 100_000,
            ..AuditFilter::default()
        })
        .await
        .unwrap()
        .iter()
        .filter(|r| r.outcome == AuditOutcome::Denied.as_str())
        .count()
}

#[tokio::test]
async fn csp1_every_route_role_consent_and_override_gets_exactly_what_the_policy_allows() {
    matrix(|| async { Some(spawn_app().await) }).await;
}

#[tokio::test]
async fn csp1_the_authorisation_matrix_holds_on_postgresql_too() {
    matrix(spawn_app_postgres).await;
}

/// Runs the matrix, each consent × release combination on a fresh app from `app` (skipped when
/// `app` gives none: no PostgreSQL outside CI).
async fn matrix<F, Fut>(app: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Option<App>>,
{
    let mut failures = Vec::new();
    let mut cells = 0;
    for consent in [false, true] {
        for release in [false, true] {
            let Some(app) = app().await else {
                return;
            };
            let w = world(app, consent, release).await;
            for route in ROUTES {
                for who in EVERYONE {
                    let token = &w.tokens.iter().find(|(w, _)| *w == who).unwrap().1;
                    let (want, concerns) = expected(route, who, consent, release);
                    let denied_before = denied_entries(&w).await;
                    let (got, body) = call(&w, route, token).await;
                    cells += 1;
                    let cell =
                        format!("{route:?} as {who:?} (consent {consent}, release {release})");
                    if got != want {
                        failures.push(format!("{cell}: expected {want}, got {got}: {body}"));
                        continue;
                    }
                    if let Some(visible) = concerns {
                        // The concern's text appears only when the section may be seen.
                        if body.contains("Damp flat") != visible {
                            failures.push(format!(
                                "{cell}: concerns visible = {}, expected {visible}",
                                !visible
                            ));
                        }
                    }
                    let plan_data = matches!(
                        route,
                        Route::ReadPlan
                            | Route::ReadConcerns
                            | Route::ReadConcern
                            | Route::ReadVersion
                            | Route::ReadHistory
                            | Route::ReadDiff
                            | Route::Comment
                            | Route::EditGoal
                            | Route::EditConcern
                            | Route::AttachFile
                            | Route::ReadConcernFile
                            | Route::GoalProgress
                    );
                    if got == StatusCode::FORBIDDEN
                        && plan_data
                        && denied_entries(&w).await <= denied_before
                    {
                        failures.push(format!("{cell}: denied without an audit entry"));
                    }
                }
            }
            w.app.cleanup().await;
        }
    }
    assert_eq!(cells, 4 * ROUTES.len() * EVERYONE.len());
    assert!(
        failures.is_empty(),
        "{} of {cells} cells wrong:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
