//! Black-box tests of the HTTP service: the real server on a random loopback port, a fresh
//! SQLite store, and accounts for each role; everything asserted through HTTP.

mod support;

use careplan_model::{PersonId, Role};
use reqwest::StatusCode;
use serde_json::{Value, json};
use support::{App, spawn_app};

/// A practitioner creates a person (joining the care team) and builds a small plan.
async fn nurse_with_plan(app: &App) -> (String, String, u64) {
    let (nurse, created) = app.nurse_adds_ada().await;
    let person = created["person_id"].as_str().unwrap().to_owned();
    let version = created["version"].as_u64().unwrap();
    let (status, body) = app
        .post(&nurse, &format!("/api/v1/people/{person}/plan/commands"), Some(version), json!({"commands": [
            {"type": "add_need", "id": "need-1", "description": "To get out more"},
            {"type": "add_concern", "id": "concern-1", "description": "Damp flat", "raised_by": "person", "domain": "social"},
            {"type": "add_goal", "id": "goal-1", "description": "Visit the library weekly", "priority": 7, "addresses": ["need-1"]}
        ], "reason": "First visit"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    (nurse, person, body["version"].as_u64().unwrap())
}

#[tokio::test]
async fn health_readiness_and_metrics_answer() {
    let app = spawn_app().await;
    let r = app
        .http
        .get(format!("{}/health", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = app
        .http
        .get(format!("{}/ready", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["status"], "ready");
    let r = app
        .http
        .get(format!("{}/metrics", app.base))
        .send()
        .await
        .unwrap();
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("careplan_http_requests_total")
    );
}

#[tokio::test]
async fn csp1_requests_without_a_valid_token_are_refused() {
    let app = spawn_app().await;
    let r = app
        .http
        .get(format!("{}/api/v1/people", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let (status, body, _) = app.get("cpt_not-a-token", "/api/v1/people").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["type"], "/problems/sign-in-required");
}

#[tokio::test]
async fn csp15_plan_reads_carry_etags_and_writes_need_if_match() {
    let app = spawn_app().await;
    let (nurse, person, version) = nurse_with_plan(&app).await;
    let path = format!("/api/v1/people/{person}/plan");
    let (status, plan, headers) = app.get(&nurse, &path).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["etag"], format!("W/\"{version}\"").as_str());
    assert_eq!(plan["items"]["goals"]["goal-1"]["priority"], 7);

    let commands = format!("{path}/commands");
    let strength = json!({"type": "add_strength", "description": "Reads a lot"});
    let (status, body) = app.post(&nurse, &commands, None, strength.clone()).await;
    assert_eq!(
        (status, body["type"].as_str()),
        (
            StatusCode::PRECONDITION_REQUIRED,
            Some("/problems/if-match-required")
        )
    );
    let (status, body) = app
        .post(&nurse, &commands, Some(version - 1), strength.clone())
        .await;
    assert_eq!(status, StatusCode::PRECONDITION_FAILED);
    assert_eq!(body["current_version"], version);
    let (status, body) = app.post(&nurse, &commands, Some(version), strength).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["version"], version + 1);

    // History, an old version and a diff.
    let (_, history, _) = app.get(&nurse, &format!("{path}/versions")).await;
    let items = history["items"].as_array().unwrap();
    assert_eq!(items.len() as u64, version + 1);
    assert_eq!(items.last().unwrap()["command"]["type"], "add_strength");
    let (status, old, _) = app.get(&nurse, &format!("{path}/versions/1")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(old["version"], 1);
    assert!(old["items"].get("goals").is_none());
    let (_, diff, _) = app
        .get(&nurse, &format!("{path}/diff?from=1&to={}", version + 1))
        .await;
    assert!(
        diff["diff"]["changes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["key"]["id"] == "goal-1")
    );
}

#[tokio::test]
async fn bad_input_is_answered_with_problem_json_and_changes_nothing() {
    let app = spawn_app().await;
    let (nurse, person, version) = nurse_with_plan(&app).await;
    let commands = format!("/api/v1/people/{person}/plan/commands");
    let cases = [
        (
            json!({"type": "add_goal", "description": "No need", "addresses": []}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "at least one need",
        ),
        (
            json!({"type": "edit_goal", "id": "goal-1", "priority": 11}),
            StatusCode::BAD_REQUEST,
            "from 1 to 10",
        ),
        (
            json!({"type": "complete_action", "id": "action-nope"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "no action with id action-nope",
        ),
        (
            json!({"type": "add_need", "description": "x", "colour": "red"}),
            StatusCode::BAD_REQUEST,
            "colour",
        ),
    ];
    for (body, status, expected) in cases {
        let (got, problem) = app
            .post(&nurse, &commands, Some(version), body.clone())
            .await;
        assert_eq!(got, status, "{body}: {problem}");
        assert!(
            problem["detail"].as_str().unwrap().contains(expected),
            "{body}: {problem}"
        );
    }
    let r = app
        .http
        .post(format!("{}{commands}", app.base))
        .bearer_auth(&nurse)
        .header("If-Match", format!("{version}"))
        .header("Content-Type", "application/json")
        .body("{\"type\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(
        r.json::<Value>().await.unwrap()["detail"]
            .as_str()
            .unwrap()
            .contains("not valid JSON")
    );
    let (status, problem, _) = app.get(&nurse, "/api/v1/people/nobody/plan").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("No plan was found")
    );
    let (status, _, headers) = app
        .get(&nurse, &format!("/api/v1/people/{person}/plan"))
        .await;
    assert_eq!(
        (status, headers["etag"].to_str().unwrap().to_owned()),
        (StatusCode::OK, format!("W/\"{version}\""))
    );
}

#[tokio::test]
async fn csp1_only_the_care_team_and_the_person_see_a_plan() {
    let app = spawn_app().await;
    let (_nurse, person, _) = nurse_with_plan(&app).await;
    let person_id = PersonId::parse(&person).unwrap();
    let other = app
        .account("other-nurse", Role::Practitioner, None, None)
        .await;
    let me = app
        .account("ada", Role::Person, Some(&person_id), None)
        .await;
    let admin = app.account("admin", Role::Administrator, None, None).await;
    let path = format!("/api/v1/people/{person}/plan");
    assert_eq!(app.get(&other, &path).await.0, StatusCode::FORBIDDEN);
    assert_eq!(app.get(&admin, &path).await.0, StatusCode::FORBIDDEN);
    assert_eq!(app.get(&me, &path).await.0, StatusCode::OK);
    // Caseloads: the other nurse's list is empty, the person sees themselves only.
    assert_eq!(
        app.get(&other, "/api/v1/people").await.1["items"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
    assert_eq!(
        app.get(&me, "/api/v1/people").await.1["items"][0]["person_id"],
        person.as_str()
    );
    // The person may comment but not edit goals.
    let (_, plan, _) = app.get(&me, &path).await;
    let v = plan["version"].as_u64().unwrap();
    let (status, _) = app
        .post(
            &me,
            &format!("{path}/commands"),
            Some(v),
            json!({"type": "add_comment", "target": {"on": "plan"}, "text": "Thank you"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, problem) = app
        .post(
            &me,
            &format!("{path}/commands"),
            Some(v + 1),
            json!({"type": "edit_goal", "id": "goal-1", "priority": 3}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{problem}");
}

#[tokio::test]
async fn csp1_hidden_section_is_withheld_then_released_with_an_audited_override() {
    let app = spawn_app().await;
    let (nurse, person, _) = nurse_with_plan(&app).await;
    let person_id = PersonId::parse(&person).unwrap();
    let me = app
        .account("ada", Role::Person, Some(&person_id), None)
        .await;
    let dc = app
        .account("ig-lead", Role::DataController, None, None)
        .await;
    let path = format!("/api/v1/people/{person}/plan");

    // The person hides concerns from practitioners.
    let (_, plan, _) = app.get(&me, &path).await;
    let v = plan["version"].as_u64().unwrap();
    let (status, _) = app
        .post(&me, &format!("{path}/commands"), Some(v), json!({"type": "set_consent_preference",
            "scope": {"section": "concerns"}, "audience": {"role": "practitioner"}, "visible": false}))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, seen, _) = app.get(&nurse, &path).await;
    assert!(
        seen["items"].get("concerns").is_none(),
        "concerns are withheld: {seen}"
    );
    assert_eq!(seen["withheld"], json!(["concerns"]));
    // Not in old versions, diffs or history either.
    let (_, old, _) = app.get(&nurse, &format!("{path}/versions/3")).await;
    assert!(old["items"].get("concerns").is_none());
    let (_, diff, _) = app.get(&nurse, &format!("{path}/diff?from=1&to=3")).await;
    assert!(!diff.to_string().contains("Damp flat"));
    let (_, history, _) = app.get(&nurse, &format!("{path}/versions")).await;
    assert!(!history.to_string().contains("Damp flat"));
    // Nor can the nurse change it.
    let (status, _) = app
        .post(
            &nurse,
            &format!("{path}/commands"),
            Some(v + 1),
            json!({"type": "edit_concern", "id": "concern-1", "importance": 9}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // A data controller releases the concerns to practitioners, with a reason and an expiry.
    let (status, release) = app
        .post(&dc, &format!("/api/v1/people/{person}/releases"), None, json!({"scope": {"section": "concerns"},
            "audience": {"role": "practitioner"}, "reason": "Safeguarding review of housing", "expires_at": "2099-01-01T00:00:00Z"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{release}");
    let (_, seen, _) = app.get(&nurse, &path).await;
    assert_eq!(
        seen["items"]["concerns"]["concern-1"]["description"],
        "Damp flat"
    );
    assert_eq!(seen["releases_used"], json!([release["id"]]));
    // A nurse may not release; the person sees the release and its use in their audit trail.
    let (status, _) = app
        .post(&nurse, &format!("/api/v1/people/{person}/releases"), None, json!({"scope": "whole_plan",
            "audience": {"role": "practitioner"}, "reason": "x", "expires_at": "2099-01-01T00:00:00Z"}))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, releases, _) = app
        .get(&me, &format!("/api/v1/people/{person}/releases"))
        .await;
    assert_eq!(
        (status, releases["items"][0]["reason"].as_str()),
        (StatusCode::OK, Some("Safeguarding review of housing"))
    );
    let (status, audit, _) = app
        .get(&me, &format!("/api/v1/audit?person={person}"))
        .await;
    assert_eq!(status, StatusCode::OK);
    let used: Vec<&Value> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["override_release"] == release["id"])
        .collect();
    assert!(
        used.iter().any(|e| e["action"] == "read_plan"),
        "the use of the release is audited: {audit}"
    );
    // Someone else's audit trail is not theirs to see.
    assert_eq!(
        app.get(&nurse, "/api/v1/audit").await.0,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn csp1_sessions_need_the_csrf_token_and_sign_in_is_rate_limited() {
    let app = spawn_app().await;
    let (_nurse, person, version) = nurse_with_plan(&app).await;
    let client = reqwest::Client::new();
    let login = |password: &str| {
        client
            .post(format!("{}/api/v1/session", app.base))
            .json(&json!({"username": "nurse", "password": password}))
            .send()
    };
    let r = login("nurse-password-long").await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let session = cookie.split(';').next().unwrap().to_owned();
    let csrf = r.json::<Value>().await.unwrap()["csrf_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let read = client
        .get(format!("{}/api/v1/people/{person}/plan", app.base))
        .header("Cookie", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), StatusCode::OK);
    let write = |with_csrf: bool| {
        let mut req = client
            .post(format!("{}/api/v1/people/{person}/plan/commands", app.base))
            .header("Cookie", &session)
            .header("If-Match", version.to_string())
            .json(&json!({"type": "add_strength", "description": "Kind"}));
        if with_csrf {
            req = req.header("X-CSRF-Token", &csrf);
        }
        req.send()
    };
    assert_eq!(write(false).await.unwrap().status(), StatusCode::FORBIDDEN);
    assert_eq!(write(true).await.unwrap().status(), StatusCode::OK);

    for _ in 0..5 {
        assert_eq!(
            login("wrong-password-123").await.unwrap().status(),
            StatusCode::UNAUTHORIZED
        );
    }
    let r = login("nurse-password-long").await.unwrap();
    assert_eq!(
        r.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "the right password is refused while blocked"
    );
}

#[tokio::test]
async fn unknown_routes_and_methods_are_problem_json() {
    let app = spawn_app().await;
    let r = app
        .http
        .get(format!("{}/nowhere", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let r = app
        .http
        .put(format!("{}/health", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
}

#[tokio::test]
async fn csp5_each_sections_items_can_be_listed_and_read_one_by_one() {
    let app = spawn_app().await;
    let (nurse, person, version) = nurse_with_plan(&app).await;
    // A second need, then archive it: current lists leave it out, `archived=true` keeps it.
    let (status, body) = app
        .post(
            &nurse,
            &format!("/api/v1/people/{person}/plan/commands"),
            Some(version),
            json!({"commands": [
                {"type": "add_need", "id": "need-2", "description": "Help with shopping"},
                {"type": "archive", "id": "need-2", "reason": "Family help now"}
            ]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let version = body["version"].as_u64().unwrap();

    let (status, page, headers) = app
        .get(&nurse, &format!("/api/v1/people/{person}/plan/items/needs"))
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(headers["etag"], format!("W/\"{version}\""));
    assert_eq!(
        (page["kind"].as_str(), page["version"].as_u64()),
        (Some("needs"), Some(version))
    );
    let ids = |page: &Value| -> Vec<String> {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(ids(&page), ["need-1"]);
    assert_eq!(page["items"][0]["item"]["description"], "To get out more");
    let (_, all, _) = app
        .get(
            &nurse,
            &format!("/api/v1/people/{person}/plan/items/needs?archived=true"),
        )
        .await;
    assert_eq!(ids(&all), ["need-1", "need-2"]);

    // Paging: one at a time, with a link to the next page.
    let (_, first, _) = app
        .get(
            &nurse,
            &format!("/api/v1/people/{person}/plan/items/needs?archived=true&limit=1"),
        )
        .await;
    assert_eq!(ids(&first), ["need-1"]);
    let next = first["next"].as_str().unwrap().to_owned();
    let (_, second, _) = app.get(&nurse, &next).await;
    assert_eq!(ids(&second), ["need-2"]);
    assert!(second["next"].is_null());

    // Single items, including the plan-level ones.
    let (status, goal, _) = app
        .get(
            &nurse,
            &format!("/api/v1/people/{person}/plan/items/goals/goal-1"),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{goal}");
    assert_eq!(goal["item"]["priority"], 7);
    assert_eq!(goal["item"]["addresses"], json!(["need-1"]));
    let (status, details, _) = app
        .get(
            &nurse,
            &format!("/api/v1/people/{person}/plan/items/person"),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        details["items"][0]["item"]["person"]["family_name"],
        "Lovelace"
    );

    // Unknown kinds and ids are 404s that say what is wrong.
    let (status, problem, _) = app
        .get(
            &nurse,
            &format!("/api/v1/people/{person}/plan/items/wishes"),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("the kinds are"),
        "{problem}"
    );
    let (status, problem, _) = app
        .get(
            &nurse,
            &format!("/api/v1/people/{person}/plan/items/goals/goal-9"),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(
        problem["detail"].as_str().unwrap().contains("goal-9"),
        "{problem}"
    );
    let (status, _, _) = app
        .get(&nurse, "/api/v1/people/9999999999/plan/items/needs")
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn csp3_progress_towards_a_goal_is_listed_charted_and_tabled() {
    let app = spawn_app().await;
    let (nurse, person, version) = nurse_with_plan(&app).await;
    let progress = |date: &str, value: i64, note: &str| {
        json!({"type": "record_progress", "goal": "goal-1", "date": date,
               "progress": {"scale": "goal_attainment", "value": value}, "note": note})
    };
    // Recorded out of date order: the chart and the list are by date.
    let (status, body) = app
        .post(
            &nurse,
            &format!("/api/v1/people/{person}/plan/commands"),
            Some(version),
            json!({"commands": [
                progress("2026-03-01", 0, "Went **twice** this month"),
                progress("2026-01-10", -2, "Not yet <script>alert(1)</script>"),
                progress("2026-02-02", -1, "Once, with her daughter"),
            ]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let (status, doc, _) = app
        .get(
            &nurse,
            &format!("/api/v1/people/{person}/plan/goals/goal-1/progress"),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{doc}");
    let records = doc["records"].as_array().unwrap();
    let dates: Vec<&str> = records
        .iter()
        .map(|r| r["date"].as_str().unwrap())
        .collect();
    assert_eq!(dates, ["2026-01-10", "2026-02-02", "2026-03-01"]);
    let values: Vec<i64> = records
        .iter()
        .map(|r| r["value"].as_i64().unwrap())
        .collect();
    assert_eq!(values, [-2, -1, 0]);
    assert!(records[0]["label"].is_string(), "{doc}");
    // Notes are kept as written and rendered safely.
    assert_eq!(records[0]["note"], "Not yet <script>alert(1)</script>");
    let html = records[0]["note_html"].as_str().unwrap();
    assert!(!html.contains("<script"), "{html}");
    assert!(
        records[2]["note_html"]
            .as_str()
            .unwrap()
            .contains("<strong>twice</strong>")
    );
    let table = doc["table_html"].as_str().unwrap();
    assert!(
        table.contains("<table") && table.contains("<caption>"),
        "{table}"
    );
    assert_eq!(
        table.matches("<tr").count(),
        4,
        "a header row and one row per record: {table}"
    );

    // The chart: an SVG image with one point per record, in date order.
    let chart = doc["chart"].as_str().unwrap().to_owned();
    let r = app
        .http
        .get(format!("{}{chart}", app.base))
        .bearer_auth(&nurse)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("image/svg+xml")
    );
    let svg = r.text().await.unwrap();
    assert!(svg.starts_with("<?xml") || svg.starts_with("<svg"), "{svg}");
    assert_eq!(svg.matches("<circle").count(), 3, "{svg}");
    assert!(!svg.contains("<script"));

    // Unknown goals are 404s.
    let (status, problem, _) = app
        .get(
            &nurse,
            &format!("/api/v1/people/{person}/plan/goals/goal-9/progress"),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{problem}");
}

#[tokio::test]
async fn csp8_a_carer_suggests_a_change_and_the_nurse_accepting_it_makes_a_new_version() {
    let app = spawn_app().await;
    let (nurse, person, version) = nurse_with_plan(&app).await;
    let pid = PersonId::parse(&person).unwrap();
    let carer = app.account("carer", Role::Carer, Some(&pid), None).await;
    let commands = format!("/api/v1/people/{person}/plan/commands");
    let (status, body) = app
        .post(&nurse, &commands, Some(version), json!({"type": "add_action", "id": "action-1", "goal": "goal-1",
            "description": "Walk to the library", "performer": {"kind": "carer", "name": "Sam"}, "timing": "Tuesdays"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let version = body["version"].as_u64().unwrap();

    let (status, body) = app
        .post(&carer, &commands, Some(version), json!({"type": "suggest_action_change", "id": "suggestion-1",
            "action": "action-1", "changes": {"timing": "Thursdays"}, "note": "The bus runs on Thursdays"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let version = body["version"].as_u64().unwrap();
    // The carer may not answer their own suggestion.
    let (status, _) = app
        .post(
            &carer,
            &commands,
            Some(version),
            json!({"type": "accept_suggestion", "id": "suggestion-1"}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let (status, body) = app
        .post(
            &nurse,
            &commands,
            Some(version),
            json!({"type": "accept_suggestion", "id": "suggestion-1"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["version"].as_u64(), Some(version + 1));
    let (_, action, _) = app
        .get(
            &nurse,
            &format!("/api/v1/people/{person}/plan/items/actions/action-1"),
        )
        .await;
    assert_eq!(action["item"]["timing"], "Thursdays");
    let (_, suggestion, _) = app
        .get(
            &nurse,
            &format!("/api/v1/people/{person}/plan/items/suggestions/suggestion-1"),
        )
        .await;
    assert_eq!(
        suggestion["item"]["status"],
        json!({"state": "accepted", "in_version": version + 1})
    );
    // The version is the nurse's.
    let (_, history, _) = app
        .get(
            &nurse,
            &format!("/api/v1/people/{person}/plan/versions?after={version}"),
        )
        .await;
    assert_eq!(
        history["items"][0]["by"]["role"], "practitioner",
        "{history}"
    );
}

#[tokio::test]
async fn csp7_the_weekly_schedule_is_set_read_and_withheld_with_the_actions() {
    let app = spawn_app().await;
    let (nurse, person, v) = nurse_with_plan(&app).await;
    let path = format!("/api/v1/people/{person}/plan");
    let (status, body) = app
        .post(
            &nurse,
            &format!("{path}/commands"),
            Some(v),
            json!({"type": "set_weekly_schedule", "schedule": {"slots": [
                {"start": "08:00", "end": "09:00", "label": "Getting up",
                 "days": {"monday": {"what": "Help to wash and dress", "who": "Home care"}}}
            ]}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, item, _) = app
        .get(&nurse, &format!("{path}/items/schedule/schedule"))
        .await;
    assert_eq!(status, StatusCode::OK, "{item}");
    assert_eq!(
        item["item"]["week"]["slots"][0]["days"]["monday"]["who"],
        "Home care"
    );
    // A broken week is refused with a sentence, naming where.
    let (status, problem) = app
        .post(
            &nurse,
            &format!("{path}/commands"),
            Some(v + 1),
            json!({"type": "set_weekly_schedule", "schedule": {"slots": [
                {"start": "09:00", "end": "08:00", "days": {"monday": {"what": "x"}}}
            ]}}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("which is not after it starts"),
        "{problem}"
    );
    // Withheld with the actions section.
    let me = app
        .account(
            "ada",
            Role::Person,
            Some(&PersonId::parse(&person).unwrap()),
            None,
        )
        .await;
    let (status, _) = app
        .post(&me, &format!("{path}/commands"), Some(v + 1), json!({"type": "set_consent_preference",
            "scope": {"section": "actions"}, "audience": {"role": "practitioner"}, "visible": false}))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, seen, _) = app.get(&nurse, &path).await;
    assert!(!seen.to_string().contains("Help to wash"), "{seen}");
}

#[tokio::test]
async fn csp3_comments_on_the_plan_a_section_an_item_and_an_action_carry_author_and_time() {
    let app = spawn_app().await;
    let (nurse, person, v) = nurse_with_plan(&app).await;
    let path = format!("/api/v1/people/{person}/plan");
    let (status, body) = app
        .post(&nurse, &format!("{path}/commands"), Some(v), json!({"commands": [
            {"type": "add_action", "id": "action-1", "goal": "goal-1", "description": "Borrow large-print books",
             "performer": {"kind": "person"}},
            {"type": "add_comment", "id": "c-plan", "target": {"on": "plan"}, "text": "Reviewed at home"},
            {"type": "add_comment", "id": "c-section", "target": {"on": "section", "section": "goals"}, "text": "Goals agreed with Ada"},
            {"type": "add_comment", "id": "c-need", "target": {"on": "item", "item": "need-1"}, "text": "Ada raised this herself"},
            {"type": "add_comment", "id": "c-action", "target": {"on": "item", "item": "action-1"}, "text": "Library van on Tuesdays"}
        ]}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // The person comments too, as herself.
    let ada = app
        .account(
            "ada",
            Role::Person,
            Some(&PersonId::parse(&person).unwrap()),
            None,
        )
        .await;
    let (status, _) = app
        .post(&ada, &format!("{path}/commands"), body["version"].as_u64(), json!({"type": "add_comment",
            "id": "c-ada", "target": {"on": "item", "item": "action-1"}, "text": "Tuesdays suit me"}))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, comments, _) = app.get(&nurse, &format!("{path}/items/comments")).await;
    let by_id = |id: &str| {
        comments["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == id)
            .unwrap_or_else(|| panic!("{id} in {comments}"))
            .clone()
    };
    for (id, target) in [
        ("c-plan", json!({"on": "plan"})),
        ("c-section", json!({"on": "section", "section": "goals"})),
        ("c-need", json!({"on": "item", "item": "need-1"})),
        ("c-action", json!({"on": "item", "item": "action-1"})),
    ] {
        let c = by_id(id);
        assert_eq!(c["item"]["target"], target);
        assert_eq!(c["item"]["meta"]["added"]["by"]["name"], "nurse");
        assert!(c["item"]["meta"]["added"]["at"].is_string());
    }
    assert_eq!(
        by_id("c-ada")["item"]["meta"]["added"]["by"]["role"],
        "person"
    );
    // A comment on something that is not there is refused.
    let (_, now, _) = app.get(&nurse, &path).await;
    let (status, problem) = app
        .post(
            &nurse,
            &format!("{path}/commands"),
            now["version"].as_u64(),
            json!({"type": "add_comment",
            "target": {"on": "item", "item": "goal-nope"}, "text": "x"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
}

#[tokio::test]
async fn the_service_serves_the_web_pages_beside_the_api_and_answers_each_in_its_own_way() {
    let app = spawn_app().await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    // The start page sends a browser to sign in; the sign-in page is HTML.
    let r = http.get(format!("{}/", app.base)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let r = http
        .get(format!("{}/sign-in", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(r.text().await.unwrap().contains("Sign in"));
    // An unknown address: a page for a browser, problem+json for anyone else, and always
    // problem+json under the API.
    let r = http
        .get(format!("{}/no/such/page", app.base))
        .header("Accept", "text/html,application/xhtml+xml")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert!(r.text().await.unwrap().contains("Page not found"));
    let r = http
        .get(format!("{}/no/such/page", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let r = http
        .get(format!("{}/api/v1/nothing", app.base))
        .header("Accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["content-type"], "application/problem+json");
}
