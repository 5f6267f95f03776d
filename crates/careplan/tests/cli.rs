//! The `careplan` command as a person uses it: the demo, reading plans, applying commands, and
//! the errors people see (one sentence, non-zero exit, nothing changed).

use std::path::Path;
use std::process::{Command, Output};

struct Cli {
    dir: tempfile::TempDir,
}

impl Cli {
    fn new() -> Cli {
        Cli {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_careplan"))
            .args(args)
            .env("CAREPLAN_DATA_DIR", self.dir.path().join("data"))
            .env_remove("CAREPLAN_DATABASE_URL")
            .output()
            .unwrap()
    }

    /// Runs and expects success; returns stdout.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "careplan {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Runs and expects failure with `code`; returns stderr.
    fn fails(&self, args: &[&str], code: i32) -> String {
        let out = self.run(args);
        assert_eq!(
            out.status.code(),
            Some(code),
            "careplan {args:?}: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8(out.stderr).unwrap()
    }

    fn file(&self, name: &str, text: &str) -> String {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.to_string_lossy().into_owned()
    }
}

const DEMO: &str = "9997654323";

fn latest_version(cli: &Cli) -> u64 {
    let json: serde_json::Value =
        serde_json::from_str(&cli.ok(&["plan", "show", DEMO, "--json"])).unwrap();
    json["version"].as_u64().unwrap()
}

#[test]
fn csp15_demo_then_show_history_and_diff_read_well() {
    let cli = Cli::new();
    let loaded = cli.ok(&["demo"]);
    assert!(loaded.contains("Loaded the demo plan"), "{loaded}");
    // Running it again changes nothing and says so.
    assert!(cli.ok(&["demo"]).contains("already loaded"));

    let people = cli.ok(&["person", "list"]);
    assert!(
        people.contains("Marlowe, Edith") && people.contains("999 765 4323"),
        "{people}"
    );

    let show = cli.ok(&["plan", "show", DEMO]);
    for expected in [
        "Care and support plan — Edie Marlowe",
        "Strengths",
        "Needs",
        "Concerns",
        "Problems",
        "SNOMED CT 13645005",
        "Goals and hopes, in the person's order",
        "1. Get back to my allotment twice a week by the spring (hope, priority 9/10",
        "Addresses problem “Osteoarthritis of the right knee” [problem-knee]",
        "confidence 6/10",
        "Care funding source: personal budget",
        "Agreement: agreed by Susan Marlowe",
        "for an earlier version",
    ] {
        assert!(show.contains(expected), "missing {expected:?} in:\n{show}");
    }
    // The archived goal is out of the current view…
    assert!(!show.contains("Walk to the corner shop"), "{show}");
    // …listed on request, and present in an earlier version.
    assert!(
        cli.ok(&["plan", "show", DEMO, "--archived"])
            .contains("Walk to the corner shop")
    );
    let old = cli.ok(&["plan", "show", DEMO, "--version", "20"]);
    assert!(
        old.contains("Walk to the corner shop") && old.contains("this is not the current plan"),
        "{old}"
    );

    let latest = latest_version(&cli);
    assert!(
        latest >= 20,
        "the demo has at least 20 versions, not {latest}"
    );
    let history = cli.ok(&["plan", "history", DEMO]);
    assert_eq!(
        history
            .lines()
            .filter(|l| l.trim_start().starts_with(char::is_numeric))
            .count() as u64,
        latest,
        "{history}"
    );
    assert!(
        history.contains("Archived goal goal-shop, moving 1 action(s) to other goals"),
        "{history}"
    );
    assert!(history.contains("Completed action"), "{history}");

    let diff = cli.ok(&["plan", "diff", DEMO, "20", &latest.to_string()]);
    assert!(
        diff.contains("− archived goal “Walk to the corner shop on my own”"),
        "{diff}"
    );
    assert!(diff.contains("importance: 7/10 → 9/10"), "{diff}");
    assert!(diff.contains("+ added agreement"), "{diff}");

    let json: serde_json::Value =
        serde_json::from_str(&cli.ok(&["plan", "diff", DEMO, "1", "2", "--json"])).unwrap();
    assert_eq!(json["from"], 1);
    assert_eq!(json["changes"][0]["change"], "added");
}

#[test]
fn plan_apply_commits_one_version_per_command_all_or_nothing() {
    let cli = Cli::new();
    cli.ok(&["demo"]);
    let before = latest_version(&cli);

    let good = cli.file(
        "good.json",
        r#"{"reason": "Review visit", "commands": [
            {"type": "add_strength", "id": "strength-baking", "description": "Bakes for the church coffee morning"},
            {"type": "edit_goal", "id": "goal-dressing", "strengths": ["strength-baking"]}
        ]}"#,
    );
    let out = cli.ok(&["plan", "apply", DEMO, &good]);
    assert!(
        out.contains(&format!("versions {} to {}", before + 1, before + 2)),
        "{out}"
    );
    assert_eq!(latest_version(&cli), before + 2);
    let history = cli.ok(&["plan", "history", DEMO]);
    assert!(history.contains("because: Review visit"), "{history}");

