//! The FHIR R4 endpoint at `/fhir`, black-box: the real server on a random loopback port, a
//! fresh SQLite store; every interaction, its errors (OperationOutcome with the right status),
//! consent (what the JSON API hides, FHIR hides) and audit (FHIR reads are logged).

mod support;

use careplan_model::{PersonId, PlanId, Role};
use careplan_store::audit::AuditFilter;
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};
use support::{App, spawn_app};

const FHIR_JSON: &str = "application/fhir+json; fhirVersion=4.0";

/// A FHIR request and its answer; every answer is FHIR JSON.
async fn fhir(
    app: &App,
    token: Option<&str>,
    method: reqwest::Method,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> (StatusCode, Value, HeaderMap) {
    let mut req = app.http.request(method, format!("{}/fhir{path}", app.base));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    if let Some(b) = body {
        req = req
            .header("content-type", "application/fhir+json")
            .body(b.to_owned());
    }
    let r = req.send().await.unwrap();
    let (status, h) = (r.status(), r.headers().clone());
    assert_eq!(
        h.get("content-type").and_then(|v| v.to_str().ok()),
        Some(FHIR_JSON),
        "{path} answers FHIR JSON"
    );
    let value: Value = r.json().await.unwrap();
    if !status.is_success() {
        assert_eq!(value["resourceType"], "OperationOutcome", "{path}: {value}");
    }
    (status, value, h)
}

async fn get(app: &App, token: &str, path: &str) -> (StatusCode, Value, HeaderMap) {
    fhir(app, Some(token), reqwest::Method::GET, path, &[], None).await
}

fn issue_text(outcome: &Value) -> String {
    outcome["issue"]
        .as_array()
        .map(|list| {
            list.iter()
                .map(|i| format!("{} {}", i["details"]["text"], i["expression"]))
                .collect::<Vec<_>>()
                .join("; ")
        })
        .unwrap_or_default()
}

fn entries<'b>(bundle: &'b Value, mode: &str) -> Vec<&'b Value> {
    bundle["entry"]
        .as_array()
        .map(|e| {
            e.iter()
                .filter(|e| e["search"]["mode"] == mode)
                .map(|e| &e["resource"])
                .collect()
        })
        .unwrap_or_default()
}

fn ids(resources: &[&Value]) -> Vec<String> {
    let mut out: Vec<String> = resources
        .iter()
        .map(|r| {
            format!(
                "{}/{}",
                r["resourceType"].as_str().unwrap(),
                r["id"].as_str().unwrap()
            )
        })
        .collect();
    out.sort();
    out
}

/// The plan version an `ETag: W/"n"` names.
fn etag_version(headers: &HeaderMap) -> u64 {
    headers["etag"]
        .to_str()
        .unwrap()
        .trim_start_matches("W/\"")
        .trim_end_matches('"')
        .parse()
        .unwrap()
}

struct World {
    app: App,
    nurse: String,
    person: String,
    plan: String,
    version: u64,
}

