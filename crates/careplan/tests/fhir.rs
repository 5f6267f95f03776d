//! `careplan export --fhir` and `careplan import --fhir`: the demo plan exported, imported into
//! an empty data directory, and exported again is the same plan (CSP-9: links, priorities,
//! confidence, archive state and agreements survive).

use std::path::Path;
use std::process::{Command, Output, Stdio};

use serde_json::{Value, json};

const DEMO: &str = "9997654323";

fn run(data: &Path, args: &[&str], stdin: Option<&[u8]>) -> Output {
    run_on(data, None, args, stdin)
}

/// Runs the binary on the data directory, or on `database` when given.
fn run_on(data: &Path, database: Option<&str>, args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_careplan"));
    cmd.args(args).env("CAREPLAN_DATA_DIR", data);
    match database {
        Some(url) => cmd.env("CAREPLAN_DATABASE_URL", url),
        None => cmd.env_remove("CAREPLAN_DATABASE_URL"),
    };
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    if let Some(input) = stdin {
        use std::io::Write;
        child.stdin.take().unwrap().write_all(input).unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "careplan {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The Bundle without what a new store necessarily changes: versions and times, Provenance,
/// who wrote comments when, the plan's and person's ids (a new store gives new ones), the
/// version an agreement names, and the ids of access preferences.
fn normalise(bundle: &Value) -> (Vec<Value>, Vec<String>) {
    let plan = bundle["entry"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["resource"]["resourceType"] == "CarePlan")
        .map(|e| e["resource"]["id"].as_str().unwrap().to_owned())
        .unwrap();
    let person = bundle["entry"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["resource"]["resourceType"] == "Patient")
        .map(|e| e["resource"]["id"].as_str().unwrap().to_owned())
        .unwrap();
    let text = serde_json::to_string(bundle)
        .unwrap()
        .replace(&plan, "(plan)")
        .replace(&person, "(person)");
    let bundle: Value = serde_json::from_str(&text).unwrap();
    fn strip(v: &mut Value) {
        match v {
            Value::Object(o) => {
                o.remove("meta");
                o.remove("time");
                o.remove("authorString");
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
                o.values_mut().for_each(strip);
            }
            Value::Array(a) => a.iter_mut().for_each(strip),
            _ => {}
        }
    }
    let mut kept = Vec::new();
    let mut preferences = Vec::new();
    for e in bundle["entry"].as_array().unwrap() {
        let mut r = e["resource"].clone();
        if r["resourceType"] == "Provenance" {
            continue;
        }
        strip(&mut r);
        if r["resourceType"] == "DocumentReference" {
            // When and by whom an attachment or link was added are the import's own (stated in
            // the import's notes), as for comments.
            let o = r.as_object_mut().unwrap();
            o.insert("date".into(), Value::from("(the import's time)"));
            o.insert("author".into(), Value::from("(the importer)"));
        }
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
fn csp9_export_import_export_gives_the_same_plan() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    run(&a, &["demo"], None);
    let first = run(&a, &["export", "--fhir", DEMO], None).stdout;
    let first: Value = serde_json::from_slice(&first).unwrap();
    assert_eq!(first["resourceType"], "Bundle");
    assert!(first["entry"].as_array().unwrap().len() > 10);

    // Import from standard input into an empty data directory.
    let text = serde_json::to_vec(&first).unwrap();
    let imported = run(&b, &["import", "--fhir", "-"], Some(&text));
    let said = String::from_utf8_lossy(&imported.stdout);
    assert!(said.starts_with("Imported the plan of"), "{said}");
    let second = run(&b, &["export", "--fhir", DEMO], None).stdout;
    let second: Value = serde_json::from_slice(&second).unwrap();

    let (x, x_prefs) = normalise(&first);
    let (y, y_prefs) = normalise(&second);
    assert_eq!(x.len(), y.len(), "the same number of resources");
    for (p, q) in x.iter().zip(&y) {
        assert_eq!(
            p, q,
            "{}/{} differs after the round trip",
            p["resourceType"], p["id"]
        );
    }
    assert_eq!(x_prefs, y_prefs, "access preferences");

    // The import is audited as the system's write.
    let audit = run(&b, &["audit", "list", "--json"], None).stdout;
    assert!(String::from_utf8_lossy(&audit).contains("system:cli"));
}

#[test]
fn csp9_import_of_a_bad_bundle_changes_nothing_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let file = dir.path().join("bad.json");
    std::fs::write(
        &file,
        r#"{"resourceType": "Bundle", "type": "collection", "entry": [{"resource": {"resourceType": "Goal", "id": "g1"}}]}"#,
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_careplan"))
        .args(["import", "--fhir", file.to_str().unwrap()])
        .env("CAREPLAN_DATA_DIR", &data)
        .env_remove("CAREPLAN_DATABASE_URL")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("Patient"), "{err}");
    let people = run(&data, &["person", "list", "--json"], None).stdout;
    assert_eq!(serde_json::from_slice::<Value>(&people).unwrap(), json!([]));
}

/// Runs the binary on the data directory, expecting it to fail; returns its standard error.
fn fails(data: &Path, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_careplan"))
        .args(args)
        .env("CAREPLAN_DATA_DIR", data)
        .env_remove("CAREPLAN_DATABASE_URL")
        .env_remove("CAREPLAN_BLOB_URL")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "careplan {args:?} should fail");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The files kept in a data directory's default file store, by digest.
fn stored(data: &Path) -> Vec<String> {
    let dir = data.join("blobs").join("objects").join("sha256");
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// The demo plan's Bundle with one more attachment, a small text file, given as its record
/// and, when `data` is true, its bytes inline; with the digest of the bytes and the bytes.
fn demo_with_a_file(a: &Path, data: bool) -> (Value, String, Vec<u8>) {
    use base64::Engine as _;
    use sha2::Digest as _;
    let mut bundle: Value =
        serde_json::from_slice(&run(a, &["export", "--fhir", DEMO], None).stdout).unwrap();
    let id_of = |kind: &str| {
        bundle["entry"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["resource"]["resourceType"] == kind)
            .map(|e| e["resource"]["id"].as_str().unwrap().to_owned())
            .unwrap()
    };
    let (person, plan) = (id_of("Patient"), id_of("CarePlan"));
    let bytes = b"Morning routine: tea first, then the walk to the corner shop.\n".to_vec();
    let sha: String = sha2::Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let mut attachment = json!({
        "extension": [{"url": "https://careplan.example/fhir/StructureDefinition/attachment-sha256", "valueString": sha}],
        "contentType": "text/plain",
        "url": format!("/api/v1/people/{person}/plan/attachments/attachment-routine/content"),
        "size": bytes.len(),
        "title": "Morning routine",
    });
    if data {
        attachment["data"] = json!(base64::engine::general_purpose::STANDARD.encode(&bytes));
    }
    bundle["entry"].as_array_mut().unwrap().push(json!({
        "fullUrl": "http://127.0.0.1:8080/fhir/DocumentReference/attachment-routine",
        "resource": {
            "resourceType": "DocumentReference",
            "id": "attachment-routine",
            "status": "current",
            "category": [{"coding": [{"system": "https://careplan.example/fhir/CodeSystem/attachment-purpose", "code": "guidance"}]}],
            "subject": {"reference": format!("Patient/{person}")},
            "content": [{"attachment": attachment}],
            "context": {"related": [{"reference": format!("CarePlan/{plan}")}]},
        }
    }));
    (bundle, sha, bytes)
}

/// The inline `data` of the attachment with this id in a Bundle, decoded.
fn inline_data(bundle: &Value, id: &str) -> Option<Vec<u8>> {
    use base64::Engine as _;
    bundle["entry"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["resource"]["id"] == id)
        .and_then(|e| e["resource"]["content"][0]["attachment"]["data"].as_str())
        .map(|d| base64::engine::general_purpose::STANDARD.decode(d).unwrap())
}

#[test]
fn csp2_csp9_files_travel_inline_with_export_with_files_and_import() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, c) = (
        dir.path().join("a"),
        dir.path().join("b"),
        dir.path().join("c"),
    );
    run(&a, &["demo"], None);
    let (bundle, sha, bytes) = demo_with_a_file(&a, true);

    // The import keeps the file under its digest, with the plan.
    let text = serde_json::to_vec(&bundle).unwrap();
    let said = run(&b, &["import", "--fhir", "-"], Some(&text)).stdout;
    let said = String::from_utf8_lossy(&said);
    assert!(said.contains("with 1 attached file"), "{said}");
    assert_eq!(stored(&b), vec![sha.clone()]);
    let kept = std::fs::read(b.join("blobs/objects/sha256").join(&sha)).unwrap();
    assert_eq!(kept, bytes);

    // Exported without --with-files: the record only. With it: the bytes, as imported.
    let plain: Value =
        serde_json::from_slice(&run(&b, &["export", "--fhir", DEMO], None).stdout).unwrap();
    assert_eq!(inline_data(&plain, "attachment-routine"), None);
    let full: Value =
        serde_json::from_slice(&run(&b, &["export", "--fhir", "--with-files", DEMO], None).stdout)
            .unwrap();
    assert_eq!(
        inline_data(&full, "attachment-routine"),
        Some(bytes.clone())
    );

    // And that export imports again, file and all.
    let file = dir.path().join("full.json");
    std::fs::write(&file, serde_json::to_vec(&full).unwrap()).unwrap();
    run(&c, &["import", "--fhir", file.to_str().unwrap()], None);
    assert_eq!(stored(&c), vec![sha]);
    let again: Value =
        serde_json::from_slice(&run(&c, &["export", "--fhir", "--with-files", DEMO], None).stdout)
            .unwrap();
    assert_eq!(inline_data(&again, "attachment-routine"), Some(bytes));
}

#[test]
fn csp2_an_import_refused_when_it_commits_removes_the_files_it_kept() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a");
    run(&a, &["demo"], None);
    // The file passes every check and is kept; then the plan cannot be committed, because the
    // person (the same NHS number) is already there. The file must go again.
    let (bundle, _, _) = demo_with_a_file(&a, true);
    let file = dir.path().join("again.json");
    std::fs::write(&file, serde_json::to_vec(&bundle).unwrap()).unwrap();
    let err = fails(&a, &["import", "--fhir", file.to_str().unwrap()]);
    assert!(err.contains("nothing was changed"), "{err}");
    assert!(
        stored(&a).is_empty(),
        "the file was removed: {:?}",
        stored(&a)
    );
    let people = run(&a, &["person", "list", "--json"], None).stdout;
    assert_eq!(
        serde_json::from_slice::<Value>(&people)
            .unwrap()
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn csp2_a_file_that_is_not_what_its_record_says_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    run(&a, &["demo"], None);
    // The record says a PNG picture; the bytes (matching its digest and size) are text.
    let (mut bundle, _, _) = demo_with_a_file(&a, true);
    let last = bundle["entry"].as_array().unwrap().len() - 1;
    bundle["entry"][last]["resource"]["content"][0]["attachment"]["contentType"] =
        json!("image/png");
    let file = dir.path().join("png.json");
    std::fs::write(&file, serde_json::to_vec(&bundle).unwrap()).unwrap();
    let err = fails(&b, &["import", "--fhir", file.to_str().unwrap()]);
    assert!(
        err.contains("nothing was changed") && err.contains("“Morning routine”"),
        "{err}"
    );
    assert!(stored(&b).is_empty(), "no file is kept: {:?}", stored(&b));
    let people = run(&b, &["person", "list", "--json"], None).stdout;
    assert_eq!(serde_json::from_slice::<Value>(&people).unwrap(), json!([]));

    // Without its bytes, the record is imported and the missing file is said.
    let (bundle, _, _) = demo_with_a_file(&a, false);
    let out = run(
        &b,
        &["import", "--fhir", "-"],
        Some(&serde_json::to_vec(&bundle).unwrap()),
    );
    let note = String::from_utf8_lossy(&out.stderr);
    assert!(
        note.contains("1 attachment(s) came without their file")
            && note.contains("“Morning routine”"),
        "{note}"
    );
    assert!(stored(&b).is_empty());
    // Its export --with-files says the file is not there, and exports the record.
    let out = run(&b, &["export", "--fhir", "--with-files", DEMO], None);
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains("the file of “Morning routine” is not in this file store"),
        "{said}"
    );
    let exported: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(inline_data(&exported, "attachment-routine"), None);
}

