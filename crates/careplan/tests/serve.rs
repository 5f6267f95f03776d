//! `careplan serve` as an operator runs it: it listens where told, stops cleanly on SIGTERM, and
//! every write it acknowledged is there afterwards — after SIGTERM and after SIGKILL alike.

mod support {
    pub mod binary;
}

use std::process::{Child, Command};

use serde_json::{Value, json};
use support::binary::{Server, run, start};

/// A demo plan with a practitioner on its care team, and their token.
fn setup(data: &std::path::Path) -> String {
    run(data, &["demo"], "");
    run(
        data,
        &["user", "add", "priya", "--role", "practitioner"],
        "priya-long-password\n",
    );
    run(
        data,
        &["plan", "apply", "9997654323", "-"],
        r#"{"type": "add_care_team_member", "name": "Priya", "role": "Nurse", "account": "priya"}"#,
    );
    run(data, &["token", "create", "priya"], "")
        .trim()
        .to_owned()
}

async fn write_until(server: &Server, token: &str, count: usize) -> Vec<u64> {
    let http = reqwest::Client::new();
    let plan = format!("{}/api/v1/people/9997654323/plan", server.base);
    let r = http.get(&plan).bearer_auth(token).send().await.unwrap();
    let mut version: u64 = r.json::<Value>().await.unwrap()["version"]
        .as_u64()
        .unwrap();
    let mut acked = Vec::new();
    for i in 0..count {
        let r = http
            .post(format!("{plan}/commands"))
            .bearer_auth(token)
            .header("If-Match", format!("W/\"{version}\""))
            .json(&json!({"type": "add_comment", "target": {"on": "plan"}, "text": format!("note {i}")}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        version = r.json::<Value>().await.unwrap()["version"]
            .as_u64()
            .unwrap();
        acked.push(version);
    }
    acked
}

fn signal(child: &Child, name: &str) {
    let status = Command::new("kill")
        .args([&format!("-{name}"), &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

fn versions_on_disk(data: &std::path::Path) -> u64 {
    let json: Value =
        serde_json::from_str(&run(data, &["plan", "show", "9997654323", "--json"], "")).unwrap();
    json["version"].as_u64().unwrap()
}

#[tokio::test]
async fn serve_stops_cleanly_on_sigterm_keeping_every_acknowledged_write() {
    let dir = tempfile::tempdir().unwrap();
    let token = setup(dir.path());
    let mut server = start(dir.path());
    let health = reqwest::get(format!("{}/health", server.base))
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    let acked = write_until(&server, &token, 20).await;
    signal(&server.child, "TERM");
    let status = server.child.wait().unwrap();
    assert!(status.success(), "a clean exit after SIGTERM, not {status}");
    assert!(versions_on_disk(dir.path()) >= *acked.last().unwrap());
}

#[tokio::test]
async fn acknowledged_writes_survive_sigkill_of_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let token = setup(dir.path());
    let mut server = start(dir.path());
    let acked = write_until(&server, &token, 50).await;
    signal(&server.child, "KILL");
    server.child.wait().unwrap();
    let on_disk = versions_on_disk(dir.path());
    assert!(
        on_disk >= *acked.last().unwrap(),
        "acknowledged {} but found {on_disk}",
        acked.last().unwrap()
    );
    // The audit trail is intact after the kill too.
    assert!(run(dir.path(), &["audit", "verify"], "").starts_with("Audit trail intact"));
}

#[tokio::test]
async fn serve_demo_loads_the_plan_and_sign_ins_and_refuses_to_listen_beyond_loopback() {
    let dir = tempfile::tempdir().unwrap();
    // Beyond loopback the published password would be an open door: refused, nothing made.
    let out = support::binary::careplan(dir.path())
        .args(["serve", "--demo", "--listen", "0.0.0.0:0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("only on this machine"), "{said}");

    let mut server = support::binary::start_with(dir.path(), &["--demo"]);
    let http = reqwest::Client::new();
    let r = http
        .post(format!("{}/api/v1/session", server.base))
        .json(&json!({"username": "priya", "password": "care-plan-demo"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let cookie = r.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let people: Value = http
        .get(format!("{}/api/v1/people", server.base))
        .header("Cookie", cookie)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        people["items"][0]["nhs_number"], "9997654323",
        "the demo nurse is on Edith's care team: {people}"
    );
    signal(&server.child, "TERM");
    server.child.wait().unwrap();
    // A second start finds everything there and changes nothing.
    let before = versions_on_disk(dir.path());
    let mut again = support::binary::start_with(dir.path(), &["--demo"]);
    signal(&again.child, "TERM");
    again.child.wait().unwrap();
    assert_eq!(versions_on_disk(dir.path()), before);
}