/// A practitioner creates a person (joining the care team) and builds a small plan through the
/// JSON API: a need, a concern, a goal addressing the need, an action by Priya Shah.
async fn world() -> World {
    let app = spawn_app().await;
    let (nurse, created) = app.nurse_adds_ada().await;
    let person = created["person_id"].as_str().unwrap().to_owned();
    let plan = created["plan_id"].as_str().unwrap().to_owned();
    let version = created["version"].as_u64().unwrap();
    let (status, body) = app
        .post(&nurse, &format!("/api/v1/people/{person}/plan/commands"), Some(version), json!({"commands": [
            {"type": "add_need", "id": "need-1", "description": "To get out more"},
            {"type": "add_concern", "id": "concern-1", "description": "Damp flat", "raised_by": "person", "domain": "social"},
            {"type": "add_goal", "id": "goal-1", "description": "Visit the library weekly", "priority": 7, "addresses": ["need-1"]},
            {"type": "add_action", "id": "action-1", "goal": "goal-1", "description": "Walk to the library with Ada",
             "performer": {"kind": "practitioner", "name": "Priya Shah"}, "confidence": 6}
        ]}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    World {
        app,
        nurse,
        person,
        plan,
        version: body["version"].as_u64().unwrap(),
    }
}

#[tokio::test]
async fn csp9_metadata_states_fhir_4_0_1_json_and_what_is_supported() {
    let app = spawn_app().await;
    let r = app
        .http
        .get(format!("{}/fhir/metadata", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "no sign-in is needed");
    let cs: Value = r.json().await.unwrap();
    assert_eq!(cs["resourceType"], "CapabilityStatement");
    assert_eq!(cs["fhirVersion"], "4.0.1");
    assert!(cs["format"].as_array().unwrap().contains(&json!("json")));
    let resources = cs["rest"][0]["resource"].as_array().unwrap();
    let care_plan = resources.iter().find(|r| r["type"] == "CarePlan").unwrap();
    let includes = care_plan["searchInclude"].as_array().unwrap();
    assert!(
        includes.contains(&json!("CarePlan:goal"))
            && includes.contains(&json!("CarePlan:addresses"))
    );
    let goal = resources.iter().find(|r| r["type"] == "Goal").unwrap();
    let codes: Vec<&str> = goal["interaction"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["code"].as_str().unwrap())
        .collect();
    for code in [
        "read",
        "vread",
        "history-instance",
        "history-type",
        "search-type",
        "create",
        "update",
    ] {
        assert!(codes.contains(&code), "Goal supports {code}");
    }
    let provenance = resources
        .iter()
        .find(|r| r["type"] == "Provenance")
        .unwrap();
    assert!(
        !provenance["interaction"].to_string().contains("update"),
        "Provenance is read-only"
    );
    let params: Vec<&str> = goal["searchParam"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert!(
        params.contains(&"patient")
            && params.contains(&"lifecycle-status")
            && params.contains(&"_lastUpdated")
    );
    assert!(resources.iter().any(|r| r["type"] == "StructureDefinition"));
    // XML is refused with 406.
    let (status, oo, _) = fhir(
        &app,
        None,
        reqwest::Method::GET,
        "/metadata?_format=xml",
        &[],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_ACCEPTABLE, "{oo}");
}

#[tokio::test]
async fn csp15_read_and_vread_carry_etag_last_modified_and_the_plan_version() {
    let w = world().await;
    let (status, goal, headers) = get(&w.app, &w.nurse, "/Goal/goal-1").await;
    assert_eq!(status, StatusCode::OK, "{goal}");
    assert_eq!(goal["resourceType"], "Goal");
    assert_eq!(goal["description"]["text"], "Visit the library weekly");
    assert_eq!(goal["addresses"][0]["reference"], "Condition/need-1");
    assert_eq!(headers["etag"], format!("W/\"{}\"", w.version).as_str());
    assert_eq!(goal["meta"]["versionId"], w.version.to_string());
    let modified = headers["last-modified"].to_str().unwrap();
    assert!(
        modified.ends_with(" GMT") && modified.len() == 29,
        "{modified}"
    );

    for path in [
        format!("/Patient/{}", w.person),
        format!("/CarePlan/{}", w.plan),
        "/Condition/need-1".to_owned(),
        "/Condition/concern-1".to_owned(),
        "/Task/action-1".to_owned(),
        format!("/CareTeam/{}-care-team", w.plan),
        format!("/List/{}-goal-order", w.plan),
        format!("/Provenance/{}-v1", w.plan),
    ] {
        let (status, r, _) = get(&w.app, &w.nurse, &path).await;
        assert_eq!(status, StatusCode::OK, "{path}: {r}");
        assert_eq!(
            format!(
                "/{}/{}",
                r["resourceType"].as_str().unwrap(),
                r["id"].as_str().unwrap()
            ),
            path
        );
    }
    // vread: the Patient existed at version 1, the goal did not.
    let (status, p1, headers) = get(
        &w.app,
        &w.nurse,
        &format!("/Patient/{}/_history/1", w.person),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{p1}");
    assert_eq!(p1["meta"]["versionId"], "1");
    assert_eq!(headers["etag"], "W/\"1\"");
    let (status, oo, _) = get(&w.app, &w.nurse, "/Goal/goal-1/_history/1").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{oo}");
    let (status, g, _) = get(
        &w.app,
        &w.nurse,
        &format!("/Goal/goal-1/_history/{}", w.version),
    )
    .await;
    assert_eq!((status, g["id"].as_str()), (StatusCode::OK, Some("goal-1")));
    let (status, _, _) = get(&w.app, &w.nurse, "/Goal/goal-1/_history/999").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // A read takes no parameters but _format: others are refused, named.
    let (status, oo, _) = get(&w.app, &w.nurse, "/Goal/goal-1?colour=blue").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(issue_text(&oo).contains("colour"), "{oo}");

    // _format=json is honoured; XML is not served.
    let (status, _, _) = get(&w.app, &w.nurse, "/Goal/goal-1?_format=json").await;
    assert_eq!(status, StatusCode::OK);
    let (status, oo, _) = get(&w.app, &w.nurse, "/Goal/goal-1?_format=xml").await;
    assert_eq!(status, StatusCode::NOT_ACCEPTABLE);
    assert!(issue_text(&oo).contains("JSON"), "{oo}");
    let (status, _, _) = fhir(
        &w.app,
        Some(&w.nurse),
        reqwest::Method::GET,
        "/Goal/goal-1",
        &[("accept", "application/fhir+xml")],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_ACCEPTABLE);
}

#[tokio::test]
async fn csp9_errors_are_operation_outcomes_with_the_right_status() {
    let w = world().await;
    let (status, oo, _) = get(&w.app, &w.nurse, "/Spaceship/1").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(issue_text(&oo).contains("Spaceship"), "{oo}");
    let (status, _, _) = get(&w.app, &w.nurse, "/Goal/no-such-goal").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // One resource is at most 1 MiB (a transaction Bundle, which may carry files, 32 MiB).
    let huge = json!({"resourceType": "Goal", "description": {"text": "x".repeat(1536 * 1024)}});
    let (status, oo, _) = fhir(
        &w.app,
        Some(&w.nurse),
        reqwest::Method::POST,
        "/Goal",
        &[],
        Some(&huge.to_string()),
    )
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{oo}");
    assert!(
        issue_text(&oo).contains("1048576 bytes for a resource, 33554432 for a transaction Bundle"),
        "{oo}"
    );
    let (status, oo, _) = fhir(
        &w.app,
        None,
        reqwest::Method::GET,
        "/Goal/goal-1",
        &[],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(oo["issue"][0]["code"], "login");
    let (status, _, _) = fhir(
        &w.app,
        Some("cpt_not-a-token"),
        reqwest::Method::GET,
        "/Goal/goal-1",
        &[],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // Someone outside the care team is refused, and it is audited as a denial.
    let other = w
        .app
        .account("other-nurse", Role::Practitioner, None, None)
        .await;
    let (status, _, _) = get(&w.app, &other, "/Goal/goal-1").await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "not on their caseload: not found for them"
    );
    let (status, _, _) = get(&w.app, &other, &format!("/CarePlan/{}", w.plan)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Bad JSON, a body that is not a resource, and a wrong type.
    let (status, oo, _) = fhir(
        &w.app,
        Some(&w.nurse),
        reqwest::Method::POST,
        "/Goal",
        &[],
        Some("{not json"),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(oo["issue"][0]["code"], "structure");
    let (status, _, _) = fhir(
        &w.app,
        Some(&w.nurse),
        reqwest::Method::POST,
        "/Goal",
        &[],
        Some("[1,2]"),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _, _) = fhir(
        &w.app,
        Some(&w.nurse),
        reqwest::Method::POST,
        "/Goal",
        &[],
        Some(r#"{"resourceType":"Condition"}"#),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // Derived resources cannot be written; unknown paths and methods are OperationOutcomes.
    let (status, _, _) = fhir(
        &w.app,
        Some(&w.nurse),
        reqwest::Method::POST,
        "/Provenance",
        &[],
        Some(r#"{"resourceType":"Provenance"}"#),
    )
    .await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    let (status, _, _) = fhir(
        &w.app,
        Some(&w.nurse),
        reqwest::Method::DELETE,
        "/Goal/goal-1",
        &[],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    let (status, _, _) = get(&w.app, &w.nurse, "/Goal/goal-1/_history/1/extra").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn csp9_search_returns_a_care_plan_with_its_goals_and_conditions() {
    let w = world().await;
    let path = format!(
        "/CarePlan?patient={}&_include=CarePlan:goal&_include=CarePlan:addresses",
        w.person
    );
    let (status, bundle, _) = get(&w.app, &w.nurse, &path).await;
    assert_eq!(status, StatusCode::OK, "{bundle}");
    assert_eq!(bundle["type"], "searchset");
    assert_eq!(bundle["total"], 1);
    assert_eq!(
        ids(&entries(&bundle, "match")),
        vec![format!("CarePlan/{}", w.plan)]
    );
    assert_eq!(
        ids(&entries(&bundle, "include")),
        vec!["Condition/concern-1", "Condition/need-1", "Goal/goal-1"]
    );
    assert!(
        entries(&bundle, "outcome").is_empty(),
        "no warnings: {bundle}"
    );
    assert_eq!(bundle["link"][0]["relation"], "self");

    // Subject as a reference, status and category.
    let (_, b, _) = get(
        &w.app,
        &w.nurse,
        &format!("/Goal?subject=Patient/{}&lifecycle-status=active", w.person),
    )
    .await;
    assert_eq!(ids(&entries(&b, "match")), vec!["Goal/goal-1"], "{b}");
    let (_, b, _) = get(
        &w.app,
        &w.nurse,
        &format!("/Goal?patient={}&lifecycle-status=cancelled", w.person),
    )
    .await;
    assert_eq!(b["total"], 0);
    let (_, b, _) = get(
        &w.app,
        &w.nurse,
        &format!("/Condition?patient={}&category=health-concern", w.person),
    )
    .await;
    assert_eq!(
        ids(&entries(&b, "match")),
        vec!["Condition/concern-1"],
        "{b}"
    );
    let (_, b, _) = get(&w.app, &w.nurse, "/Condition?_id=need-1").await;
    assert_eq!(ids(&entries(&b, "match")), vec!["Condition/need-1"]);
    let (_, b, _) = get(
        &w.app,
        &w.nurse,
        "/Patient?identifier=https://fhir.nhs.uk/Id/nhs-number|9434765919",
    )
    .await;
    assert_eq!(
        ids(&entries(&b, "match")),
        vec![format!("Patient/{}", w.person)],
        "{b}"
    );
    let (_, b, _) = get(&w.app, &w.nurse, "/Goal?_lastUpdated=ge2000-01-01").await;
    assert_eq!(b["total"], 1);
    let (_, b, _) = get(&w.app, &w.nurse, "/Goal?_lastUpdated=lt2000-01-01").await;
    assert_eq!(b["total"], 0);
    let (status, _, _) = get(&w.app, &w.nurse, "/Goal?_lastUpdated=yesterday").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // _revinclude: the Tasks based on the CarePlan, the Provenance of its versions.
    let (_, b, _) = get(
        &w.app,
        &w.nurse,
        &format!(
            "/CarePlan?_id={}&_revinclude=Task:based-on&_revinclude=Provenance:target",
            w.plan
        ),
    )
    .await;
    let included = ids(&entries(&b, "include"));
    assert!(
        included.contains(&"Task/action-1".to_owned()),
        "{included:?}"
    );
    assert_eq!(
        included
            .iter()
            .filter(|i| i.starts_with("Provenance/"))
            .count() as u64,
        w.version
    );

    // Paging: one Condition per page, with next and previous links.
    let (_, page1, _) = get(
        &w.app,
        &w.nurse,
        &format!("/Condition?patient={}&_count=1", w.person),
    )
    .await;
    assert_eq!(page1["total"], 2);
    assert_eq!(entries(&page1, "match").len(), 1);
    let next = page1["link"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["relation"] == "next")
        .expect("a next link")["url"]
        .as_str()
        .unwrap()
        .to_owned();
    let next_path = next.split("/fhir").nth(1).unwrap();
    let (_, page2, _) = get(&w.app, &w.nurse, next_path).await;
    assert_eq!(entries(&page2, "match").len(), 1);
    assert_ne!(
        ids(&entries(&page1, "match")),
        ids(&entries(&page2, "match"))
    );
    assert!(
        !page2["link"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["relation"] == "next")
    );
}

#[tokio::test]
async fn csp9_unknown_search_parameters_are_reported_never_ignored() {
    let w = world().await;
    let path = format!(
        "/Goal?patient={}&colour=blue&_include=Goal:nonsense",
        w.person
    );
    let (status, b, _) = get(&w.app, &w.nurse, &path).await;
    assert_eq!(status, StatusCode::OK);
    let outcome = entries(&b, "outcome");
    assert_eq!(outcome.len(), 1, "{b}");
    let text = issue_text(outcome[0]);
    assert!(
        text.contains("colour") && text.contains("Goal:nonsense"),
        "{text}"
    );
    assert_eq!(outcome[0]["issue"][0]["severity"], "warning");
    let (status, oo, _) = fhir(
        &w.app,
        Some(&w.nurse),
        reqwest::Method::GET,
        &path,
        &[("prefer", "handling=strict")],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(issue_text(&oo).contains("colour"), "{oo}");
    assert_eq!(oo["issue"][0]["severity"], "error");
    // History refuses what it does not know.
    let (status, _, _) = get(&w.app, &w.nurse, "/Goal/goal-1/_history?colour=blue").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn csp15_history_per_instance_and_type_with_since_and_count() {
    let w = world().await;
    // One more version: the goal's priority changes.
    let (status, body) = w
        .app
        .post(
            &w.nurse,
            &format!("/api/v1/people/{}/plan/commands", w.person),
            Some(w.version),
            json!({"type": "edit_goal", "id": "goal-1", "priority": 9}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let latest = w.version + 1;
    let (status, h, _) = get(&w.app, &w.nurse, "/Goal/goal-1/_history").await;
    assert_eq!(status, StatusCode::OK, "{h}");
    assert_eq!(h["type"], "history");
    let list = h["entry"].as_array().unwrap();
    assert_eq!(
        list.len(),
        3,
        "the goal exists in the last three versions: {h}"
    );
    assert_eq!(
        list[0]["resource"]["meta"]["versionId"],
        latest.to_string(),
        "newest first"
    );
    assert_eq!(list[0]["request"]["method"], "PUT");
    assert_eq!(list[1]["request"]["method"], "PUT");
    assert_eq!(
        list[2]["request"]["method"], "POST",
        "created in that version"
    );
    assert_eq!(list[2]["response"]["status"], "201 Created");
    let priority = |e: &Value| {
        e["resource"]["extension"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["url"].as_str().unwrap().ends_with("/priority"))
            .unwrap()["valueInteger"]
            .clone()
    };
    assert_eq!(priority(&list[0]), 9);
    assert_eq!(priority(&list[1]), 7);

    let (_, h, _) = get(&w.app, &w.nurse, "/Goal/goal-1/_history?_count=1").await;
    assert_eq!(h["entry"].as_array().unwrap().len(), 1);
    assert!(
        h["link"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["relation"] == "next")
    );
    let since = list[0]["response"]["lastModified"].as_str().unwrap();
    let older = list[1]["response"]["lastModified"].as_str().unwrap();
    let (_, h, _) = get(
        &w.app,
        &w.nurse,
        &format!("/Goal/goal-1/_history?_since={older}"),
    )
    .await;
    assert_eq!(
        h["entry"].as_array().unwrap().len(),
        1,
        "only versions after _since: {h}"
    );
    let (_, h, _) = get(
        &w.app,
        &w.nurse,
        &format!("/Goal/goal-1/_history?_since={since}"),
    )
    .await;
    assert!(h["entry"].as_array().unwrap().is_empty());
    let (status, _, _) = get(&w.app, &w.nurse, "/Goal/goal-1/_history?_since=tuesday").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Type level: Conditions across the plans the nurse may see, newest version first.
    let (status, h, _) = get(&w.app, &w.nurse, "/Condition/_history?_count=3").await;
    assert_eq!(status, StatusCode::OK, "{h}");
    let list = h["entry"].as_array().unwrap();
    assert_eq!(list.len(), 3);
    assert!(
        list.iter()
            .all(|e| e["resource"]["resourceType"] == "Condition")
    );
    assert_eq!(list[0]["resource"]["meta"]["versionId"], latest.to_string());
    let (_, h, _) = get(&w.app, &w.nurse, "/Provenance/_history?_count=100").await;
    assert_eq!(
        h["entry"].as_array().unwrap().len() as u64,
        latest,
        "one Provenance per version"
    );
}

#[tokio::test]
async fn csp9_create_and_update_with_if_match_and_the_goal_rule() {
    let w = world().await;
    let goal_path = "/Goal/goal-1";
    let (_, mut goal, headers) = get(&w.app, &w.nurse, goal_path).await;
    let etag = headers["etag"].to_str().unwrap().to_owned();
    goal["description"]["text"] = json!("Visit the library twice a week");
    let body = goal.to_string();
    let put = |if_match: Option<String>, body: String| {
        let app = &w.app;
        let nurse = w.nurse.clone();
        async move {
            let h: Vec<(&str, String)> = if_match.into_iter().map(|v| ("if-match", v)).collect();
            let h: Vec<(&str, &str)> = h.iter().map(|(k, v)| (*k, v.as_str())).collect();
            fhir(
                app,
                Some(&nurse),
                reqwest::Method::PUT,
                goal_path,
                &h,
                Some(&body),
            )
            .await
        }
    };
    let (status, oo, _) = put(None, body.clone()).await;
    assert_eq!(status, StatusCode::PRECONDITION_REQUIRED, "{oo}");
    let (status, oo, _) = put(Some("W/\"1\"".into()), body.clone()).await;
    assert_eq!(status, StatusCode::PRECONDITION_FAILED, "{oo}");
    assert_eq!(oo["issue"][0]["code"], "conflict");
    let (status, updated, headers) = put(Some(etag.clone()), body.clone()).await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(
        updated["description"]["text"],
        "Visit the library twice a week"
    );
    assert_eq!(headers["etag"], format!("W/\"{}\"", w.version + 1).as_str());
    // The same update again, on the old version: someone else got there first.
    let (status, _, _) = put(Some(etag), body).await;
    assert_eq!(status, StatusCode::PRECONDITION_FAILED);

    // A Goal that addresses nothing is refused, saying why; nothing changes.
    let lonely = json!({"resourceType": "Goal", "lifecycleStatus": "active",
        "description": {"text": "Learn to swim"}, "subject": {"reference": format!("Patient/{}", w.person)}});
    let (status, oo, _) = fhir(
        &w.app,
        Some(&w.nurse),
        reqwest::Method::POST,
        "/Goal",
        &[],
        Some(&lonely.to_string()),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{oo}");
    let text = issue_text(&oo).to_lowercase();
    assert!(
        text.contains("need") || text.contains("addresses"),
        "{text}"
    );
    let (_, plan, _) = get(&w.app, &w.nurse, &format!("/CarePlan/{}", w.plan)).await;
    assert_eq!(plan["meta"]["versionId"], (w.version + 1).to_string());

    // With a need it is created, with a fresh id, a Location and the new version.
    let mut ok = lonely.clone();
    ok["addresses"] = json!([{"reference": "Condition/need-1"}]);
    let (status, created, headers) = fhir(
        &w.app,
        Some(&w.nurse),
        reqwest::Method::POST,
        "/Goal",
        &[],
        Some(&ok.to_string()),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["id"].as_str().unwrap();
    assert!(
        headers["location"]
            .to_str()
            .unwrap()
            .starts_with(&format!("Goal/{id}/_history/"))
    );
    let (status, _, _) = get(&w.app, &w.nurse, &format!("/Goal/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    // A Condition too: shaped like the ones the server sends.
    let (_, mut need, _) = get(&w.app, &w.nurse, "/Condition/need-1").await;
    let need = need.as_object_mut().unwrap();
    need.remove("id");
    need.remove("meta");
    need.insert("code".into(), json!({"text": "To sleep through the night"}));
    let (status, created, _) = fhir(
        &w.app,
        Some(&w.nurse),
        reqwest::Method::POST,
        "/Condition",
        &[],
        Some(&Value::from(need.clone()).to_string()),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["code"]["text"], "To sleep through the night");
}

#[tokio::test]
async fn csp9_a_practitioner_who_creates_a_patient_joins_the_care_team() {
    let app = spawn_app().await;
    let gp = app
        .account("gp", Role::Practitioner, None, Some("Surgery"))
        .await;
    let patient = json!({"resourceType": "Patient",
        "identifier": [{"system": "https://fhir.nhs.uk/Id/nhs-number", "value": "9434765919"}],
        "name": [{"use": "official", "family": "Lovelace", "given": ["Ada"]}],
        "birthDate": "1950-12-10"});
    let (status, created, headers) = fhir(
        &app,
        Some(&gp),
        reqwest::Method::POST,
        "/Patient",
        &[],
        Some(&patient.to_string()),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    assert!(
        headers["location"]
            .to_str()
            .unwrap()
            .starts_with(&format!("Patient/{id}/_history/"))
    );
    // The GP is on the care team, so they can read the plan.
    let (status, team, _) = get(&app, &gp, &format!("/CareTeam?patient={id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        team.to_string().contains("gp") || team.to_string().contains("Practitioner"),
        "{team}"
    );
    let (status, _, _) = get(&app, &gp, &format!("/Patient/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    // The same NHS number again is a conflict.
    let (status, _, _) = fhir(
        &app,
        Some(&gp),
        reqwest::Method::POST,
        "/Patient",
        &[],
        Some(&patient.to_string()),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    // A person may not create people.
    let someone = app
        .account("someone", Role::Administrator, None, None)
        .await;
    let mut other = patient.clone();
    other["identifier"][0]["value"] = json!("9990000026");
    let (status, _, _) = fhir(
        &app,
        Some(&someone),
        reqwest::Method::POST,
        "/Patient",
        &[],
        Some(&other.to_string()),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

fn transaction(person_url: &str, goal_addresses: &str) -> Value {
    json!({"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": person_url, "request": {"method": "POST", "url": "Patient"},
         "resource": {"resourceType": "Patient", "name": [{"use": "official", "family": "Hopper", "given": ["Grace"]}], "birthDate": "1946-12-09"}},
        {"fullUrl": "urn:uuid:5a0c7d1e-0000-4000-8000-000000000002", "request": {"method": "POST", "url": "Condition"},
         "resource": {"resourceType": "Condition", "subject": {"reference": person_url},
            "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}]},
            "category": [{"coding": [{"system": "https://careplan.example/fhir/CodeSystem/condition-kind", "code": "assessed-need"}]}],
            "code": {"text": "To keep in touch with friends"}}},
        {"fullUrl": "urn:uuid:5a0c7d1e-0000-4000-8000-000000000003", "request": {"method": "POST", "url": "Goal"},
         "resource": {"resourceType": "Goal", "lifecycleStatus": "active", "description": {"text": "Join a choir"},
            "subject": {"reference": person_url}, "addresses": [{"reference": goal_addresses}]}}
    ]})
}

#[tokio::test]
async fn csp9_transaction_creates_a_whole_plan_all_or_nothing() {
    let app = spawn_app().await;
    let nurse = app.account("nurse", Role::Practitioner, None, None).await;
    let person_url = "urn:uuid:5a0c7d1e-0000-4000-8000-000000000001";

    // A missing reference: refused, and no person is created.
    let bad = transaction(person_url, "urn:uuid:5a0c7d1e-0000-4000-8000-00000000dead");
    let (status, oo, _) = fhir(
        &app,
        Some(&nurse),
        reqwest::Method::POST,
        "",
        &[],
        Some(&bad.to_string()),
    )
    .await;
    assert!(
        status == StatusCode::UNPROCESSABLE_ENTITY || status == StatusCode::BAD_REQUEST,
        "{status} {oo}"
    );
    assert!(issue_text(&oo).contains("dead"), "{oo}");
    assert!(
        app.store.people(None, 10, 0).await.unwrap().is_empty(),
        "nothing was created"
    );

    let good = transaction(person_url, "urn:uuid:5a0c7d1e-0000-4000-8000-000000000002");
    let (status, reply, _) = fhir(
        &app,
        Some(&nurse),
        reqwest::Method::POST,
        "",
        &[],
        Some(&good.to_string()),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    assert_eq!(reply["type"], "transaction-response");
    let responses = reply["entry"].as_array().unwrap();
    assert_eq!(responses.len(), 3);
    assert!(
        responses
            .iter()
            .all(|e| e["response"]["status"] == "201 Created")
    );
    let patient = responses[0]["response"]["location"]
        .as_str()
        .unwrap()
        .split('/')
        .nth(1)
        .unwrap()
        .to_owned();
    let goal = responses[2]["response"]["location"]
        .as_str()
        .unwrap()
        .split('/')
        .nth(1)
        .unwrap()
        .to_owned();
    let (status, g, _) = get(&app, &nurse, &format!("/Goal/{goal}")).await;
    assert_eq!(status, StatusCode::OK, "{g}");
    let condition = responses[1]["response"]["location"]
        .as_str()
        .unwrap()
        .split('/')
        .nth(1)
        .unwrap()
        .to_owned();
    assert_eq!(
        g["addresses"][0]["reference"],
        format!("Condition/{condition}"),
        "the link survived"
    );
    assert_eq!(g["subject"]["reference"], format!("Patient/{patient}"));

    // A transaction on the existing plan: a new goal and an edit of the condition, atomically.
    let (_, cond, headers) = get(&app, &nurse, &format!("/Condition/{condition}")).await;
    let etag = headers["etag"].to_str().unwrap().to_owned();
    let mut cond2 = cond.clone();
    cond2["code"]["text"] = json!("To keep in touch with old friends");
    let update = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
        {"request": {"method": "PUT", "url": format!("Condition/{condition}"), "ifMatch": etag}, "resource": cond2},
        {"fullUrl": "urn:uuid:5a0c7d1e-0000-4000-8000-000000000004", "request": {"method": "POST", "url": "Goal"},
         "resource": {"resourceType": "Goal", "lifecycleStatus": "active", "description": {"text": "Phone a friend weekly"},
            "subject": {"reference": format!("Patient/{patient}")}, "addresses": [{"reference": format!("Condition/{condition}")}]}}
    ]});
    let (status, reply, _) = fhir(
        &app,
        Some(&nurse),
        reqwest::Method::POST,
        "",
        &[],
        Some(&update.to_string()),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    assert_eq!(reply["entry"][0]["response"]["status"], "200 OK");
    assert_eq!(reply["entry"][1]["response"]["status"], "201 Created");
    let (_, goals, _) = get(&app, &nurse, &format!("/Goal?patient={patient}")).await;
    assert_eq!(goals["total"], 2, "{goals}");
    // The same transaction again is based on a stale version: nothing of it is applied.
    let (status, _, _) = fhir(
        &app,
        Some(&nurse),
        reqwest::Method::POST,
        "",
        &[],
        Some(&update.to_string()),
    )
    .await;
    assert_eq!(status, StatusCode::PRECONDITION_FAILED);
    let (_, goals, _) = get(&app, &nurse, &format!("/Goal?patient={patient}")).await;
    assert_eq!(goals["total"], 2);
}

#[tokio::test]
async fn csp9_everything_exports_the_plan_and_a_transaction_reimports_it() {
    let w = world().await;
    let (status, all, _) = get(
        &w.app,
        &w.nurse,
        &format!("/Patient/{}/$everything", w.person),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{all}");
    assert_eq!(all["type"], "searchset");
    let found = ids(&entries(&all, "match"));
    for expected in [
        "Goal/goal-1",
        "Condition/need-1",
        "Condition/concern-1",
        "Task/action-1",
    ] {
        assert!(
            found.contains(&expected.to_owned()),
            "{expected} in {found:?}"
        );
    }
    assert!(found.iter().any(|f| f.starts_with("Provenance/")));
    assert!(
        all.get("meta").is_none(),
        "nothing withheld from the care team"
    );

    // The export as a transaction into another server: the same goals, links and actions.
    let entry: Vec<Value> = entries(&all, "match")
        .into_iter()
        .map(|r| {
            let t = r["resourceType"].as_str().unwrap();
            json!({"fullUrl": format!("http://elsewhere.example/fhir/{t}/{}", r["id"].as_str().unwrap()),
                   "resource": r, "request": {"method": "POST", "url": t}})
        })
        .collect();
    let bundle = json!({"resourceType": "Bundle", "type": "transaction", "entry": entry});
    let other = spawn_app().await;
    let nurse = other.account("nurse", Role::Practitioner, None, None).await;
    let (status, reply, _) = fhir(
        &other,
        Some(&nurse),
        reqwest::Method::POST,
        "",
        &[],
        Some(&bundle.to_string()),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    let replies = reply["entry"].as_array().unwrap();
    assert_eq!(replies.len(), bundle["entry"].as_array().unwrap().len());
    let team = replies
        .iter()
        .filter_map(|e| e["response"]["location"].as_str())
        .find(|l| l.starts_with("CareTeam/"))
        .expect("the care team's location");
    let (status, _, _) = get(
        &other,
        &nurse,
        &format!("/{}", team.split("/_history").next().unwrap()),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{team} is where the response says");
    let (_, goal, _) = get(&other, &nurse, "/Goal/goal-1").await;
    assert_eq!(goal["addresses"][0]["reference"], "Condition/need-1");
    assert_eq!(goal["description"]["text"], "Visit the library weekly");
    let (_, task, _) = get(&other, &nurse, "/Task/action-1").await;
    assert_eq!(task["description"], "Walk to the library with Ada");
    assert!(
        task.to_string().contains("goal-1"),
        "the action's goal survived: {task}"
    );
}

#[tokio::test]
async fn csp1_a_section_the_person_hides_is_absent_through_fhir_too() {
    let w = world().await;
    let person_id = PersonId::parse(&w.person).unwrap();
    let me = w
        .app
        .account("ada", Role::Person, Some(&person_id), None)
        .await;
    let (status, body) = w.app
        .post(&me, &format!("/api/v1/people/{}/plan/commands", w.person), Some(w.version), json!({"type": "set_consent_preference",
            "scope": {"section": "concerns"}, "audience": {"role": "practitioner"}, "visible": false}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let (status, _, _) = get(&w.app, &w.nurse, "/Condition/concern-1").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, b, _) = get(
        &w.app,
        &w.nurse,
        &format!("/Condition?patient={}", w.person),
    )
    .await;
    assert_eq!(ids(&entries(&b, "match")), vec!["Condition/need-1"]);
    let outcome = entries(&b, "outcome");
    assert_eq!(
        outcome.len(),
        1,
        "the search says something was withheld: {b}"
    );
    assert_eq!(outcome[0]["issue"][0]["code"], "suppressed");
    let (_, all, _) = get(
        &w.app,
        &w.nurse,
        &format!("/Patient/{}/$everything", w.person),
    )
    .await;
    assert!(
        !all.to_string().contains("Damp flat"),
        "withheld from $everything"
    );
    assert_eq!(all["meta"]["security"][0]["code"], "REDACTED");
    assert!(!entries(&all, "outcome").is_empty());
    let (_, plan, _) = get(&w.app, &w.nurse, &format!("/CarePlan/{}", w.plan)).await;
    assert!(!plan.to_string().contains("concern-1"));
    assert_eq!(plan["meta"]["security"][0]["code"], "REDACTED");
    let (_, h, _) = get(&w.app, &w.nurse, "/Condition/_history?_count=100").await;
    assert!(!h.to_string().contains("Damp flat"), "nor in history");
    // The person still sees it.
    let (status, c, _) = get(&w.app, &me, "/Condition/concern-1").await;
    assert_eq!(
        (status, c["code"]["text"].as_str()),
        (StatusCode::OK, Some("Damp flat"))
    );
    // And the nurse may not change it through FHIR either.
    let (status, _, _) = fhir(
        &w.app,
        Some(&w.nurse),
        reqwest::Method::PUT,
        "/Condition/concern-1",
        &[("if-match", &format!("W/\"{}\"", w.version + 1))],
        Some(&c.to_string()),
    )
    .await;
    assert!(
        status == StatusCode::FORBIDDEN || status == StatusCode::NOT_FOUND,
        "{status}"
    );
}

/// CSP-12: capacity assessments are Observations and the steps to maximise capacity CarePlan
/// extensions; a person who hides the capacity section from practitioners hides them from FHIR.
#[tokio::test]
async fn csp12_capacity_records_are_read_through_fhir_and_hidden_with_their_section() {
    let w = world().await;
    let (status, body) = w
        .app
        .post(&w.nurse, &format!("/api/v1/people/{}/plan/commands", w.person), Some(w.version), json!({"commands": [
            {"type": "set_capacity_support", "steps_to_maximise_capacity": "Large print, in the morning"},
            {"type": "record_capacity_assessment", "id": "capacity-1", "decision": "Whether to sell the house",
             "outcome": "has_capacity", "assessed_by": "Priya Shah", "assessed_on": "2026-11-02"}
        ]}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let version = body["version"].as_u64().unwrap();
    let (status, obs, _) = get(&w.app, &w.nurse, "/Observation/capacity-1").await;
    assert_eq!(status, StatusCode::OK, "{obs}");
    assert_eq!(obs["code"]["coding"][0]["code"], "capacity-assessment");
    assert_eq!(
        obs["extension"][0]["valueString"],
        "Whether to sell the house"
    );
    let (_, plan, _) = get(&w.app, &w.nurse, &format!("/CarePlan/{}", w.plan)).await;
    assert!(
        plan.to_string().contains("Large print, in the morning"),
        "{plan}"
    );

    // Written through FHIR: a new assessment is created; what it says cannot be changed, but
    // it can be archived; the CarePlan's steps to maximise capacity can be changed.
    let put = |path: String, version: u64, body: Value| {
        let app = &w.app;
        let nurse = w.nurse.clone();
        async move {
            fhir(
                app,
                Some(&nurse),
                reqwest::Method::PUT,
                &path,
                &[("if-match", &format!("W/\"{version}\""))],
                Some(&body.to_string()),
            )
            .await
        }
    };
    let mut second = obs.clone();
    second["id"] = json!("capacity-2");
    second["extension"][0]["valueString"] = json!("Whether to have the operation");
    second.as_object_mut().unwrap().remove("meta");
    let (status, created, headers) = fhir(
        &w.app,
        Some(&w.nurse),
        reqwest::Method::POST,
        "/Observation",
        &[("if-match", &format!("W/\"{version}\""))],
        Some(&second.to_string()),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    let version = etag_version(&headers);
    let mut changed = created.clone();
    changed["extension"][0]["valueString"] = json!("Whether to move house");
    let (status, oo, _) = put(format!("/Observation/{id}"), version, changed).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{oo}");
    assert!(
        issue_text(&oo).contains("cannot be changed once made"),
        "{oo}"
    );
    let mut archived = created.clone();
    archived["extension"].as_array_mut().unwrap().push(json!({
        "url": "https://careplan.example/fhir/StructureDefinition/archived",
        "valueDateTime": "2026-11-26T10:00:00Z"}));
    let (status, body, headers) = put(format!("/Observation/{id}"), version, archived).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        body.to_string().contains("/StructureDefinition/archived"),
        "{body}"
    );
    let version = etag_version(&headers);
    // Sent back without the archived extension: restored.
    let (status, body, headers) = put(format!("/Observation/{id}"), version, created.clone()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        !body.to_string().contains("/StructureDefinition/archived"),
        "{body}"
    );
    let version = etag_version(&headers);
    let (_, mut care_plan, _) = get(&w.app, &w.nurse, &format!("/CarePlan/{}", w.plan)).await;
    for x in care_plan["extension"].as_array_mut().unwrap() {
        if x["url"].as_str().unwrap().ends_with("/capacity-steps") {
            x["valueString"] = json!("Large print, in the afternoon");
        }
    }
    let (status, body, headers) = put(format!("/CarePlan/{}", w.plan), version, care_plan).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        body.to_string().contains("Large print, in the afternoon"),
        "{body}"
    );
    let version = etag_version(&headers);

    let person_id = PersonId::parse(&w.person).unwrap();
    let me = w
        .app
        .account("ada", Role::Person, Some(&person_id), None)
        .await;
    let (status, body) = w.app
        .post(&me, &format!("/api/v1/people/{}/plan/commands", w.person), Some(version), json!({"type": "set_consent_preference",
            "scope": {"section": "capacity"}, "audience": {"role": "practitioner"}, "visible": false}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _, _) = get(&w.app, &w.nurse, "/Observation/capacity-1").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, plan, _) = get(&w.app, &w.nurse, &format!("/CarePlan/{}", w.plan)).await;
    assert!(!plan.to_string().contains("Large print"), "{plan}");
    let (status, obs, _) = get(&w.app, &me, "/Observation/capacity-1").await;
    assert_eq!(status, StatusCode::OK, "the person still sees it: {obs}");
}

/// CSP-8: a suggested change to an action is a Task with intent proposal: made by POST,
/// accepted (status completed, which makes the edit) or declined (rejected, with a reason) by
/// PUT; what it proposes cannot be changed afterwards.
#[tokio::test]
async fn csp8_suggestions_are_made_accepted_and_declined_through_fhir() {
    let w = world().await;
    let proposal = |id: &str, timing: &str| {
        json!({"resourceType": "Task", "id": id, "status": "requested", "intent": "proposal",
               "code": {"coding": [{"system": "https://careplan.example/fhir/CodeSystem/task-kind", "code": "action-change"}]},
               "focus": {"reference": "Task/action-1"},
               "for": {"reference": format!("Patient/{}", w.person)},
               "input": [{"type": {"coding": [{"system": "https://careplan.example/fhir/CodeSystem/action-change", "code": "timing"}]},
                          "valueString": timing}]})
    };
    let send = |method: reqwest::Method, path: String, version: u64, body: Value| {
        let app = &w.app;
        let nurse = w.nurse.clone();
        async move {
            fhir(
                app,
                Some(&nurse),
                method,
                &path,
                &[("if-match", &format!("W/\"{version}\""))],
                Some(&body.to_string()),
            )
            .await
        }
    };
    let (status, made, headers) = send(
        reqwest::Method::POST,
        "/Task".into(),
        w.version,
        proposal("suggestion-mondays", "Mondays"),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{made}");
    assert_eq!(made["status"], "requested");
    let id = made["id"].as_str().unwrap().to_owned();
    let version = etag_version(&headers);
    let (_, action, _) = get(&w.app, &w.nurse, "/Task/action-1").await;
    assert!(!action.to_string().contains("Mondays"), "not applied yet");

    // What it proposes is fixed once made.
    let mut changed = made.clone();
    changed["input"][0]["valueString"] = json!("Tuesdays");
    let (status, oo, _) = send(
        reqwest::Method::PUT,
        format!("/Task/{id}"),
        version,
        changed,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{oo}");

    // Accepted: the action changes in the same version.
    let mut accepted = made.clone();
    accepted["status"] = json!("completed");
    let (status, body, headers) = send(
        reqwest::Method::PUT,
        format!("/Task/{id}"),
        version,
        accepted,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "completed");
    let version = etag_version(&headers);
    let (_, action, _) = get(&w.app, &w.nurse, "/Task/action-1").await;
    assert!(action.to_string().contains("Mondays"), "{action}");
    // Once accepted it stays accepted.
    let (status, oo, _) = send(
        reqwest::Method::PUT,
        format!("/Task/{id}"),
        version,
        made.clone(),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{oo}");
    assert!(issue_text(&oo).contains("already accepted"), "{oo}");

    // Another, declined with a reason: the action stays as it is.
    let (status, made, headers) = send(
        reqwest::Method::POST,
        "/Task".into(),
        version,
        proposal("suggestion-fridays", "Fridays"),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{made}");
    let id = made["id"].as_str().unwrap().to_owned();
    let mut declined = made.clone();
    declined["status"] = json!("rejected");
    declined["statusReason"] = json!({"text": "The library is shut on Fridays"});
    let (status, body, _) = send(
        reqwest::Method::PUT,
        format!("/Task/{id}"),
        etag_version(&headers),
        declined,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["statusReason"]["text"],
        "The library is shut on Fridays"
    );
    let (_, action, _) = get(&w.app, &w.nurse, "/Task/action-1").await;
    assert!(!action.to_string().contains("Fridays"), "{action}");
}

/// CSP-1: the audit trail as FHIR AuditEvents, under the JSON API's rule: a data controller
/// reads any of it, the person the entries about their own plan, a practitioner none; an
/// override (a data controller's release, and each access under it) is marked break-the-glass.
#[tokio::test]
async fn csp1_the_audit_trail_is_read_as_audit_events_by_whom_it_may_be() {
    let w = world().await;
    let person_id = PersonId::parse(&w.person).unwrap();
    let me = w
        .app
        .account("ada", Role::Person, Some(&person_id), None)
        .await;
    let dc = w.app.account("dc", Role::DataController, None, None).await;
    // Ada hides her concerns from practitioners; the nurse reads; the data controller releases
    // the concerns to practitioners (an override); the nurse reads again, under the release.
    let (status, body) = w.app
        .post(&me, &format!("/api/v1/people/{}/plan/commands", w.person), Some(w.version), json!({"type": "set_consent_preference",
            "scope": {"section": "concerns"}, "audience": {"role": "practitioner"}, "visible": false}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _, _) = get(&w.app, &w.nurse, &format!("/CarePlan/{}", w.plan)).await;
    assert_eq!(status, StatusCode::OK);
    let (status, release) = w.app
        .post(&dc, &format!("/api/v1/people/{}/releases", w.person), None, json!({"scope": {"section": "concerns"},
            "audience": {"role": "practitioner"}, "reason": "Safeguarding review", "expires_at": "2099-01-01T00:00:00Z"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{release}");
    let (status, c, _) = get(&w.app, &w.nurse, "/Condition/concern-1").await;
    assert_eq!(status, StatusCode::OK, "{c}");

    let (status, trail, _) = get(&w.app, &dc, &format!("/AuditEvent?patient={}", w.person)).await;
    assert_eq!(status, StatusCode::OK, "{trail}");
    let events = entries(&trail, "match");
    let codes = |e: &Value| -> Vec<String> {
        e["subtype"]
            .as_array()
            .map(|l| {
                l.iter()
                    .map(|c| c["code"].as_str().unwrap().to_owned())
                    .collect()
            })
            .unwrap_or_default()
    };
    let btg = |e: &Value| {
        e["purposeOfEvent"].to_string().contains("BTG")
            && e["agent"][0]["purposeOfUse"].to_string().contains("BTG")
    };
    // The plan's creation, its changes and the nurse's reads, each with who and when.
    let create = events
        .iter()
        .find(|e| codes(e).contains(&"create_plan".to_owned()))
        .expect("the plan's creation");
    assert_eq!(create["action"], "C");
    assert!(events.iter().any(|e| e["action"] == "U"), "{trail}");
    let read = events
        .iter()
        .find(|e| codes(e).contains(&"read_plan".to_owned()) && !btg(e))
        .expect("a read");
    assert_eq!(read["action"], "R");
    assert_eq!(read["outcome"], "0");
    assert_eq!(
        read["agent"][0]["role"][0]["coding"][0]["code"],
        "practitioner"
    );
    assert!(read["recorded"].as_str().unwrap().starts_with("20"));
    assert_eq!(
        read["entity"][0]["what"]["reference"],
        format!("Patient/{}", w.person)
    );
    // The override itself, and the read under it.
    let started = events
        .iter()
        .find(|e| codes(e).contains(&"110127".to_owned()))
        .expect("the release, as Emergency Override Started");
    assert!(btg(started), "{started}");
    assert!(
        events
            .iter()
            .any(|e| btg(e) && e["action"] == "R" && e["entity"].to_string().contains("release")),
        "a read under the release: {trail}"
    );

    // Paging: two at a time, the next link goes on where the page ended.
    let (_, page, _) = get(
        &w.app,
        &dc,
        &format!("/AuditEvent?patient={}&_count=2", w.person),
    )
    .await;
    let first: Vec<&Value> = entries(&page, "match");
    assert_eq!(first.len(), 2);
    let next = page["link"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["relation"] == "next")
        .map(|l| l["url"].as_str().unwrap().to_owned())
        .expect("a next link");
    let path = next.split("/fhir").nth(1).unwrap().to_owned();
    let (_, page2, _) = get(&w.app, &dc, &path).await;
    let second = entries(&page2, "match");
    assert_eq!(second[0]["id"], events[2]["id"], "{next}");

    // The person reads the entries about her own plan, one by id too.
    let (status, own, _) = get(&w.app, &me, &format!("/AuditEvent?patient={}", w.person)).await;
    assert_eq!(status, StatusCode::OK, "{own}");
    assert_eq!(entries(&own, "match").len(), events.len());
    let id = events[0]["id"].as_str().unwrap();
    let (status, one, _) = get(&w.app, &me, &format!("/AuditEvent/{id}")).await;
    assert_eq!(status, StatusCode::OK, "{one}");
    assert_eq!(one["id"], id);
    // … but not everyone's, and a practitioner none of it.
    let (status, oo, _) = get(&w.app, &me, "/AuditEvent").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{oo}");
    let (status, oo, _) = get(
        &w.app,
        &w.nurse,
        &format!("/AuditEvent?patient={}", w.person),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{oo}");
    assert!(issue_text(&oo).contains("data controller"), "{oo}");
    let (status, _, _) = get(&w.app, &w.nurse, &format!("/AuditEvent/{id}")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, _) = fhir(&w.app, None, reqwest::Method::GET, "/AuditEvent", &[], None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

/// CSP-12, CSP-15: the whole plan as it was at a version, as a document Bundle.
#[tokio::test]
async fn csp15_a_version_of_the_plan_is_read_as_a_document() {
    let w = world().await;
    let path = |q: &str| format!("/CarePlan/{}/$document{q}", w.plan);
    let (status, now, _) = get(&w.app, &w.nurse, &path("")).await;
    assert_eq!(status, StatusCode::OK, "{now}");
    assert_eq!(now["type"], "document");
    let composition = &now["entry"][0]["resource"];
    assert_eq!(composition["resourceType"], "Composition");
    assert_eq!(
        composition["title"],
        format!(
            "Care and support plan of Ada Lovelace, version {}",
            w.version
        )
    );
    assert!(now.to_string().contains("Goal/goal-1"), "{now}");
    // Version 1, before the goal: as it was, written by whoever made it.
    let (status, first, _) = get(&w.app, &w.nurse, &path("?version=1")).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    let composition = &first["entry"][0]["resource"];
    assert!(
        composition["title"]
            .as_str()
            .unwrap()
            .ends_with("version 1")
    );
    assert!(!first.to_string().contains("goal-1"), "{first}");
    assert!(composition["author"][0]["display"].as_str().is_some());
    let (status, oo, _) = get(&w.app, &w.nurse, &path("?version=999")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{oo}");
    assert!(issue_text(&oo).contains("from 1 to"), "{oo}");
}

#[tokio::test]
async fn csp1_fhir_reads_and_writes_are_audited() {
    let w = world().await;
    let plan_id = PlanId::parse(&w.plan).unwrap();
    let audit = |app: &App| {
        let store = app.store.clone();
        let plan_id = plan_id.clone();
        async move {
            store
                .audit_records(AuditFilter {
                    plan_id: Some(plan_id),
                    limit: 100_000,
                    ..AuditFilter::default()
                })
                .await
                .unwrap()
        }
    };
    let before = audit(&w.app).await.len();
    let (status, _, _) = get(&w.app, &w.nurse, "/Goal/goal-1").await;
    assert_eq!(status, StatusCode::OK);
    let after = audit(&w.app).await;
    assert_eq!(after.len(), before + 1, "one read, one entry");
    let last = after.last().unwrap();
    assert_eq!(
        (last.action.as_str(), last.outcome.as_str()),
        ("read_plan", "allowed")
    );
    assert_eq!(last.actor_role, "practitioner");

    let other = w.app.account("other", Role::Practitioner, None, None).await;
    let (status, _, _) = get(&w.app, &other, &format!("/Patient/{}", w.person)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let denied = audit(&w.app).await;
    assert_eq!(
        denied.last().unwrap().outcome,
        "denied",
        "the refusal is audited"
    );

    let (_, _, _) = get(&w.app, &w.nurse, "/Goal/goal-1/_history").await;
    let history = audit(&w.app).await;
    assert!(
        history.iter().any(|r| r.action == "read_versions"),
        "history reads are audited"
    );

    // A FHIR write is audited as a write by the nurse.
    let goal = json!({"resourceType": "Goal", "lifecycleStatus": "active", "description": {"text": "Sing"},
        "subject": {"reference": format!("Patient/{}", w.person)}, "addresses": [{"reference": "Condition/need-1"}]});
    let (status, _, _) = fhir(
        &w.app,
        Some(&w.nurse),
        reqwest::Method::POST,
        "/Goal",
        &[],
        Some(&goal.to_string()),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let written = audit(&w.app).await;
    let last = written.last().unwrap();
    assert_eq!(
        (
            last.action.as_str(),
            last.outcome.as_str(),
            last.actor_role.as_str()
        ),
        ("write", "allowed", "practitioner")
    );
    assert_eq!(last.version, Some(w.version as i64 + 1));
}

#[tokio::test]
async fn csp10_a_professional_gets_just_their_goals_and_actions() {
    let w = world().await;
    // A second goal with an action by someone else.
    let (status, body) = w.app
        .post(&w.nurse, &format!("/api/v1/people/{}/plan/commands", w.person), Some(w.version), json!({"commands": [
            {"type": "add_goal", "id": "goal-2", "description": "Cook a meal", "priority": 4, "addresses": ["need-1"]},
            {"type": "add_action", "id": "action-2", "goal": "goal-2", "description": "Cookery class",
             "performer": {"kind": "organisation", "organisation": "Day Centre"}}
        ]}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, b, _) = get(
        &w.app,
        &w.nurse,
        &format!(
            "/CarePlan/{}/$performer-view?performer=priya%20shah",
            w.plan
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{b}");
    let all: Vec<&Value> = b["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["resource"])
        .collect();
    let found = ids(&all);
    assert!(
        found.contains(&"Goal/goal-1".to_owned()) && found.contains(&"Task/action-1".to_owned()),
        "{found:?}"
    );
    assert!(
        !found.contains(&"Goal/goal-2".to_owned()) && !found.contains(&"Task/action-2".to_owned()),
        "{found:?}"
    );
    let plan = all
        .iter()
        .find(|r| r["resourceType"] == "CarePlan")
        .unwrap();
    assert_eq!(plan["meta"]["tag"][0]["code"], "SUBSETTED");
    let (status, oo, _) = get(
        &w.app,
        &w.nurse,
        &format!("/CarePlan/{}/$performer-view", w.plan),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{oo}");
    let (status, _, _) = get(&w.app, &w.nurse, &format!("/CarePlan/{}/$explode", w.plan)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn csp9_profiles_and_code_systems_are_served_at_their_canonical_paths() {
    let app = spawn_app().await;
    let cs = app
        .http
        .get(format!("{}/fhir/metadata", app.base))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(cs["fhirVersion"], "4.0.1");
    for (kind, name) in [
        ("StructureDefinition", "priority"),
        ("StructureDefinition", "confidence"),
        ("CodeSystem", "funding-source"),
    ] {
        let r = app
            .http
            .get(format!("{}/fhir/{kind}/{name}", app.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{kind}/{name}");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["resourceType"], kind);
        assert_eq!(
            v["url"],
            format!("https://careplan.example/fhir/{kind}/{name}")
        );
    }
    let r = app
        .http
        .get(format!("{}/fhir/StructureDefinition/nope", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let all: Value = app
        .http
        .get(format!("{}/fhir/StructureDefinition", app.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(all["type"], "searchset");
    assert!(all["total"].as_u64().unwrap() >= 4);
}

// ----- validation -------------------------------------------------------------------------------

const VENV: &str = "fhir-validator-venv-fhir.resources-8.3.0";

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

fn fhir_tests_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fhir/tests")
}

fn run_cmd(cmd: &mut std::process::Command) -> Result<String, String> {
    let shown = format!("{cmd:?}");
    match cmd.output() {
        Ok(out) if out.status.success() => Ok(String::from_utf8_lossy(&out.stdout).into_owned()),
        Ok(out) => Err(format!(
            "{shown} failed ({}):\n{}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )),
        Err(e) => Err(format!("{shown} could not run: {e}")),
    }
}

/// The independent validator `careplan-fhir`'s tests use (python `fhir.resources`, pinned in
/// crates/fhir/tests/requirements.txt), installed into the target directory if it is not there.
fn validator() -> Result<std::path::PathBuf, String> {
    let target = match std::env::var("CARGO_TARGET_DIR") {
        Ok(dir) => std::path::PathBuf::from(dir),
        Err(_) => std::env::current_exe()
            .unwrap()
            .ancestors()
            .nth(3)
            .unwrap()
            .to_path_buf(),
    };
    let venv = target.join(VENV);
    let python = venv.join("bin").join("python");
    let works = |p: &std::path::Path| {
        run_cmd(std::process::Command::new(p).args(["-c", "import fhir.resources.R4B"])).is_ok()
    };
    if works(&python) {
        return Ok(python);
    }
    let building = target.join(format!("{VENV}.building-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&building);
    run_cmd(
        std::process::Command::new("python3")
            .args(["-m", "venv"])
            .arg(&building),
    )?;
    run_cmd(
        std::process::Command::new(building.join("bin").join("pip"))
            .args(["install", "--quiet", "--disable-pip-version-check", "-r"])
            .arg(fhir_tests_dir().join("requirements.txt")),
    )?;
    let _ = std::fs::remove_dir_all(&venv);
    std::fs::rename(&building, &venv).map_err(|e| e.to_string())?;
    if works(&python) {
        Ok(python)
    } else {
        Err(format!(
            "{} cannot import fhir.resources.R4B",
            python.display()
        ))
    }
}

/// Everything the endpoint sends in a session of reads, searches, history, operations, writes
/// and errors validates as FHIR R4 with the independent validator.
#[tokio::test]
async fn csp9_everything_the_endpoint_emits_validates_as_fhir_r4() {
    let python = match validator() {
        Ok(p) => p,
        Err(why) if !in_ci() => {
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "\n!!!!!!!!!! SKIPPED: the FHIR validator could not be installed, so the endpoint's output was NOT validated (CI=true fails instead): {why}\n"
            );
            return;
        }
        Err(why) => panic!("the FHIR validator could not be installed: {why}"),
    };
    let w = world().await;
    let person_id = PersonId::parse(&w.person).unwrap();
    let me = w
        .app
        .account("ada", Role::Person, Some(&person_id), None)
        .await;
    let (status, _) = w.app
        .post(&me, &format!("/api/v1/people/{}/plan/commands", w.person), Some(w.version), json!({"type": "set_consent_preference",
            "scope": {"section": "concerns"}, "audience": {"role": "practitioner"}, "visible": false}))
        .await;
    assert_eq!(status, StatusCode::OK);
    let mut emitted: Vec<(String, Value)> = Vec::new();
    let metadata = w
        .app
        .http
        .get(format!("{}/fhir/metadata", w.app.base))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    emitted.push(("metadata".into(), metadata));
    for path in [
        format!("/Patient/{}", w.person),
        format!("/CarePlan/{}", w.plan),
        "/Goal/goal-1".into(),
        "/Condition/need-1".into(),
        "/Task/action-1".into(),
        format!("/CareTeam/{}-care-team", w.plan),
        format!("/List/{}-goal-order", w.plan),
        format!("/Provenance/{}-v2", w.plan),
        format!("/Patient/{}/_history/1", w.person),
        format!(
            "/CarePlan?patient={}&_include=CarePlan:goal&_include=CarePlan:addresses&_revinclude=Provenance:target&colour=blue",
            w.person
        ),
        format!("/Condition?patient={}&_count=1", w.person),
        "/Goal/goal-1/_history".into(),
        "/Goal/_history".into(),
        format!("/Patient/{}/$everything", w.person),
        format!(
            "/CarePlan/{}/$performer-view?performer=Priya%20Shah",
            w.plan
        ),
        "/Spaceship/1".into(),
        "/Condition/concern-1".into(),
        "/StructureDefinition".into(),
        "/CodeSystem/funding-source".into(),
    ] {
        let (_, body, _) = get(&w.app, &w.nurse, &path).await;
        emitted.push((path, body));
    }
    let (_, everything_as_person, _) =
        get(&w.app, &me, &format!("/Patient/{}/$everything", w.person)).await;
    emitted.push(("everything-as-person".into(), everything_as_person));
    let lonely = json!({"resourceType": "Goal", "lifecycleStatus": "active",
        "description": {"text": "Learn to swim"}, "subject": {"reference": format!("Patient/{}", w.person)}});
    let (_, oo, _) = fhir(
        &w.app,
        Some(&w.nurse),
        reqwest::Method::POST,
        "/Goal",
        &[],
        Some(&lonely.to_string()),
    )
    .await;
    emitted.push(("goal-without-need".into(), oo));
    let app2 = spawn_app().await;
    let nurse2 = app2.account("nurse", Role::Practitioner, None, None).await;
    let t = transaction(
        "urn:uuid:5a0c7d1e-0000-4000-8000-000000000001",
        "urn:uuid:5a0c7d1e-0000-4000-8000-000000000002",
    );
    let (status, reply, _) = fhir(
        &app2,
        Some(&nurse2),
        reqwest::Method::POST,
        "",
        &[],
        Some(&t.to_string()),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    emitted.push(("transaction-response".into(), reply));
    let (_, bad, _) = fhir(
        &app2,
        Some(&nurse2),
        reqwest::Method::POST,
        "",
        &[],
        Some("{"),
    )
    .await;
    emitted.push(("bad-json".into(), bad));
    // The audit trail as AuditEvents, an override (a data controller's release) among them.
    let dc = w.app.account("dc", Role::DataController, None, None).await;
    let (status, release) = w.app
        .post(&dc, &format!("/api/v1/people/{}/releases", w.person), None, json!({"scope": {"section": "concerns"},
            "audience": {"role": "practitioner"}, "reason": "Safeguarding review", "expires_at": "2099-01-01T00:00:00Z"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{release}");
    let (status, trail, _) = get(&w.app, &dc, &format!("/AuditEvent?patient={}", w.person)).await;
    assert_eq!(status, StatusCode::OK, "{trail}");
    assert!(trail.to_string().contains("110127"), "{trail}");
    emitted.push(("audit-events".into(), trail));
    let (status, doc, _) = get(&w.app, &w.nurse, &format!("/CarePlan/{}/$document", w.plan)).await;
    assert_eq!(status, StatusCode::OK, "{doc}");
    emitted.push(("document".into(), doc));

    let dir = tempfile::tempdir().unwrap();
    for (i, (what, body)) in emitted.iter().enumerate() {
        assert!(body.is_object(), "{what}: {body}");
        std::fs::write(
            dir.path().join(format!("{i:03}.json")),
            serde_json::to_string_pretty(body).unwrap(),
        )
        .unwrap();
    }
    let result = run_cmd(
        std::process::Command::new(&python)
            .arg(fhir_tests_dir().join("validate.py"))
            .arg(dir.path()),
    );
    if let Ok(said) = &result {
        assert!(
            said.contains(&format!(
                "{} FHIR R4 resources checked, 0 problem(s)",
                emitted.len()
            )),
            "{said}"
        );
    }
    if let Err(problems) = result {
        let index: Vec<String> = emitted
            .iter()
            .enumerate()
            .map(|(i, (w, _))| format!("{i:03}: {w}"))
            .collect();
        panic!(
            "the endpoint emitted invalid FHIR:\n{problems}\nfiles:\n{}",
            index.join("\n")
        );
    }
}

#[tokio::test]
async fn csp15_updates_of_patient_and_care_plan_and_an_unchanged_resource() {
    let w = world().await;
    let put = |path: String, version: u64, body: Value| {
        let app = &w.app;
        let nurse = w.nurse.clone();
        async move {
            let tag = format!("W/\"{version}\"");
            fhir(
                app,
                Some(&nurse),
                reqwest::Method::PUT,
                &path,
                &[("if-match", tag.as_str())],
                Some(&body.to_string()),
            )
            .await
        }
    };
    // Sent back as it is: nothing changes, no new version.
    let (_, goal, _) = get(&w.app, &w.nurse, "/Goal/goal-1").await;
    let (status, same, headers) = put("/Goal/goal-1".into(), w.version, goal).await;
    assert_eq!(status, StatusCode::OK, "{same}");
    assert_eq!(headers["etag"], format!("W/\"{}\"", w.version).as_str());

    // The CarePlan's status.
    let (_, mut plan, _) = get(&w.app, &w.nurse, &format!("/CarePlan/{}", w.plan)).await;
    assert_eq!(plan["status"], "draft");
    plan["status"] = json!("active");
    let (status, updated, headers) = put(format!("/CarePlan/{}", w.plan), w.version, plan).await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["status"], "active");
    let v = w.version + 1;
    assert_eq!(headers["etag"], format!("W/\"{v}\"").as_str());

    // The Patient's preferred name; the id in the body must match the address.
    let (_, mut patient, _) = get(&w.app, &w.nurse, &format!("/Patient/{}", w.person)).await;
    patient["name"]
        .as_array_mut()
        .unwrap()
        .push(json!({"use": "usual", "given": ["Addie"]}));
    let (status, updated, _) = put(format!("/Patient/{}", w.person), v, patient.clone()).await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert!(updated["name"].to_string().contains("Addie"), "{updated}");
    let (status, _, _) = put("/Patient/someone-else".into(), v + 1, patient).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Elements the plan cannot hold are refused, naming them, not dropped.
    let (_, mut goal, _) = get(&w.app, &w.nurse, "/Goal/goal-1").await;
    goal["startDate"] = json!("2026-01-01");
    let (status, oo, _) = put("/Goal/goal-1".into(), v + 1, goal).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{oo}");
    assert!(issue_text(&oo).contains("Goal.startDate"), "{oo}");
    // A PUT of something that is not there is 404: create with POST.
    let (_, mut goal, _) = get(&w.app, &w.nurse, "/Goal/goal-1").await;
    goal["id"] = json!("goal-new");
    let (status, _, _) = put("/Goal/goal-new".into(), v + 1, goal).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn csp9_an_item_id_held_by_two_plans_is_found_with_its_patient() {
    let w = world().await;
    let (status, created) = w.app
        .post(&w.nurse, "/api/v1/people", None, json!({"person": {"given_name": "Alan", "family_name": "Turing", "date_of_birth": "1912-06-23"}}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let other = created["person_id"].as_str().unwrap().to_owned();
    let (status, body) = w.app
        .post(&w.nurse, &format!("/api/v1/people/{other}/plan/commands"), created["version"].as_u64(), json!({"commands": [
            {"type": "add_need", "id": "need-1", "description": "To run"},
            {"type": "add_goal", "id": "goal-1", "description": "Run a marathon", "addresses": ["need-1"]}
        ]}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, oo, _) = get(&w.app, &w.nurse, "/Goal/goal-1").await;
    assert_eq!(status, StatusCode::CONFLICT, "{oo}");
    assert_eq!(oo["issue"][0]["code"], "multiple-matches");
    let (_, b, _) = get(
        &w.app,
        &w.nurse,
        &format!("/Goal?_id=goal-1&patient={other}"),
    )
    .await;
    let found = entries(&b, "match");
    assert_eq!(found.len(), 1);
    assert_eq!(found[0]["description"]["text"], "Run a marathon");
    let (_, b, _) = get(&w.app, &w.nurse, "/Goal?_id=goal-1").await;
    assert_eq!(b["total"], 2);
}

#[tokio::test]
async fn csp2_attachments_and_links_are_read_as_document_references() {
    let w = world().await;
    // The file is uploaded (the JSON API stores it); the link is a command.
    let r = w
        .app
        .http
        .post(format!(
            "{}/api/v1/people/{}/plan/attachments?id=attachment-1&on=item&item=goal-1&title=Library%20opening%20hours&purpose=guidance",
            w.app.base, w.person
        ))
        .bearer_auth(&w.nurse)
        .header("If-Match", format!("W/\"{}\"", w.version))
        .header("Content-Type", "application/pdf")
        .body(&b"%PDF-1.4\nLibrary opening hours: Monday to Saturday, 9 to 5\n%%EOF\n"[..])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let uploaded: Value = r.json().await.unwrap();
    let (status, body) = w
        .app
        .post(&w.nurse, &format!("/api/v1/people/{}/plan/commands", w.person), uploaded["version"].as_u64(), json!({"commands": [
            {"type": "add_hyperlink", "id": "link-1", "target": {"on": "section", "section": "goals"},
             "title": "Leeds libraries", "url": "https://www.leeds.gov.uk/libraries", "purpose": "learning_material"}
        ]}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let version = body["version"].as_u64().unwrap();

    let (status, doc, headers) = get(&w.app, &w.nurse, "/DocumentReference/attachment-1").await;
    assert_eq!(status, StatusCode::OK, "{doc}");
    assert_eq!(headers["etag"], format!("W/\"{version}\"").as_str());
    assert_eq!(doc["status"], "current");
    assert_eq!(doc["context"]["related"][0]["reference"], "Goal/goal-1");
    assert_eq!(
        doc["content"][0]["attachment"]["url"],
        format!(
            "/api/v1/people/{}/plan/attachments/attachment-1/content",
            w.person
        )
    );
    // The file itself as a Binary: the bytes, or with FHIR JSON a Binary resource.
    let pdf = b"%PDF-1.4\nLibrary opening hours: Monday to Saturday, 9 to 5\n%%EOF\n";
    let r = w
        .app
        .http
        .get(format!("{}/fhir/Binary/attachment-1", w.app.base))
        .bearer_auth(&w.nurse)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "application/pdf");
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    assert_eq!(r.bytes().await.unwrap().as_ref(), &pdf[..]);
    let (status, binary, _) = fhir(
        &w.app,
        Some(&w.nurse),
        reqwest::Method::GET,
        "/Binary/attachment-1",
        &[("accept", "application/fhir+json")],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{binary}");
    assert_eq!(binary["resourceType"], "Binary");
    assert_eq!(binary["contentType"], "application/pdf");
    assert_eq!(
        binary["securityContext"]["reference"],
        "DocumentReference/attachment-1"
    );
    use base64::Engine as _;
    assert_eq!(
        base64::engine::general_purpose::STANDARD
            .decode(binary["data"].as_str().unwrap())
            .unwrap(),
        pdf
    );
    let (status, oo, _) = get(&w.app, &w.nurse, "/Binary/no-such-file").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{oo}");
    let (status, link, _) = get(&w.app, &w.nurse, "/DocumentReference/link-1").await;
    assert_eq!(status, StatusCode::OK, "{link}");
    assert_eq!(
        link["content"][0]["attachment"]["url"],
        "https://www.leeds.gov.uk/libraries"
    );
    let (status, _, _) = get(&w.app, &w.nurse, "/DocumentReference/goal-1").await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (status, bundle, _) = get(
        &w.app,
        &w.nurse,
        &format!("/DocumentReference?patient={}&category=guidance", w.person),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{bundle}");
    assert_eq!(
        ids(&entries(&bundle, "match")),
        vec!["DocumentReference/attachment-1"]
    );
    let (_, care_plan, _) = get(&w.app, &w.nurse, &format!("/CarePlan/{}", w.plan)).await;
    assert!(
        care_plan["supportingInfo"]
            .to_string()
            .contains("DocumentReference/link-1"),
        "{care_plan}"
    );
    let (status, metadata, _) = get(&w.app, &w.nurse, "/metadata").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        metadata["rest"][0]["resource"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["type"] == "DocumentReference"),
        "{metadata}"
    );
    // Not writable on its own (the JSON API stores the file) …
    let (status, oo, _) = fhir(
        &w.app,
        Some(&w.nurse),
        reqwest::Method::POST,
        "/DocumentReference",
        &[],
        Some(&link.to_string()),
    )
    .await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{oo}");
    assert!(issue_text(&oo).contains("JSON API"), "{oo}");
    // … but `$everything` as a transaction into another server carries them.
    let (_, all, _) = get(
        &w.app,
        &w.nurse,
        &format!("/Patient/{}/$everything", w.person),
    )
    .await;
    let entry: Vec<Value> = entries(&all, "match")
        .into_iter()
        .map(|r| {
            let t = r["resourceType"].as_str().unwrap();
            json!({"fullUrl": format!("http://elsewhere.example/fhir/{t}/{}", r["id"].as_str().unwrap()),
                   "resource": r, "request": {"method": "POST", "url": t}})
        })
        .collect();
    let bundle = json!({"resourceType": "Bundle", "type": "transaction", "entry": entry});
    let other = spawn_app().await;
    let nurse = other.account("nurse", Role::Practitioner, None, None).await;
    let (status, reply, _) = fhir(
        &other,
        Some(&nurse),
        reqwest::Method::POST,
        "",
        &[],
        Some(&bundle.to_string()),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    // The person's id in the server a transaction made them in.
    let person_in = |reply: &Value| {
        reply["entry"]
            .as_array()
            .unwrap()
            .iter()
            .find_map(|e| e["response"]["location"].as_str()?.strip_prefix("Patient/"))
            .and_then(|l| l.split('/').next())
            .unwrap()
            .to_owned()
    };
    let copied = person_in(&reply);
    let (status, copy, _) = get(&other, &nurse, "/DocumentReference/attachment-1").await;
    assert_eq!(status, StatusCode::OK, "{copy}");
    assert_eq!(
        copy["content"][0]["attachment"]["extension"],
        doc["content"][0]["attachment"]["extension"]
    );
    assert_eq!(copy["context"], doc["context"]);
    // The record came without its file, so the file cannot be read there …
    let content = |app: &support::App, token: &str, person: &str| {
        app.http
            .get(format!(
                "{}/api/v1/people/{person}/plan/attachments/attachment-1/content",
                app.base
            ))
            .bearer_auth(token.to_owned())
            .send()
    };
    let r = content(&other, &nurse, &copied).await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let said = r.text().await.unwrap();
    assert!(said.contains("keeps its records, not its files"), "{said}");
    // … unless the transaction carries it inline: then the file is kept with the plan.
    let file = b"%PDF-1.4\nLibrary opening hours: Monday to Saturday, 9 to 5\n%%EOF\n";
    let with_file = |data: &str| {
        let mut b = bundle.clone();
        for e in b["entry"].as_array_mut().unwrap() {
            if e["resource"]["id"] == "attachment-1" {
                e["resource"]["content"][0]["attachment"]["data"] = json!(data);
            }
        }
        b.to_string()
    };
    let third = spawn_app().await;
    let nurse = third.account("nurse", Role::Practitioner, None, None).await;
    // Bytes that are not the record's are refused, and nothing is kept.
    let (status, oo, _) = fhir(
        &third,
        Some(&nurse),
        reqwest::Method::POST,
        "",
        &[],
        Some(&with_file("JVBERi0xLjQK")),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{oo}");
    assert!(issue_text(&oo).contains("size says"), "{oo}");
    let (status, found, _) = get(&third, &nurse, "/Patient").await;
    assert_eq!(status, StatusCode::OK, "{found}");
    assert_eq!(found["total"], 0, "nothing was imported: {found}");
    let data = base64::engine::general_purpose::STANDARD.encode(file);
    let (status, reply, _) = fhir(
        &third,
        Some(&nurse),
        reqwest::Method::POST,
        "",
        &[],
        Some(&with_file(&data)),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    let (_, found, _) = get(&third, &nurse, "/Patient").await;
    assert_eq!(found["total"], 1, "{found}");
    let r = content(&third, &nurse, &person_in(&reply)).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.bytes().await.unwrap().as_ref(), &file[..]);

    // A Bundle with a larger file is over the 1 MiB limit of other bodies, and still accepted.
    use sha2::Digest as _;
    let big: Vec<u8> = b"Library opening hours, week by week.\n"
        .iter()
        .copied()
        .cycle()
        .take(1536 * 1024)
        .collect();
    let sha: String = sha2::Sha256::digest(&big)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let mut large = bundle.clone();
    for e in large["entry"].as_array_mut().unwrap() {
        if e["resource"]["id"] == "attachment-1" {
            let a = &mut e["resource"]["content"][0]["attachment"];
            a["contentType"] = json!("text/plain");
            a["size"] = json!(big.len());
            a["extension"][0]["valueString"] = json!(sha);
            a["data"] = json!(base64::engine::general_purpose::STANDARD.encode(&big));
        }
    }
    let large = large.to_string();
    assert!(large.len() > 2 * 1024 * 1024);
    let fourth = spawn_app().await;
    let nurse = fourth
        .account("nurse", Role::Practitioner, None, None)
        .await;
    let (status, reply, _) = fhir(
        &fourth,
        Some(&nurse),
        reqwest::Method::POST,
        "",
        &[],
        Some(&large),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    let r = content(&fourth, &nurse, &person_in(&reply)).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.bytes().await.unwrap().as_ref(), &big[..]);
}

/// CSP-1: FHIR reads may take a bearer token's account from memory, yet a token revoked by
/// another process (here a second store on the same file) stops them at once: 401 on reads and
/// searches alike, never a 404 or an empty Bundle that would tell whether a patient exists.
/// Each path is tried with a token of its own, read with first (so it is in memory) and then
/// revoked elsewhere.
#[tokio::test]
async fn csp1_a_token_revoked_elsewhere_stops_fhir_reads_at_once() {
    let w = world().await;
    let elsewhere = careplan_store::Store::open_data_dir(w.app.data_dir().unwrap())
        .await
        .unwrap();
    for path in [
        format!("/Patient/{}", w.person),
        format!("/CarePlan/{}", w.plan),
        "/Patient/no-such-person".to_owned(),
        "/Goal/goal-1".to_owned(),
        "/Goal/goal-none".to_owned(),
        format!("/Goal?patient={}", w.person),
        "/Goal?patient=no-such-person".to_owned(),
        "/Patient?identifier=https://fhir.nhs.uk/Id/nhs-number|9434765919".to_owned(),
        "/Patient?identifier=https://fhir.nhs.uk/Id/nhs-number|9999999999".to_owned(),
        "/Patient?_id=no-such-person".to_owned(),
        format!("/CareTeam/{}-care-team", w.plan),
        "/CareTeam/no-such-plan-care-team".to_owned(),
    ] {
        let (token, _) = w.app.store.create_token("nurse", "fhir").await.unwrap();
        // Twice: the first use is written down in the database, which empties the memory.
        for _ in 0..2 {
            let (status, _, _) = get(&w.app, &token, &format!("/Patient/{}", w.person)).await;
            assert_eq!(status, StatusCode::OK);
        }
        assert!(elsewhere.revoke_token(&token).await.unwrap());
        let (status, outcome, _) = get(&w.app, &token, &path).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}: {outcome}");
    }
    elsewhere.close().await;
}