/// The same round trip into a fresh PostgreSQL database (`CAREPLAN_TEST_POSTGRES_URL`, default
/// the local server's `test` database): skipped loudly without a server, failed in CI.
#[tokio::test]
async fn csp9_export_import_export_on_postgresql_gives_the_same_plan() {
    use sqlx::Connection;
    let admin = std::env::var("CAREPLAN_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    sqlx::any::install_default_drivers();
    let mut conn = match sqlx::AnyConnection::connect(&admin).await {
        Ok(c) => c,
        Err(e) => {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("PostgreSQL tests must run in CI, but {admin} cannot be reached: {e}");
            }
            eprintln!("\n!!! SKIPPING PostgreSQL test: cannot reach {admin}: {e}\n");
            return;
        }
    };
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let name = format!("careplan_fhir_test_{}_{nanos}", std::process::id());
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await
        .unwrap();
    let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
    let url = format!("{base}/{name}");

    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a");
    run(&a, &["demo"], None);
    let first: Value =
        serde_json::from_slice(&run(&a, &["export", "--fhir", DEMO], None).stdout).unwrap();
    let file = dir.path().join("plan.json");
    std::fs::write(&file, serde_json::to_vec(&first).unwrap()).unwrap();
    let unused = dir.path().join("unused");
    run_on(
        &unused,
        Some(&url),
        &["import", "--fhir", file.to_str().unwrap()],
        None,
    );
    let second: Value = serde_json::from_slice(
        &run_on(&unused, Some(&url), &["export", "--fhir", DEMO], None).stdout,
    )
    .unwrap();
    let drop = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
    let _ = sqlx::query(sqlx::AssertSqlSafe(drop))
        .execute(&mut conn)
        .await;

    let (x, x_prefs) = normalise(&first);
    let (y, y_prefs) = normalise(&second);
    assert_eq!(x.len(), y.len(), "the same number of resources");
    for (p, q) in x.iter().zip(&y) {
        assert_eq!(
            p, q,
            "{}/{} differs after the round trip",
            p["resourceType"], p["id"]
        );
    }
    assert_eq!(x_prefs, y_prefs, "access preferences");
}