    // A refused command in a batch leaves the plan as it was.
    let bad = cli.file(
        "bad.json",
        r#"[{"type": "add_strength", "description": "Good at crosswords"},
            {"type": "add_goal", "description": "Goal without a need", "addresses": []}]"#,
    );
    let err = cli.fails(&["plan", "apply", DEMO, &bad], 1);
    assert!(
        err.contains("nothing was changed") && err.contains("at least one need"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    assert_eq!(latest_version(&cli), before + 2);

    // A stale base version is a conflict.
    let one = cli.file(
        "one.json",
        r#"{"type": "add_strength", "description": "Tells good stories"}"#,
    );
    let err = cli.fails(&["plan", "apply", DEMO, &one, "--base-version", "3"], 1);
    assert!(err.contains("has changed since version 3"), "{err}");
    assert_eq!(latest_version(&cli), before + 2);
}

#[test]
fn bad_input_gets_one_clear_sentence_and_changes_nothing() {
    let cli = Cli::new();
    cli.ok(&["demo"]);
    let before = latest_version(&cli);
    let cases: Vec<(String, &str)> = vec![
        (cli.file("broken.json", "{ not json"), "is not valid JSON"),
        (
            cli.file(
                "range.json",
                r#"{"type": "edit_goal", "id": "goal-singing", "priority": 11}"#,
            ),
            "from 1 to 10",
        ),
        (
            cli.file(
                "unknown.json",
                r#"{"type": "add_need", "description": "x", "colour": "red"}"#,
            ),
            "colour",
        ),
        (
            cli.file(
                "missing.json",
                r#"{"type": "complete_action", "id": "action-nope"}"#,
            ),
            "no action with id action-nope",
        ),
    ];
    for (file, expected) in &cases {
        let err = cli.fails(&["plan", "apply", DEMO, file], 1);
        assert!(
            err.starts_with("careplan: ") && err.contains(expected),
            "{file}: {err}"
        );
        assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    }
    assert_eq!(latest_version(&cli), before);

    let err = cli.fails(&["plan", "show", "nobody"], 1);
    assert!(err.contains("No plan was found for “nobody”"), "{err}");
    let err = cli.fails(&["plan", "show", DEMO, "--version", "9999"], 1);
    assert!(err.contains("has no version 9999"), "{err}");
    let err = cli.fails(
        &[
            "person",
            "add",
            "--given-name",
            "A",
            "--family-name",
            "B",
            "--date-of-birth",
            "1950-01-01",
            "--nhs-number",
            "9434765918",
        ],
        1,
    );
    assert!(err.contains("check digit is wrong"), "{err}");
    // Usage mistakes are clap's exit code 2.
    cli.fails(&["plan", "show"], 2);
}

#[test]
fn person_add_starts_a_plan_found_by_nhs_number() {
    let cli = Cli::new();
    let out = cli.ok(&[
        "person",
        "add",
        "--given-name",
        "Sam",
        "--family-name",
        "Jones",
        "--date-of-birth",
        "1980-07-01",
        "--nhs-number",
        "943 476 5919",
    ]);
    assert!(out.starts_with("Started a plan for Sam Jones"), "{out}");
    let show = cli.ok(&["plan", "show", "9434765919"]);
    assert!(
        show.contains("Version 1 (current)") && show.contains("Status: draft"),
        "{show}"
    );
    let err = cli.fails(
        &[
            "person",
            "add",
            "--given-name",
            "Sam",
            "--family-name",
            "Jones",
            "--date-of-birth",
            "1980-07-01",
            "--nhs-number",
            "9434765919",
        ],
        1,
    );
    assert!(err.contains("already has a plan"), "{err}");
    assert!(Path::new(&cli.dir.path().join("data").join("careplan.sqlite3")).exists());
}

#[test]
fn csp1_audit_verify_names_an_altered_row() {
    let cli = Cli::new();
    cli.ok(&["demo"]);
    cli.ok(&["plan", "show", DEMO]);
    let intact = cli.ok(&["audit", "verify"]);
    assert!(intact.starts_with("Audit trail intact:"), "{intact}");
    // Every version the demo wrote, and the read above, are in the trail.
    let list = cli.ok(&[
        "audit", "list", "--person", DEMO, "--limit", "1000", "--json",
    ]);
    let entries: serde_json::Value = serde_json::from_str(&list).unwrap();
    let actions: Vec<&str> = entries
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert!(
        actions.contains(&"create_plan")
            && actions.contains(&"write")
            && actions.contains(&"read_plan"),
        "{actions:?}"
    );

    // Someone edits one row behind the system's back.
    let db = cli.dir.path().join("data").join("careplan.sqlite3");
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        use sqlx::Connection;
        sqlx::any::install_default_drivers();
        let mut conn = sqlx::AnyConnection::connect(&format!("sqlite://{}", db.display()))
            .await
            .unwrap();
        let done = sqlx::query("UPDATE audit_log SET detail = 'nothing to see' WHERE seq = 3")
            .execute(&mut conn)
            .await
            .unwrap();
        assert_eq!(done.rows_affected(), 1);
    });
    let err = cli.fails(&["audit", "verify"], 1);
    assert!(err.contains("broken at entry 3"), "{err}");
}

