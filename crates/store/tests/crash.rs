//! Durability: a writer process is killed with SIGKILL in the middle of a stream of commits, and
//! every version it acknowledged is still there afterwards, on SQLite and on PostgreSQL.
//!
//! This test binary has its own `main` (harness = false): run with `--child URL PLAN` it is the
//! writer, which prints `acked N` after each commit returns; run without, it is the test.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command as Process, Stdio};

use careplan_model::{Command, PlanId, Role, VersionNumber};
use careplan_store::Store;
use serde_json::json;
use support::{TestDb, actor};

/// How many acknowledgements the parent waits for before it kills the writer.
const ACKS_BEFORE_KILL: u64 = 200;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let rt = tokio::runtime::Runtime::new().unwrap();
    if args.get(1).map(String::as_str) == Some("--child") {
        rt.block_on(child(&args[2], &args[3]));
        return;
    }
    if args.iter().any(|a| a == "--list") {
        println!("csp15_acknowledged_versions_survive_kill_9: test");
        return;
    }
    let mut passed = 0;
    for backend in ["sqlite", "postgres"] {
        let db = match backend {
            "sqlite" => Some(TestDb::sqlite()),
            _ => rt.block_on(TestDb::postgres()),
        };
        let Some(db) = db else { continue };
        rt.block_on(parent(&db));
        rt.block_on(db.cleanup());
        println!("test csp15_acknowledged_versions_survive_kill_9_on_{backend} ... ok");
        passed += 1;
    }
    println!("\ntest result: ok. {passed} passed; 0 failed; 0 ignored");
}

async fn parent(db: &TestDb) {
    let store = db.open().await;
    let nurse = actor("Crash Tester", Role::Practitioner);
    let person = serde_json::from_value(
        json!({"given_name": "Dur", "family_name": "Able", "date_of_birth": "1944-04-04"}),
    )
    .unwrap();
    let plan = store.create_plan(&nurse, person, None).await.unwrap().plan;
    store.close().await;

    let mut child = Process::new(std::env::current_exe().unwrap())
        .args(["--child", &db.url, plan.id.as_str()])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut last_acked = 0u64;
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        if let Some(n) = line.strip_prefix("acked ") {
            last_acked = n.parse().unwrap();
        }
        if last_acked >= ACKS_BEFORE_KILL {
            break;
        }
    }
    child.kill().unwrap(); // SIGKILL on Unix: no destructors, no flushing, mid-transaction.
    let status = child.wait().unwrap();
    assert!(!status.success(), "the writer was killed, not finished");
    assert!(
        last_acked >= ACKS_BEFORE_KILL,
        "the writer stopped early at {last_acked}"
    );

    let store = db.open().await;
    let (head, _) = store.head(&plan.id).await.unwrap();
    assert!(
        head.get() >= last_acked,
        "acknowledged version {last_acked} is lost: the plan is at {head}"
    );
    for n in 1..=last_acked {
        let p = store.version(&plan.id, n).await.unwrap();
        // Each acknowledged version n > 1 added exactly one comment.
        assert_eq!(p.comments.len() as u64, n - 1, "version {n}");
    }
    store.close().await;
}

async fn child(url: &str, plan: &str) {
    let store = Store::open(url).await.unwrap();
    let plan = PlanId::parse(plan).unwrap();
    let nurse = actor("Crash Writer", Role::Practitioner);
    let mut version = VersionNumber::FIRST;
    for i in 0.. {
        let c: Command = serde_json::from_value(json!({"type": "add_comment", "target": {"on": "plan"}, "text": format!("comment {i}")})).unwrap();
        version = store
            .apply(&plan, version, &nurse, c, None)
            .await
            .unwrap()
            .version();
        println!("acked {version}");
    }
}
