//! The OpenAPI document at `/api/v1/openapi.json`: OpenAPI 3.1, and every route the router
//! serves is in it with its methods (the list of routes comes from the router, not from here).

mod support;

use std::collections::BTreeSet;

use reqwest::{Method, StatusCode};
use serde_json::Value;
use support::spawn_app;

const PROBED: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];

async fn fetch_document(app: &support::App) -> Value {
    let r = app
        .http
        .get(format!("{}/api/v1/openapi.json", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "no sign-in is needed");
    assert_eq!(
        r.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/json")
    );
    r.json().await.unwrap()
}

/// Every (method, path) the document describes.
fn documented(doc: &Value) -> BTreeSet<(String, String)> {
    let paths = doc["paths"].as_object().expect("paths");
    let mut out = BTreeSet::new();
    for (path, item) in paths {
        for (method, op) in item.as_object().expect("path item") {
            if op.get("responses").is_some() {
                out.insert((method.to_ascii_uppercase(), path.clone()));
            }
        }
    }
    out
}

#[tokio::test]
async fn the_document_is_openapi_3_1_and_names_every_route_served() {
    let app = spawn_app().await;
    let doc = fetch_document(&app).await;
    let version = doc["openapi"].as_str().unwrap_or_default();
    assert!(version.starts_with("3.1."), "openapi is {version}");
    assert_eq!(doc["info"]["title"], "careplan");

    let served: BTreeSet<(String, String)> = careplan_server::routes().into_iter().collect();
    for expected in [
        ("GET", "/health"),
        ("GET", "/ready"),
        ("GET", "/metrics"),
        ("GET", "/api/v1/openapi.json"),
        ("POST", "/api/v1/session"),
        ("DELETE", "/api/v1/session"),
        ("POST", "/api/v1/people/{person}/plan/commands"),
        ("GET", "/api/v1/audit"),
    ] {
        assert!(
            served.contains(&(expected.0.to_owned(), expected.1.to_owned())),
            "the router serves {expected:?}"
        );
    }
    let in_doc = documented(&doc);
    let missing: Vec<_> = served.difference(&in_doc).collect();
    assert!(
        missing.is_empty(),
        "routes served but missing from the OpenAPI document: {missing:?}"
    );
    let extra: Vec<_> = in_doc.difference(&served).collect();
    assert!(
        extra.is_empty(),
        "routes in the OpenAPI document but not served: {extra:?}"
    );
    let generated: Value =
        serde_json::from_str(&careplan_server::openapi::document().to_json().unwrap()).unwrap();
    assert_eq!(doc, generated, "the served document is the generated one");
}

/// Asks the running server about every documented path with every common method: the methods
/// the document names are routed (not 404 or 405), and every other method is 405, so a method
/// served on a documented path but missing from the document fails here. Nothing is signed in,
/// so nothing changes.
#[tokio::test]
async fn the_server_routes_exactly_the_documented_methods() {
    let app = spawn_app().await;
    let doc = fetch_document(&app).await;
    let in_doc = documented(&doc);
    let paths: BTreeSet<&String> = in_doc.iter().map(|(_, p)| p).collect();
    for path in paths {
        let concrete: String = path
            .split('/')
            .map(|part| if part.starts_with('{') { "1" } else { part })
            .collect::<Vec<_>>()
            .join("/");
        for method in PROBED {
            let status = app
                .http
                .request(
                    Method::from_bytes(method.as_bytes()).unwrap(),
                    format!("{}{concrete}", app.base),
                )
                .send()
                .await
                .unwrap()
                .status();
            if in_doc.contains(&(method.to_owned(), path.clone())) {
                assert!(
                    status != StatusCode::NOT_FOUND && status != StatusCode::METHOD_NOT_ALLOWED,
                    "{method} {path} is documented but the server answers {status}"
                );
            } else {
                assert_eq!(
                    status,
                    StatusCode::METHOD_NOT_ALLOWED,
                    "{method} {path} is served but not in the OpenAPI document"
                );
            }
        }
    }
}

#[tokio::test]
async fn the_document_describes_sign_in_and_problems() {
    let app = spawn_app().await;
    let doc = fetch_document(&app).await;
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["bearer"]["type"], "http");
    assert_eq!(schemes["bearer"]["scheme"], "bearer");
    assert_eq!(schemes["session"]["type"], "apiKey");
    assert_eq!(schemes["session"]["in"], "cookie");
    assert_eq!(schemes["session"]["name"], "careplan_session");
    assert!(doc["components"]["schemas"]["Problem"].is_object());

    let commands = &doc["paths"]["/api/v1/people/{person}/plan/commands"]["post"];
    for status in ["400", "401", "403", "404", "412", "415", "422", "428"] {
        assert!(
            commands["responses"][status]["content"]["application/problem+json"].is_object(),
            "commands document {status} as problem+json"
        );
    }
    assert!(commands["security"].is_array(), "commands need sign-in");
    assert!(
        doc["paths"]["/api/v1/session"]["post"]["security"].is_null(),
        "signing in needs no sign-in"
    );
}