/// Runs with `stdin` as standard input and expects success; returns stdout.
fn with_input(cli: &Cli, args: &[&str], stdin: &str) -> String {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_careplan"))
        .args(args)
        .env("CAREPLAN_DATA_DIR", cli.dir.path().join("data"))
        .env_remove("CAREPLAN_DATABASE_URL")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "careplan {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn accounts_are_listed_disabled_and_their_tokens_revoked() {
    let cli = Cli::new();
    cli.ok(&["demo"]);
    with_input(
        &cli,
        &[
            "user",
            "add",
            "priya",
            "--role",
            "practitioner",
            "--organisation",
            "Community Nursing",
        ],
        "priya-long-password\n",
    );
    with_input(
        &cli,
        &[
            "user",
            "add",
            "susan",
            "--role",
            "representative",
            "--person",
            DEMO,
        ],
        "susan-long-password\n",
    );
    let list = cli.ok(&["user", "list"]);
    assert!(
        list.contains("priya")
            && list.contains("Community Nursing")
            && list.contains("representative"),
        "{list}"
    );
    let token = cli.ok(&["token", "create", "priya"]).trim().to_owned();
    assert!(token.starts_with("cpt_"), "{token}");

    assert!(
        cli.ok(&["user", "disable", "priya"])
            .contains("can no longer sign in")
    );
    let json: serde_json::Value =
        serde_json::from_str(&cli.ok(&["user", "list", "--json"])).unwrap();
    let priya = json
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["username"] == "priya")
        .unwrap();
    assert_eq!(priya["disabled"], true);
    cli.ok(&["user", "enable", "priya"]);

    assert!(with_input(&cli, &["token", "revoke"], &format!("{token}\n")).contains("revoked"));
    // A second revocation finds nothing: one clear sentence, exit 1.
    let out = Command::new(env!("CARGO_BIN_EXE_careplan"))
        .args(["token", "revoke"])
        .env("CAREPLAN_DATA_DIR", cli.dir.path().join("data"))
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(token.as_bytes())?;
            c.wait_with_output()
        })
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no such token"));
}
